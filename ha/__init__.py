"""hastack: a high-availability cluster stack and the laboratory that proves it."""

__version__ = "0.1.0"
