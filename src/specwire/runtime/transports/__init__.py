"""Transports: the native websockets server and the ASGI adapter."""

__all__ = ["ws_url"]


def ws_url(host: str, port: int, path: str) -> str:
    """The URL a client on this machine connects to; a wildcard bind becomes loopback."""
    host = {"0.0.0.0": "127.0.0.1", "::": "::1"}.get(host, host)  # noqa: S104 - only renamed
    host = f"[{host}]" if ":" in host else host
    return f"ws://{host}:{port}{path}"
