"""The generated TypeScript client against the reference server, driven by ``node --test``.

The package for ``asyncapi.yaml`` and ``typescript/client.test.ts`` are compiled
together into a temporary folder. The Node test reaches the server through a TCP
proxy that it can cut, and asks this driver over a small HTTP control endpoint to
create topics (through the REST API), cut or restore the proxy, or restart the
server (a new epoch).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
from collections.abc import Awaitable, Callable
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
from console_server import Start
from ts_sdk import ROOT, TSC, tsc, typescript_package, write_package

from specwire.console.server import ConsoleServer

TEST = Path(__file__).parent / "typescript" / "client.test.ts"
NODE_TIMEOUT = 30.0

pytestmark = pytest.mark.skipif(
    not TSC.exists() or shutil.which("node") is None, reason="needs node and `npm ci`"
)


class Proxy:
    """A loopback TCP proxy to a changeable target; ``cut()`` drops every connection."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.holding = False
        self.writers: set[asyncio.StreamWriter] = set()
        self.server: asyncio.Server | None = None

    async def start(self) -> int:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        port: int = self.server.sockets[0].getsockname()[1]
        return port

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.holding:
            writer.transport.abort()
            return
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.transport.abort()
            return
        self.writers.update((writer, up_writer))
        await asyncio.gather(
            self._pipe(reader, up_writer), self._pipe(up_reader, writer), return_exceptions=True
        )
        for each in (writer, up_writer):
            self.writers.discard(each)
            each.transport.abort()

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(OSError):
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        writer.transport.abort()

    def cut(self) -> None:
        for writer in list(self.writers):
            writer.transport.abort()
        self.writers.clear()

    async def close(self) -> None:
        self.cut()
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()


Action = Callable[[str], Awaitable[None]]


async def serve_control(act: Action) -> tuple[asyncio.Server, int]:
    """A minimal HTTP endpoint: ``POST <path>`` runs ``act(path)``; 200, or 500 with the error."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            request = await reader.readuntil(b"\r\n\r\n")
            path = request.split(b" ", 2)[1].decode()
            try:
                await act(path)
                status, body = "200 OK", b"ok"
            except Exception as exc:
                status, body = "500 Internal Server Error", repr(exc).encode()
            writer.write(
                f"HTTP/1.1 {status}\r\nContent-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode()
                + body
            )
            await writer.drain()
        finally:
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    return server, server.sockets[0].getsockname()[1]


def build(tmp: Path) -> Path:
    """Compile the generated package and the Node test; returns the compiled test."""
    write_package(typescript_package(ROOT / "asyncapi.yaml"), tmp / "pkg")
    (tmp / "test").mkdir()
    shutil.copy(TEST, tmp / "test" / TEST.name)
    (tmp / "node_modules").symlink_to(ROOT / "node_modules", target_is_directory=True)
    (tmp / "package.json").write_text('{"type": "module", "private": true}\n')
    config = {
        "extends": "./pkg/tsconfig.json",
        "compilerOptions": {"rootDir": ".", "outDir": "out", "types": ["node"]},
        "include": ["pkg/src", "test"],
    }
    (tmp / "tsconfig.json").write_text(json.dumps(config))
    result = tsc("-p", str(tmp))
    assert result.returncode == 0, result.stdout + result.stderr
    return tmp / "out" / "test" / "client.test.js"


async def test_typescript_client_against_the_server(console: Start, tmp_path: Path) -> None:
    compiled = await asyncio.to_thread(build, tmp_path)
    servers: list[ConsoleServer] = [await console()]

    def target() -> tuple[str, int]:
        address = urlsplit(servers[-1].ws_url)
        assert address.hostname is not None and address.port is not None
        return address.hostname, address.port

    proxy = Proxy(target())
    proxy_port = await proxy.start()

    async def act(path: str) -> None:
        if path.startswith("/topics/"):
            name = path.removeprefix("/topics/")
            async with httpx.AsyncClient(base_url=servers[-1].base_url, timeout=5) as http:
                response = await http.post("/api/topics", json={"name": name, "partitions": 1})
                response.raise_for_status()
        elif path.startswith("/cut"):
            proxy.holding = "hold=1" in path
            proxy.cut()
        elif path == "/restore":
            proxy.holding = False
        elif path == "/restart":
            proxy.holding = True
            proxy.cut()
            await servers[-1].shutdown(timeout=5)
            servers.append(await console())
            proxy.target = target()
            proxy.holding = False
        else:
            raise ValueError(f"unknown action {path}")

    control, control_port = await serve_control(act)
    path = urlsplit(servers[0].ws_url).path
    env = {
        **os.environ,
        "SPECWIRE_WS_URL": f"ws://127.0.0.1:{proxy_port}{path}",
        "SPECWIRE_CONTROL_URL": f"http://127.0.0.1:{control_port}",
    }
    log = tmp_path / "node.log"
    with log.open("wb") as sink:
        node = await asyncio.create_subprocess_exec(
            "node",
            "--test",
            "--test-reporter=spec",
            str(compiled),
            env=env,
            stdout=sink,
            stderr=sink,
        )
        try:
            await asyncio.wait_for(node.wait(), NODE_TIMEOUT)
        except TimeoutError:
            node.kill()
            await node.wait()
            pytest.fail(f"node --test took over {NODE_TIMEOUT} s:\n{log.read_text()}")
        finally:
            control.close()
            await proxy.close()
    assert node.returncode == 0, log.read_text()
