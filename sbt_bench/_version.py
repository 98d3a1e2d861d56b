"""The package version, in a module of its own so that modules can read it without the API."""

__version__ = "0.1.0"
