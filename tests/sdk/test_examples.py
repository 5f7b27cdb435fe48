"""The SDK examples of ``docs/examples/sdk`` type-check, and the watchers run against the server.

Each watcher (Python, plain JavaScript, TypeScript) runs as a subprocess against the
reference server while the test creates a topic through the REST API and then
restarts the server on the same port: it must print the snapshots, the event, the
disconnection, the reconnection and a resync of every event channel, then stop
after its frame count and exit 0.

The JavaScript and TypeScript watchers run the way a user runs them: against the
package generated for ``asyncapi.yaml`` and compiled with ``tsc``, installed as
``node_modules/console-live-updates`` next to them.
"""

from __future__ import annotations

import asyncio
import json
import re
import shutil
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
from console_server import Start
from peers import DEADLINE
from ts_sdk import NODE_MODULES, ROOT, TSC, tsc, typescript_package, write_package

EXAMPLES = ROOT / "docs" / "examples" / "sdk"
HOWTO = ROOT / "docs" / "howto" / "use-the-generated-sdks.md"
MYPY = Path(sys.executable).parent / "mypy"
FRAMES = 15
"""Snapshots and events each watcher prints before it stops (one every 0.2 s or so)."""
RECONNECT = 15.0
"""Seconds a watcher may take to reconnect (backoff with full jitter, up to 0.5 s, 1 s, 2 s...)."""
CHANNELS = {"topics": "/api/topics", "groups": "/api/groups", "cluster": "/api/cluster"}

needs_node = pytest.mark.skipif(
    not TSC.exists() or shutil.which("node") is None, reason="needs node and `npm ci`"
)


def test_the_page_shows_the_examples_as_they_are() -> None:
    """Every Python, TypeScript and JavaScript block of the how-to is taken from an example."""
    page = HOWTO.read_text()
    sources = [path.read_text() for path in EXAMPLES.iterdir() if path.suffix != ".json"]
    blocks = re.findall(r"^```(?:python|ts|js)\n(.*?)^```", page, re.DOTALL | re.MULTILINE)
    assert len(blocks) >= 5
    for block in blocks:
        assert any(block in source for source in sources), block
    assert (EXAMPLES / "watch.py").read_text() in blocks
    assert (EXAMPLES / "watch.ts").read_text() in blocks


@needs_node
def test_the_typescript_examples_type_check_strictly() -> None:
    result = tsc("-p", str(EXAMPLES), "--noEmit")
    assert result.returncode == 0, result.stdout + result.stderr
    config = json.loads((EXAMPLES / "tsconfig.json").read_text())
    assert config["compilerOptions"]["strict"] is True
    assert config["compilerOptions"]["checkJs"] is True
    checked = tsc("-p", str(EXAMPLES), "--listFilesOnly").stdout.split()
    for name in ("watch.ts", "watch.mjs", "useConsoleFeed.ts", "useConsoleFeed.vue.ts"):
        assert str(EXAMPLES / name) in checked


