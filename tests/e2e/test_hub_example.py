"""The hub how-to's example, run for real: a generated protocol served, used, and stopped."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft7Validator
from websockets.asyncio.client import ClientConnection, connect

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
SPEC = "docs/examples/hub/asyncapi.yaml"
EXAMPLE = "docs/examples/hub/serve_price_ticker.py"
HOWTO = REPO / "docs" / "howto" / "serve-a-protocol.md"
DEADLINE = 10.0
"""Seconds to wait for something that should happen at once on loopback (a process starts)."""


def run(*args: str, env: dict[str, str] | None = None, expect: int = 0) -> str:
    result = subprocess.run(
        args,
        cwd=REPO,
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        check=False,
        timeout=120,
    )
    assert result.returncode == expect, result.stdout + result.stderr
    return result.stdout + result.stderr


def shown_output(command: str) -> str:
    """The output the how-to shows under ``$ <command>`` in a console block."""
    text = HOWTO.read_text(encoding="utf-8")
    pattern = r"^\$ " + re.escape(command) + r"\n(.*?)(?=^\$ |^```)"
    match = re.search(pattern, text, re.DOTALL | re.MULTILINE)
    assert match is not None, f"{HOWTO.name} no longer shows `{command}`"
    return match.group(1)


@pytest.fixture(scope="module")
def ticker(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("ticker-hub")
    output = run(str(BIN / "specwire"), "generate", SPEC, "--out", str(out))
    shown = shown_output(f"specwire generate {SPEC} --out /tmp/ticker-hub")
    assert output == shown.replace("/tmp/ticker-hub", str(out))
    return out


def test_the_document_checks_clean() -> None:
    shown = shown_output(f"specwire check {SPEC}")
    assert run(str(BIN / "specwire"), "check", SPEC) == shown


def test_the_example_type_checks_against_the_package(ticker: Path, tmp_path: Path) -> None:
    output = run(
        sys.executable,
        "-m",
        "mypy",
        "--strict",
        "--no-incremental",
        "--cache-dir",
        str(tmp_path / "mypy"),
        EXAMPLE,
        env={"MYPYPATH": str(ticker)},
    )
    assert output == shown_output(f"MYPYPATH=/tmp/ticker-hub mypy --strict {EXAMPLE}")


def test_the_example_refuses_the_tutorial_package(tmp_path: Path) -> None:
    """The tutorial's document has no message the server sends first: the hub cannot serve it."""
    run(
        str(BIN / "specwire"),
        "generate",
        "docs/examples/tutorial/asyncapi.yaml",
        "--out",
        str(tmp_path),
    )
    output = run(sys.executable, EXAMPLE, str(tmp_path), "--port", "0", expect=1)
    assert output == shown_output(f"python {EXAMPLE} /tmp/ticker --port 0")
    assert "price_ticker has no Welcome" in output


class Client:
    """A client that checks every frame against the package's own JSON Schema."""

    def __init__(self, connection: ClientConnection, schemas: Path) -> None:
        self.connection = connection
        schema = json.loads((schemas / "server-to-client.json").read_text(encoding="utf-8"))
        self.validator = Draft7Validator(schema)

    async def recv(self) -> dict[str, Any]:
        raw = await asyncio.wait_for(self.connection.recv(), DEADLINE)
        assert isinstance(raw, str), "the hub sends text frames only"
        frame: dict[str, Any] = json.loads(raw)
        errors = [e.message for e in self.validator.iter_errors(frame)]
        assert not errors, (frame, errors)
        return frame

    async def send(self, frame: dict[str, Any] | str) -> None:
        await self.connection.send(frame if isinstance(frame, str) else json.dumps(frame))

    async def next_of(self, wanted: str) -> dict[str, Any]:
        """The next frame of type ``wanted``, skipping prices that arrive in between."""
        while True:
            frame = await self.recv()
            if frame["type"] == wanted:
                return frame

    async def read_until_closed(self) -> None:
        async def drain() -> None:
            async for _ in self.connection:  # ends without raising on 1000 and 1001
                pass

        await asyncio.wait_for(drain(), DEADLINE)


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
async def test_the_example_serves_prices_and_stops_cleanly(ticker: Path, signum: int) -> None:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-W",
        "error",
        EXAMPLE,
        str(ticker),
        "--port",
        "0",
        "--interval",
        "0.05",
        cwd=REPO,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    assert process.stdout is not None
    assert process.stderr is not None
    try:
        line = (await asyncio.wait_for(process.stdout.readline(), DEADLINE)).decode()
        match = re.fullmatch(r"serving (ws://127\.0\.0\.1:(\d+)/prices)\n", line)
        assert match is not None, line
        assert int(match[2]) > 0
        async with connect(match[1], open_timeout=DEADLINE, compression=None) as connection:
            client = Client(connection, ticker / "price_ticker" / "schemas")
            welcome = await client.recv()
            assert welcome["type"] == "welcome"
            assert welcome["symbols"] == ["ACME", "GLOBEX", "INITECH", "UMBRELLA"]

            await client.send({"type": "subscribe", "id": "s1", "symbols": ["ACME"]})
            assert await client.recv() == {"type": "subscribed", "id": "s1", "symbols": ["ACME"]}
            latest = await client.recv()  # at once: the latest price, before any new one
            assert (latest["type"], latest["symbol"]) == ("price", "ACME")
            live = await client.recv()
            assert (live["type"], live["symbol"]) == ("price", "ACME")
            assert live["timestamp_ms"] >= latest["timestamp_ms"]

            await client.send({"type": "subscribe", "id": "s2", "symbols": ["INITECH", "WAYNE"]})
            refused = await client.next_of("error")
            assert refused == {
                "type": "error",
                "id": "s2",
                "code": "unknown_symbol",
                "message": "no symbol WAYNE",
                "path": "/symbols/1",
            }
            await client.send("hello")  # the hub's own errors, spelt by the document
            assert (await client.next_of("error"))["code"] == "invalid_json"
            await client.send({"type": "subscribe", "id": "x" * 65, "symbols": ["ACME"]})
            too_long = await client.next_of("error")
            assert (too_long["code"], too_long["path"], "id" in too_long) == (
                "invalid_message",
                "/id",
                False,
            )

            process.send_signal(signum)
            await client.read_until_closed()
            assert (connection.close_code, connection.close_reason) == (
                1001,
                "server shutting down",
            )
        assert await asyncio.wait_for(process.wait(), DEADLINE) == 0
        assert await process.stdout.read() == b"stopped\n"
        assert await process.stderr.read() == b""
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
