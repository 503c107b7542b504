"""worker: runs one step attempt the server hands out, and reports back through a client.

The same code runs in the server's process (embedded workers) and, later, on other
machines: everything it needs from the server goes through `WorkerClient`.
"""
