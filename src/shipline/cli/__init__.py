"""cli: the `shipline` command (Typer + Rich)."""
