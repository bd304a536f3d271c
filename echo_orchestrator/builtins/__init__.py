"""Built-in graphs and tools. They register through entry points like any plugin."""
