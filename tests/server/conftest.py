"""Server tests use the in-process and real-process servers of tests/conftest.py."""
