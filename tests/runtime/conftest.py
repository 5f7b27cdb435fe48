"""Real servers on 127.0.0.1, shut down after each test, and the clients that talk to them."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from peers import DEADLINE, Connect, Peer
from websockets.asyncio.client import ClientConnection, connect

from specwire.runtime.hub import Hub
from specwire.runtime.transports.native import NativeServer, start_server


@pytest.fixture
async def serve() -> AsyncIterator[Callable[..., Awaitable[NativeServer]]]:
    servers: list[NativeServer] = []

    async def start(hub: Hub, **options: Any) -> NativeServer:
        server = await start_server(hub, "127.0.0.1", 0, **options)
        servers.append(server)
        return server

    yield start
    for server in servers:
        await server.shutdown(timeout=DEADLINE)


@pytest.fixture
async def peers() -> AsyncIterator[Connect]:
    opened: list[ClientConnection] = []

    async def open_peer(url: str, *, welcome: bool = True, **options: Any) -> Peer:
        connection = await connect(url, open_timeout=DEADLINE, compression=None, **options)
        opened.append(connection)
        peer = Peer(connection)
        if welcome:
            assert (await peer.recv())["type"] == "welcome"
        return peer

    yield open_peer
    for connection in opened:
        await connection.close()
