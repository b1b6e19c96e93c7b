"""The field client's version, in a module of its own: ``sync`` and ``transport`` need it, and
importing it from the package's ``__init__`` (which imports them) made a cycle."""

__version__ = "0.1.0"
