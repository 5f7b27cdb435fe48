"""Real servers on 127.0.0.1, shut down after each test, and the clients that talk to them.

Every test that asks for ``serve`` runs twice: on the native ``websockets`` server and
on the ASGI transport (Starlette on uvicorn, with direct writes).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from peers import DEADLINE, peers

from specwire.runtime.hub import Hub
from specwire.runtime.transports.asgi import AsgiServer, start_asgi_server
from specwire.runtime.transports.native import NativeServer, start_server

Server = NativeServer | AsgiServer
STARTERS: dict[str, Callable[..., Awaitable[Server]]] = {
    "native": start_server,
    "asgi": start_asgi_server,
}


@pytest.fixture(params=list(STARTERS), ids=list(STARTERS))
async def serve(request: pytest.FixtureRequest) -> AsyncIterator[Callable[..., Awaitable[Server]]]:
    """``await serve(hub, **options)``: a running server with ``url``, ``port``, ``shutdown()``."""
    servers: list[Server] = []
    starter = STARTERS[request.param]

    async def start(hub: Hub, **options: Any) -> Server:
        server = await starter(hub, "127.0.0.1", 0, **options)
        servers.append(server)
        return server

    yield start
    for server in reversed(servers):
        await server.shutdown(timeout=DEADLINE)


__all__ = ["peers", "serve"]
