"""One module per chapter: its parameter schema and ``run``."""
