"""Member loyalty points engine."""

__version__ = "0.1.0"
