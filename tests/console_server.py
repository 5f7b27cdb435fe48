"""The reference console server, started in this event loop on 127.0.0.1, and its clients."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httpx
import pytest
from peers import DEADLINE

from specwire.console.server import ConsoleServer, start_console
from specwire.console.settings import ServeSettings

Start = Callable[..., Awaitable[ConsoleServer]]

INTERVAL = 0.2
"""Seconds between snapshots in these tests (2.0 in production)."""


@pytest.fixture
async def console() -> AsyncIterator[Start]:
    """``await console(**settings)``: a running server on a free port."""
    servers: list[ConsoleServer] = []

    async def start(**options: Any) -> ConsoleServer:
        values: dict[str, Any] = {"port": 0, "interval": INTERVAL, "seed": 7, "traffic": False}
        values.update(options)
        server = await start_console(ServeSettings(**values))
        servers.append(server)
        return server

    yield start
    for server in reversed(servers):
        await server.shutdown(timeout=DEADLINE)


@pytest.fixture
async def http() -> AsyncIterator[Callable[[ConsoleServer], httpx.AsyncClient]]:
    """``http(server)``: an HTTP client for the server's REST API."""
    clients: list[httpx.AsyncClient] = []

    def make(server: ConsoleServer, **options: Any) -> httpx.AsyncClient:
        client = httpx.AsyncClient(base_url=server.base_url, timeout=DEADLINE, **options)
        clients.append(client)
        return client

    yield make
    for client in clients:
        await client.aclose()


__all__ = ["INTERVAL", "Start", "console", "http"]
