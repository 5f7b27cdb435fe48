"""Mutants of a console-protocol server, each with one flaw that exactly one check must catch.

Each mutant is a small real server: a hand-written ``websockets`` handler speaking
``asyncapi.yaml`` well enough (like the broken servers of ``test_runner.py``), or,
for the cadence flaw, the real console hub with a publisher at the wrong interval.
Every test asserts the whole verdict map: the flawed check fails, every other check
passes (or is skipped, with its reason).

- ``missing-field``: ``welcome`` (pushed, not a reply) lacks the required ``session_id``.
- ``extra-property``: ``welcome`` carries a property its schema does not declare.
- ``undeclared-type``: a ``{"type": "debug"}`` frame follows ``welcome``.
- ``no-pong``: WebSocket protocol pings are never answered. The application ``ping``
  (role heartbeat) is still answered with ``pong``: ``request-reply`` sends the ``ping``
  examples too, so a server that ignores them would fail ``request-reply`` as well as
  ``heartbeat``. Dropping only protocol pongs is the flaw that ``heartbeat`` alone sees.
- ``crash-on-invalid-utf8``: text frames are decoded by the server's own code, without
  a guard: invalid UTF-8 raises in the connection handler, which dies (close 1011)
  instead of rejecting the frame (1007). The server keeps accepting new connections,
  so ``negative-inputs`` fails on the close code, not on a dead server.
- ``no-auth``: every handshake opens, with or without the token the document's
  security schemes ask for (the runner is given ``--token``), and every subscribe
  gets the same error either way: nothing shows the in-band authentication the
  document declares.
- wrong cadence: the hub publishes ``metrics.snapshot`` every 0.5 s where the document
  declares ``x-specwire-interval-ms: 2000``.
- stalled stream: the hub holds one snapshot (replayed on subscribe) and never publishes
  another: the silence after the replayed snapshot is longer than the declared cadence
  allows.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from importlib.resources import files
from pathlib import Path
from typing import Any

import pytest
import yaml
from console_messages import snapshot_factory
from jsonschema import Draft7Validator
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.frames import Frame as WireFrame
from websockets.frames import Opcode
from websockets.server import ServerProtocol
from websockets.typing import Data

from specwire.contract.checks import CHECKS
from specwire.contract.report import ContractReport
from specwire.contract.runner import run_contract
from specwire.runtime.auth import Principal, StaticTokenVerifier
from specwire.runtime.console import create_console_hub
from specwire.runtime.hub import Hub
from specwire.runtime.transports.native import start_server

MutantServer = Callable[[str], Awaitable[str]]
FLAWS = (
    "missing-field",
    "extra-property",
    "undeclared-type",
    "no-pong",
    "crash-on-invalid-utf8",
    "no-auth",
)


def verdicts(report: ContractReport) -> dict[str, str]:
    return {name: verdict.value for name, verdict in report.verdicts().items()}


def expected(caught_by: str, *, skipped: tuple[str, ...] = ("streams",)) -> dict[str, str]:
    """Every check passes but ``caught_by``; the ``skipped`` ones (not run) are absent."""
    result = {name: "pass" for name in CHECKS if name not in skipped}
    result[caught_by] = "fail"
    return result


class NoPongConnection(ServerConnection):
    """A connection whose automatic pong (the reply to a protocol ping) never leaves."""

    def __init__(self, protocol: ServerProtocol, *args: Any, **kwargs: Any) -> None:
        super().__init__(protocol, *args, **kwargs)
        send_frame = protocol.send_frame

        def without_pongs(frame: WireFrame) -> None:
            if frame.opcode is not Opcode.PONG:
                send_frame(frame)

        protocol.send_frame = without_pongs  # type: ignore[method-assign]


class CrashingConnection(ServerConnection):
    """Decodes text frames with no guard: invalid UTF-8 raises in the handler (close 1011).

    The library's own ``recv`` rejects invalid UTF-8 with close 1007; this one lets the
    ``UnicodeDecodeError`` escape, as a server decoding frames itself would.
    """

    async def recv(self, decode: bool | None = None) -> Data:  # type: ignore[override]
        try:
            return await self.recv_messages.get(decode)
        except EOFError:
            return await super().recv(decode)  # the connection closed: raises ConnectionClosed


def _example(doc: dict[str, Any], message: str) -> dict[str, Any]:
    payload: dict[str, Any] = doc["components"]["messages"][message]["examples"][0]["payload"]
    return dict(payload)


def mutant_handler(spec: Path, flaw: str) -> Callable[[ServerConnection], Awaitable[None]]:
    """A console-protocol server with exactly one flaw (see the module docstring)."""
    doc = yaml.safe_load(spec.read_text(encoding="utf-8"))
    schema = json.loads(
        (files("console_live_updates") / "schemas" / "client-to-server.json").read_text()
    )
    requests = Draft7Validator(schema)
    welcome = _example(doc, "welcome")
    if flaw == "missing-field":
        del welcome["session_id"]
    elif flaw == "extra-property":
        welcome["debug_build"] = True

    def error(code: str, message: str, request_id: str | None) -> str:
        frame: dict[str, Any] = {"type": "error", "code": code, "message": message}
        if request_id is not None:
            frame["id"] = request_id
        return json.dumps(frame)

    async def handler(connection: ServerConnection) -> None:
        await connection.send(json.dumps(welcome))
        if flaw == "undeclared-type":
            await connection.send(json.dumps({"type": "debug", "message": "build 1234"}))
        async for raw in connection:
            if isinstance(raw, bytes):
                await connection.send(error("unsupported_frame", "text frames only", None))
                continue
            try:
                value = json.loads(raw)
            except ValueError:
                await connection.send(error("invalid_json", "not JSON", None))
                continue
            request_id = value.get("id") if isinstance(value, dict) else None
            if not (isinstance(request_id, str) and 1 <= len(request_id) <= 128):
                request_id = None
            if not requests.is_valid(value):
                await connection.send(error("invalid_message", "invalid request", request_id))
                continue
            assert request_id is not None
            kind = value["type"]
            if kind == "ping":
                pong = {"type": "pong", "id": request_id, "timestamp_ms": 1750000000000}
                await connection.send(json.dumps(pong))
            elif kind == "unsubscribe":
                reply = {"type": "unsubscribed", "id": request_id, "channels": value["channels"]}
                await connection.send(json.dumps(reply))
            elif kind == "subscribe":
                await connection.send(
                    error("forbidden", "nothing to subscribe to here", request_id)
                )
            else:
                await connection.send(error("unauthorized", "no tokens taken", request_id))

    return handler


@pytest.fixture
async def mutant_server(spec_path: Path) -> AsyncIterator[MutantServer]:
    """``await mutant_server(flaw)``: the ``ws://`` URL of a server with that flaw."""
    servers: list[Server] = []

    async def start(flaw: str) -> str:
        assert flaw in FLAWS
        connection: type[ServerConnection] | None = None
        if flaw == "no-pong":
            connection = NoPongConnection
        elif flaw == "crash-on-invalid-utf8":
            connection = CrashingConnection
        server = await serve(
            mutant_handler(spec_path, flaw), "127.0.0.1", 0, create_connection=connection
        )
        servers.append(server)
        port = server.sockets[0].getsockname()[1]
        return f"ws://127.0.0.1:{port}/ws"

    yield start
    for server in servers:
        server.close()
        await server.wait_closed()


