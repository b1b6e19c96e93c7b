"""The server's version, in a module of its own so that any module may import it without
importing the package's ``__init__`` (and through it, in a cycle, the app)."""

__version__ = "0.1.0"