def test_the_python_watcher_passes_mypy_strict(tmp_path: Path) -> None:
    result = subprocess.run(
        [
            str(MYPY),
            "--strict",
            "--no-incremental",
            "--cache-dir",
            str(tmp_path / "mypy"),
            str(EXAMPLES / "watch.py"),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.fixture(scope="module")
def node_app(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder with watch.mjs, watch.ts compiled to watch.js, and the package installed."""
    tmp = tmp_path_factory.mktemp("sdk-examples")
    package = write_package(typescript_package(ROOT / "asyncapi.yaml"), tmp / "package")
    result = tsc("-p", str(package))
    assert result.returncode == 0, result.stdout + result.stderr
    app = tmp / "app"
    (app / "node_modules").mkdir(parents=True)
    (app / "node_modules" / "console-live-updates").symlink_to(package, target_is_directory=True)
    for name in ("ws", "@types"):
        (app / "node_modules" / name).symlink_to(NODE_MODULES / name, target_is_directory=True)
    (app / "package.json").write_text('{"type": "module", "private": true}\n')
    for name in ("watch.mjs", "watch.ts"):
        shutil.copy(EXAMPLES / name, app / name)
    config = {
        "compilerOptions": {
            "target": "ES2022",
            "module": "NodeNext",
            "moduleResolution": "NodeNext",
            "lib": ["ES2022"],
            "types": ["node"],
            "strict": True,
        },
        "files": ["watch.ts"],
    }
    (app / "tsconfig.json").write_text(json.dumps(config))
    result = tsc("-p", str(app))
    assert result.returncode == 0, result.stdout + result.stderr
    return app


class Watcher:
    """A watcher subprocess, whose output is read line by line."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process
        self.lines: list[str] = []

    async def expect(self, pattern: str, timeout: float = DEADLINE) -> str:
        """Read lines until one matches ``pattern`` (the lines read are kept in ``lines``)."""
        stdout = self.process.stdout
        assert stdout is not None
        try:
            async with asyncio.timeout(timeout):
                while raw := await stdout.readline():
                    line = raw.decode().rstrip("\n")
                    self.lines.append(line)
                    if re.fullmatch(pattern, line):
                        return line
        except TimeoutError:
            pass
        pytest.fail(f"no line matching {pattern!r}; got:\n" + await self.report())

    async def expect_all(self, *patterns: str) -> None:
        """Read lines until each pattern has matched a line, in any order."""
        for pattern in patterns:
            if not any(re.fullmatch(pattern, line) for line in self.lines):
                await self.expect(pattern)

    async def report(self) -> str:
        if self.process.returncode is None:
            self.process.kill()
            await self.process.wait()
        stderr = self.process.stderr
        errors = (await stderr.read()).decode() if stderr is not None else ""
        return "\n".join(self.lines) + "\nstderr:\n" + errors


async def watch_through_a_restart(
    console: Start, command: Sequence[str], cwd: Path, resync: str
) -> None:
    server = await console(traffic=True)
    port = urlsplit(server.ws_url).port
    process = await asyncio.create_subprocess_exec(
        *command,
        server.ws_url,
        str(FRAMES),
        cwd=cwd,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    watcher = Watcher(process)
    try:
        # In any order: the Python client yields `welcome` after `subscribe` returns, and
        # the first snapshot may come in the same read as the reply to `subscribe`.
        await watcher.expect_all(
            r"welcome, protocol 1\.0\.0",
            r"subscribed metrics, topics, groups, cluster",
            r"snapshot \d+ HEALTHY brokers 3/3",
        )

        async with httpx.AsyncClient(base_url=server.base_url, timeout=DEADLINE) as http:
            created = await http.post("/api/topics", json={"name": "invoices", "partitions": 1})
            created.raise_for_status()
        await watcher.expect(r"event topic\.created invoices")

        await server.shutdown(timeout=DEADLINE)
        await console(traffic=True, port=port)
        await watcher.expect(r"disconnected \(1001 .*\), reconnecting")
        await watcher.expect(r"reconnected.*", timeout=RECONNECT)
        waiting = dict(CHANNELS)
        while waiting:
            line = await watcher.expect(r"resync \w+ \(" + resync + r"\): would refetch GET \S+")
            channel = line.split()[1]
            assert line.endswith("GET " + waiting.pop(channel)), line
        await watcher.expect(r"snapshot \d+ HEALTHY brokers 3/3")

        async with asyncio.timeout(FRAMES * 0.2 + DEADLINE):
            await process.wait()
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    assert process.stdout is not None and process.stderr is not None
    watcher.lines += (await process.stdout.read()).decode().splitlines()
    errors = (await process.stderr.read()).decode()
    assert process.returncode == 0, errors
    for line in errors.splitlines():  # only the Python client's log of the lost connection
        assert line.startswith("WARNING console_live_updates.client: connection lost"), errors
    pushed = [line for line in watcher.lines if line.startswith(("snapshot ", "event "))]
    assert len(pushed) <= FRAMES


async def test_the_python_watcher_follows_the_feed(console: Start) -> None:
    command = [sys.executable, "-W", "error", str(EXAMPLES / "watch.py")]
    await watch_through_a_restart(console, command, ROOT, "not_recovered")


@needs_node
@pytest.mark.parametrize("script", ["watch.mjs", "watch.js"])
async def test_the_node_watchers_follow_the_feed(
    console: Start, node_app: Path, script: str
) -> None:
    await watch_through_a_restart(console, ["node", script], node_app, "not-recovered")