@pytest.mark.parametrize(
    ("flaw", "caught_by", "evidence"),
    [
        ("missing-field", "frames-classified", "'session_id' is a required property"),
        ("extra-property", "frames-classified", "'debug_build' was unexpected"),
        ("undeclared-type", "frames-classified", '"type": "debug"'),
        ("no-pong", "heartbeat", "no pong to a WebSocket ping within 2 s"),
        ("crash-on-invalid-utf8", "negative-inputs", "invalid UTF-8: closed with 1011"),
        ("no-auth", "handshake", "with credentials it gets an error too: no sign of in-band"),
    ],
)
async def test_a_mutant_fails_the_right_check_only(
    mutant_server: MutantServer,
    spec_path: Path,
    token: str,
    *,
    flaw: str,
    caught_by: str,
    evidence: str,
) -> None:
    url = await mutant_server(flaw)
    given = token if flaw == "no-auth" else None
    report = await run_contract(
        url, spec_path, token=given, duration=2.0, seed=1, skip=["streams"], timeout=2.0
    )
    got = verdicts(report)
    want = expected(caught_by)
    if given is None:
        # Security schemes are declared but no token given: the handshake is skipped.
        want["handshake"] = "skip"
    assert got == want, report.summary()
    shown = "\n".join(report.check(caught_by).evidence)
    assert evidence in shown, shown


async def _publish_every(hub: Hub, seconds: float) -> None:
    build = snapshot_factory()
    while True:
        hub.publish("metrics", build)
        await asyncio.sleep(seconds)


async def test_snapshots_at_the_wrong_cadence_fail_streams_only(
    spec_path: Path, token: str
) -> None:
    """The real hub, requiring a token, publishing every 0.5 s instead of every 2 s."""
    verifier = StaticTokenVerifier({token: Principal("mutant", frozenset({"*"}))})
    hub = create_console_hub(verifier=verifier, auth_required=True)
    server = await start_server(hub, "127.0.0.1", 0)
    publisher = asyncio.get_running_loop().create_task(_publish_every(hub, 0.5))
    try:
        report = await run_contract(server.url, spec_path, token=token, duration=5.0, seed=5)
    finally:
        publisher.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await publisher
        await server.shutdown(timeout=5.0)
    assert verdicts(report) == expected("streams", skipped=()), report.summary()
    streams = "\n".join(report.check("streams").evidence)
    assert "metrics.snapshot: intervals" in streams and "outside 2000 ms ±50%" in streams
    # Unsubscribing still works: only the cadence is wrong.
    assert "after unsubscribing, no metrics.snapshot within 4 s" in streams


async def test_a_stalled_snapshot_stream_fails_streams_only(spec_path: Path, token: str) -> None:
    """The real hub: one snapshot before the run (replayed on subscribe), then none at all."""
    verifier = StaticTokenVerifier({token: Principal("mutant", frozenset({"*"}))})
    hub = create_console_hub(verifier=verifier, auth_required=True)
    hub.publish("metrics", snapshot_factory())
    server = await start_server(hub, "127.0.0.1", 0)
    try:
        report = await run_contract(server.url, spec_path, token=token, duration=4.0, seed=5)
    finally:
        await server.shutdown(timeout=5.0)
    streams = "\n".join(report.check("streams").evidence)
    assert "metrics.snapshot: none for the last" in streams
    assert "declared every 2000 ms ±50%" in streams
    assert verdicts(report) == expected("streams", skipped=()), report.summary()
