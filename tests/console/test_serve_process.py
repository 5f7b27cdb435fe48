"""``specwire serve`` as a user runs it: a real process, stopped with SIGINT."""

from __future__ import annotations

import asyncio
import re
import signal
import sys
from pathlib import Path

import pytest
from peers import DEADLINE, Connect, Peer
from websockets.exceptions import ConnectionClosed

BIN = Path(sys.executable).parent

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")


async def until_closed(peer: Peer) -> None:
    """Read (snapshots may still arrive) until the server's close frame ends the connection."""
    while True:
        try:
            await peer.recv()
        except ConnectionClosed:
            return


async def test_sigint_closes_every_client_and_exits_0(peers: Connect) -> None:
    process = await asyncio.create_subprocess_exec(
        str(BIN / "specwire"),
        "serve",
        "--port",
        "0",
        "--interval",
        "0.2",
        "--seed",
        "3",
        "--log-level",
        "warning",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    assert process.stdout is not None and process.stderr is not None
    try:
        banner: list[str] = []
        url = None
        while url is None:
            line = (await asyncio.wait_for(process.stdout.readline(), DEADLINE * 2)).decode()
            assert line, (
                "the server exited before serving: " + (await process.stderr.read()).decode()
            )
            banner.append(line)
            if match := re.search(r"WebSocket\s+(ws://\S+)", line):
                url = match.group(1)
        base = url.removesuffix("/ws").replace("ws://", "http://")
        rest = (await asyncio.wait_for(process.stdout.readline(), DEADLINE)).decode()
        assert f"{base}/api/topics" in rest and f"{base}/docs" in rest
        peer = await peers(url)
        await peer.request({"type": "subscribe", "id": "m", "channels": [{"name": "metrics"}]})
        snapshot = await peer.recv_type("metrics.snapshot")
        assert snapshot["cluster"]["brokers_expected"] == 3
        process.send_signal(signal.SIGINT)
        await until_closed(peer)
        assert peer.connection.close_code == 1001
        assert await asyncio.wait_for(process.wait(), DEADLINE * 2) == 0
        rest_of_output = (await process.stdout.read()).decode()
        assert rest_of_output.rstrip().endswith("stopped")
        errors = (await process.stderr.read()).decode()
        assert "Traceback" not in errors, errors
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
