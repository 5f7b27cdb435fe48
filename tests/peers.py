"""A test client that checks every frame it receives against the spec (jsonschema as oracle)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from importlib import resources
from typing import Any

import pytest
from jsonschema import Draft7Validator
from websockets.asyncio.client import ClientConnection, connect

SCHEMAS = resources.files("console_live_updates") / "schemas"
SERVER_TO_CLIENT = Draft7Validator(json.loads((SCHEMAS / "server-to-client.json").read_text()))
DEADLINE = 5.0
"""Seconds a test waits for something that should happen at once on loopback."""


class Peer:
    """A test client: every frame it receives must be a spec-valid server message."""

    def __init__(self, connection: ClientConnection) -> None:
        self.connection = connection
        self.received: list[dict[str, Any]] = []

    async def recv(self, timeout: float = DEADLINE) -> dict[str, Any]:
        raw = await asyncio.wait_for(self.connection.recv(), timeout)
        assert isinstance(raw, str), "the server sends text frames only"
        frame: dict[str, Any] = json.loads(raw)
        errors = sorted(SERVER_TO_CLIENT.iter_errors(frame), key=str)
        assert not errors, f"{frame.get('type')}: {errors[0].message}"
        self.received.append(frame)
        return frame

    async def recv_type(self, wanted: str, timeout: float = DEADLINE) -> dict[str, Any]:
        """The next frame of type ``wanted``, skipping others (kept in ``received``)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            frame = await self.recv(max(0.0, deadline - loop.time()))
            if frame["type"] == wanted:
                return frame

    async def send(self, frame: dict[str, Any] | str | bytes) -> None:
        await self.connection.send(frame if isinstance(frame, str | bytes) else json.dumps(frame))

    async def request(self, frame: dict[str, Any]) -> dict[str, Any]:
        """Send a request and return the reply that echoes its id."""
        await self.send(frame)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + DEADLINE
        while True:
            reply = await self.recv(max(0.0, deadline - loop.time()))
            if reply.get("id") == frame["id"]:
                return reply


Connect = Callable[..., Awaitable[Peer]]


@pytest.fixture
async def peers() -> AsyncIterator[Connect]:
    opened: list[ClientConnection] = []

    async def open_peer(url: str, *, welcome: bool = True, **options: Any) -> Peer:
        options = {"open_timeout": DEADLINE, "compression": None, **options}
        connection = await connect(url, **options)
        opened.append(connection)
        peer = Peer(connection)
        if welcome:
            assert (await peer.recv())["type"] == "welcome"
        return peer

    yield open_peer
    for connection in opened:
        await connection.close()
