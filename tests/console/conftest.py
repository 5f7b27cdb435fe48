"""Fixtures: a console server per test (``console``), HTTP clients (``http``), peers."""

from console_server import console, http
from peers import peers

__all__ = ["console", "http", "peers"]
