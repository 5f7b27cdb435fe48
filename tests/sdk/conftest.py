"""Fixtures of the SDK tests: a console server per test (``console``) and HTTP clients (``http``)."""

from console_server import console, http

__all__ = ["console", "http"]
