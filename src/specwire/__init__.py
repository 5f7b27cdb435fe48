"""specwire: spec-first toolkit for real-time WebSocket APIs."""

__version__ = "0.1.0"
