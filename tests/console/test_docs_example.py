"""The how-to's feed watcher runs against a real server and prints what the page shows."""

from __future__ import annotations

import asyncio
import re
import sys
from pathlib import Path

from console_server import Start
from peers import DEADLINE

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "docs" / "examples" / "console" / "watch_feed.py"
HOWTO = REPO / "docs" / "howto" / "run-the-console-server.md"


def test_the_page_shows_the_example_as_it_is() -> None:
    assert EXAMPLE.read_text() in HOWTO.read_text()


async def test_the_feed_watcher_prints_snapshots(console: Start) -> None:
    server = await console(traffic=True)
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-W",
        "error",
        str(EXAMPLE),
        server.ws_url,
        "3",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), DEADLINE * 2)
    assert process.returncode == 0, err.decode()
    lines = out.decode().splitlines()
    assert lines[:2] == ["welcome", "subscribed"]
    assert len(lines) == 5
    for line in lines[2:]:
        assert re.fullmatch(r"\d+ HEALTHY \{'analytics': 'OK', .*\}", line), line
    shown = HOWTO.read_text()
    assert "\nwelcome\nsubscribed\n" in shown
