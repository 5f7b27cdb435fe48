"""Servers for the contract runner's tests: the reference ones and deliberately broken ones.

- ``hub_server``: the console hub alone (no publisher), requiring a token at the
  handshake, on the native ``websockets`` server and on the ASGI transport.
- ``console_server``: the whole reference console server (ASGI) publishing
  ``metrics.snapshot`` every 2 s, the cadence ``asyncapi.yaml`` declares.
- ``broken_server``: ``await broken_server(flaw)`` starts a small hand-written
  server (plain ``websockets`` handlers) that speaks the console protocol well
  enough, except for one ``flaw``: ``"wrong-type-push"`` (its ``welcome`` has a
  string where an integer belongs), ``"wrong-correlation"`` (replies to
  subscribe, unsubscribe and auth echo another id), ``"close-on-invalid"`` (it
  closes with 1000 on an invalid frame instead of answering with ``error``).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable
from importlib.resources import files
from pathlib import Path
from typing import Any

import pytest
import yaml
from jsonschema import Draft7Validator
from websockets.asyncio.server import Server, ServerConnection, serve

from specwire.console.server import ConsoleServer, start_console
from specwire.console.settings import ServeSettings
from specwire.runtime.auth import Principal, StaticTokenVerifier
from specwire.runtime.console import create_console_hub
from specwire.runtime.transports.asgi import AsgiServer, start_asgi_server
from specwire.runtime.transports.native import NativeServer, start_server

SPEC = Path(__file__).resolve().parents[2] / "asyncapi.yaml"
TOKEN = "contract-runner-token"  # noqa: S105 (a test token)
FLAWS = ("wrong-type-push", "wrong-correlation", "close-on-invalid")


@pytest.fixture(scope="session")
def spec_path() -> Path:
    return SPEC


@pytest.fixture(scope="session")
def token() -> str:
    return TOKEN


@pytest.fixture(params=["native", "asgi"])
async def hub_server(request: pytest.FixtureRequest) -> AsyncIterator[NativeServer | AsgiServer]:
    verifier = StaticTokenVerifier({TOKEN: Principal("contract-runner", frozenset({"*"}))})
    hub = create_console_hub(verifier=verifier, auth_required=True)
    starter = start_server if request.param == "native" else start_asgi_server
    server = await starter(hub, "127.0.0.1", 0)
    yield server
    await server.shutdown(timeout=5.0)


@pytest.fixture
async def console_server() -> AsyncIterator[ConsoleServer]:
    server = await start_console(ServeSettings(port=0, interval=2.0, seed=1))
    yield server
    await server.shutdown(timeout=5.0)


def _example(doc: dict[str, Any], message: str) -> dict[str, Any]:
    payload: dict[str, Any] = doc["components"]["messages"][message]["examples"][0]["payload"]
    return payload


def broken_handler(flaw: str) -> Callable[[ServerConnection], Awaitable[None]]:
    """A console-protocol server with exactly one flaw (see the module docstring)."""
    doc = yaml.safe_load(SPEC.read_text(encoding="utf-8"))
    schema = json.loads(
        (files("console_live_updates") / "schemas" / "client-to-server.json").read_text()
    )
    requests = Draft7Validator(schema)
    welcome = dict(_example(doc, "welcome"))
    if flaw == "wrong-type-push":
        welcome["server_time_ms"] = "yesterday"

    def error(code: str, message: str, request_id: str | None) -> str:
        frame: dict[str, Any] = {"type": "error", "code": code, "message": message}
        if request_id is not None:
            frame["id"] = request_id
        return json.dumps(frame)

    async def handler(connection: ServerConnection) -> None:
        await connection.send(json.dumps(welcome))
        async for raw in connection:
            if isinstance(raw, bytes):
                if flaw == "close-on-invalid":
                    await connection.close(1000, "bye")
                    return
                await connection.send(error("unsupported_frame", "text frames only", None))
                continue
            try:
                value = json.loads(raw)
            except ValueError:
                if flaw == "close-on-invalid":
                    await connection.close(1000, "bye")
                    return
                await connection.send(error("invalid_json", "not JSON", None))
                continue
            request_id = value.get("id") if isinstance(value, dict) else None
            if not (isinstance(request_id, str) and 1 <= len(request_id) <= 128):
                request_id = None
            if not requests.is_valid(value):
                if flaw == "close-on-invalid":
                    await connection.close(1000, "bye")
                    return
                await connection.send(error("invalid_message", "invalid request", request_id))
                continue
            assert request_id is not None
            kind = value["type"]
            if kind == "ping":
                await connection.send(
                    json.dumps({"type": "pong", "id": request_id, "timestamp_ms": 1750000000000})
                )
                continue
            echoed = f"not-{request_id}" if flaw == "wrong-correlation" else request_id
            if kind == "unsubscribe":
                reply = {"type": "unsubscribed", "id": echoed, "channels": value["channels"]}
                await connection.send(json.dumps(reply))
            elif kind == "subscribe":
                await connection.send(error("forbidden", "nothing to subscribe to here", echoed))
            else:
                await connection.send(error("unauthorized", "no tokens taken", echoed))

    return handler


@pytest.fixture
async def broken_server() -> AsyncIterator[Callable[[str], Awaitable[str]]]:
    """``await broken_server(flaw)``: the ``ws://`` URL of a server with that flaw."""
    servers: list[Server] = []

    async def start(flaw: str) -> str:
        assert flaw in FLAWS
        server = await serve(broken_handler(flaw), "127.0.0.1", 0)
        servers.append(server)
        port = server.sockets[0].getsockname()[1]
        return f"ws://127.0.0.1:{port}/ws"

    yield start
    for server in servers:
        server.close()
        await server.wait_closed()
