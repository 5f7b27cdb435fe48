"""What the runtime benchmarks share: child processes, the servers, a light WebSocket client.

Each benchmark runs its server and its load client in separate processes, the server
pinned to CPU 0 and the clients to CPU 1, so that the server's one event loop is what
is measured (``../shared/BENCHMARKING.md``). The coordinator (the process the
benchmark is started as) only starts, steers and stops them over pipes:

* children ignore Ctrl-C and die with the coordinator (``PR_SET_PDEATHSIG``); the
  coordinator stops every child it started on its way out, whatever happens;
* both servers run on the default asyncio event loop (no uvloop) with compression off
  and the same keepalive, size and close settings: the specwire hub on its native
  transport (``hub``), or a plain ``websockets.asyncio.server`` (``plain``);
* :class:`RawClient` is a WebSocket client on a bare ``asyncio.Protocol``: it reads
  each frame's header and the first :data:`PEEK` bytes of its payload (enough to see
  a frame's ``type`` and a snapshot's ``seq``) and skips the rest without copying or
  decoding it, so one process on one core can hold 10,000 connections and read
  faster than the server writes.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import ctypes
import gc
import json
import multiprocessing
import os
import resource
import signal
import socket
import struct
import sys
import time
import traceback
from collections.abc import Awaitable, Callable, Coroutine, Iterator
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Any

import yaml
from console_live_updates import MetricsSnapshot, encode
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed

from specwire.runtime.console import create_console_hub
from specwire.runtime.hub import Hub, HubConfig, Position
from specwire.runtime.transports.native import NativeServer, start_server

ROOT = Path(__file__).resolve().parents[1]
HOST = "127.0.0.1"
SERVER_CPU = 0
CLIENT_CPU = 1
CONNECT_CONCURRENCY = 64
"""Handshakes in flight per client process: below asyncio's default listen backlog (100)."""
HUB_CONFIG = HubConfig(max_connections=20_000)
"""Defaults, except room for every connection a benchmark opens (the default is 10,000)."""
PR_SET_PDEATHSIG = 1

ALL_CHANNELS = ("metrics", "topics", "groups", "cluster")


# -- processes ----------------------------------------------------------------------------


def prepare_child(cpu: int) -> None:
    """Pin to ``cpu``, raise the open-files soft limit, leave Ctrl-C to the coordinator."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    if os.getppid() == 1:  # the coordinator died before prctl took effect
        os._exit(1)
    os.sched_setaffinity(0, {cpu})
    raise_open_files()


def raise_open_files() -> int:
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return hard


class Children:
    """Every child process a benchmark starts; all stopped on the way out, whatever happens."""

    def __init__(self) -> None:
        self.context = multiprocessing.get_context("spawn")
        self.processes: list[BaseProcess] = []

    def pipe(self, duplex: bool = True) -> tuple[Connection, Connection]:
        return self.context.Pipe(duplex)

    def start(self, target: Callable[..., None], *args: Any) -> BaseProcess:
        process = self.context.Process(target=target, args=args, daemon=True)
        process.start()
        self.processes.append(process)
        return process

    def stop(self, process: BaseProcess, timeout: float = 10.0) -> None:
        process.join(timeout)
        if process.is_alive():
            process.terminate()
            process.join(5.0)
        if process.is_alive():
            process.kill()
            process.join()
        if process in self.processes:
            self.processes.remove(process)

    def retire(self, *children: tuple[Connection, BaseProcess]) -> None:
        """Ask each child to stop, in order, and wait for it (stopping it if it will not)."""
        for conn, process in children:
            with contextlib.suppress(OSError):
                conn.send({"op": "stop"})
            self.stop(process)

    def stop_all(self) -> None:
        for process in list(self.processes):
            if process.is_alive():
                process.terminate()
        for process in list(self.processes):
            self.stop(process, timeout=5.0)

    def __enter__(self) -> Children:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop_all()


def expect(conn: Connection, timeout: float, what: str) -> dict[str, Any]:
    """The next message from a child, or an error that says what did not arrive."""
    if not conn.poll(timeout):
        raise TimeoutError(f"no {what} within {timeout:.0f} s")
    try:
        message: dict[str, Any] = conn.recv()
    except EOFError:
        raise RuntimeError(f"a child exited before sending {what}") from None
    if message.get("op") == "error":
        raise RuntimeError(f"child failed before {what}: {message['error']}")
    return message


class AsyncPipe:
    """The coordinator's pipe, read inside a child's event loop without a thread."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.loop = asyncio.get_running_loop()
        self.queue: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue()
        self.loop.add_reader(conn.fileno(), self._readable)

    def _readable(self) -> None:
        try:
            while self.conn.poll():
                self.queue.put_nowait(self.conn.recv())
        except (EOFError, OSError):
            self.loop.remove_reader(self.conn.fileno())
            self.queue.put_nowait(None)  # the coordinator is gone

    async def recv(self) -> dict[str, Any] | None:
        return await self.queue.get()

    def send(self, message: dict[str, Any]) -> None:
        self.conn.send(message)


def run_child(conn: Connection, main: Callable[[], Coroutine[Any, Any, None]]) -> None:
    """Run a child's event loop; a failure is reported to the coordinator, which says it."""
    try:
        asyncio.run(main())
    except Exception:
        with contextlib.suppress(OSError):  # the coordinator is gone: it is stopping us
            conn.send({"op": "error", "error": traceback.format_exc()})
        sys.exit(1)
    finally:
        conn.close()


# -- /proc ------------------------------------------------------------------------------


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for pid {pid}")


def open_fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def settle(ctrl: Connection, pid: int, connections: int, timeout: float = 120.0) -> dict[str, Any]:
    """The server's figures once it holds exactly ``connections``, after a full collection."""
    deadline = time.monotonic() + timeout
    while True:
        ctrl.send({"op": "stats"})
        stats = expect(ctrl, 60, "server stats")
        if stats["connections"] == stats["server_connections"] == connections:
            break
        if time.monotonic() > deadline:
            raise TimeoutError(f"the server holds {stats}, not {connections} connections")
        time.sleep(0.1)
    time.sleep(1.0)
    ctrl.send({"op": "stats"})
    stats = expect(ctrl, 60, "server stats")
    return {**stats, "rss_kib": rss_kib(pid), "fds": open_fds(pid)}


# -- what is published ------------------------------------------------------------------


def snapshot_template() -> MetricsSnapshot:
    """The first ``metrics.snapshot`` example of asyncapi.yaml (3.8 KB as compact JSON)."""
    doc = yaml.safe_load((ROOT / "asyncapi.yaml").read_text(encoding="utf-8"))
    payload = doc["components"]["messages"]["metricsSnapshot"]["examples"][0]["payload"]
    return MetricsSnapshot.model_validate(payload)


def snapshot_factory(template: MetricsSnapshot) -> Callable[[Position], MetricsSnapshot]:
    """What an application hands ``hub.publish``: the snapshot for the position it gets.

    A shallow copy with the new position; the hub validates and encodes the result.
    """

    def build(position: Position) -> MetricsSnapshot:
        return template.model_copy(update={"epoch": position.epoch, "seq": position.seq})

    return build


def encoded_snapshots(template: MetricsSnapshot, count: int, epoch: str) -> list[str]:
    """``count`` snapshots with ``seq`` 1..count, encoded up front as a plain server would."""
    return [
        encode(template.model_copy(update={"epoch": epoch, "seq": seq})).decode()
        for seq in range(1, count + 1)
    ]


# -- the two servers ----------------------------------------------------------------------


async def start_hub() -> tuple[Hub, NativeServer]:
    hub = create_console_hub(config=HUB_CONFIG)
    return hub, await start_server(hub, HOST, 0)


async def start_plain(connections: set[ServerConnection]) -> Server:
    """A plain websockets server, configured as the hub's native transport configures it.

    Each connection is kept in ``connections``, gets a short ``welcome`` once it is in
    there, and has what it sends read and dropped.
    """

    async def handler(connection: ServerConnection) -> None:
        connections.add(connection)
        try:
            await connection.send('{"type":"welcome"}')
            async for _ in connection:
                pass
        except ConnectionClosed:
            pass  # as the hub's transport does: a reset is how a client may leave
        finally:
            connections.discard(connection)

    config = HUB_CONFIG
    return await serve(
        handler,
        HOST,
        0,
        compression=None,
        max_size=config.limits.max_message_bytes,
        close_timeout=config.close_timeout_s,
        ping_interval=config.heartbeat_interval_s,
        ping_timeout=config.heartbeat_timeout_s - config.heartbeat_interval_s,
    )


def port_of(server: Server) -> int:
    port: int = next(iter(server.sockets)).getsockname()[1]
    return port


# -- the client ---------------------------------------------------------------------------

PEEK = 128
"""Payload bytes of each frame the client looks at; the rest is skipped unread."""
SNAPSHOT = b'{"type":"metrics.snapshot"'
WELCOME = b'{"type":"welcome"'
SUBSCRIBED = b'{"type":"subscribed"'
SEQ = b'"seq":'

OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG = 1, 2, 8, 9, 10


def subscribe_frame(channels: tuple[str, ...]) -> bytes:
    """A ``subscribe`` for ``channels`` with no snapshot history: only new snapshots arrive."""
    wanted = [{"name": c, "history": 0} if c == "metrics" else {"name": c} for c in channels]
    return json.dumps({"type": "subscribe", "id": "bench", "channels": wanted}).encode()


def client_frame(opcode: int, payload: bytes) -> bytes:
    """A complete, masked client-to-server frame (RFC 6455 section 5.3)."""
    size = len(payload)
    if size < 126:
        header = struct.pack("!BB", 0x80 | opcode, 0x80 | size)
    elif size < 1 << 16:
        header = struct.pack("!BBH", 0x80 | opcode, 0x80 | 126, size)
    else:
        header = struct.pack("!BBQ", 0x80 | opcode, 0x80 | 127, size)
    mask = os.urandom(4)
    stream = (mask * (size // 4 + 1))[:size]
    masked = (int.from_bytes(payload, "big") ^ int.from_bytes(stream, "big")).to_bytes(size, "big")
    return header + mask + masked


def seq_of(head: bytes) -> int:
    start = head.index(SEQ) + len(SEQ)
    return int(head[start : head.index(b",", start)])


class Tally:
    """Snapshots received over many connections; reports each ``seq`` once all have it."""

    __slots__ = ("connections", "counts", "frames", "report")

    def __init__(self, connections: int, report: Callable[[int, float], None]) -> None:
        self.connections = connections
        self.report = report
        self.frames = 0
        self.counts: dict[int, int] = {}

    def received(self, seq: int) -> None:
        self.frames += 1
        count = self.counts.get(seq, 0) + 1
        if count < self.connections:
            self.counts[seq] = count
            return
        now = time.monotonic()
        # A seq some connection never got (coalesced) is settled by any later one.
        for older in [s for s in self.counts if s <= seq]:
            del self.counts[older]
        self.report(seq, now)


class RawClient(asyncio.Protocol):
    """One WebSocket connection that counts snapshots by their headers.

    ``ready`` resolves once the server's ``welcome`` (plain server) or the
    ``subscribed`` reply (hub) has arrived; ``closed`` when the TCP connection ends.
    Pings are answered and a server's close is echoed, as a browser would.
    """

    def __init__(self, path: str, subscribe: bytes | None, tally: Tally | None) -> None:
        loop = asyncio.get_running_loop()
        self.path = path
        self.subscribe = subscribe
        self.tally = tally
        self.ready: asyncio.Future[None] = loop.create_future()
        self.closed: asyncio.Future[None] = loop.create_future()
        self.transport: asyncio.Transport | None = None
        self.upgraded = False
        self.close_sent = False
        self.pending = b""
        self.skip = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        if not isinstance(transport, asyncio.Transport):
            raise TypeError("a stream transport is needed")
        self.transport = transport
        key = base64.b64encode(os.urandom(16)).decode()
        transport.write(
            f"GET {self.path} HTTP/1.1\r\nHost: {HOST}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
            f"Sec-WebSocket-Version: 13\r\n\r\n".encode()
        )

    def data_received(self, data: bytes) -> None:
        if self.pending:
            data, self.pending = self.pending + data, b""
        if not self.upgraded:
            end = data.find(b"\r\n\r\n")
            if end < 0:
                self.pending = data
                return
            if not data.startswith(b"HTTP/1.1 101 "):
                self._fail(ConnectionError(data[: data.find(b"\r\n")].decode(errors="replace")))
                return
            self.upgraded = True
            data = data[end + 4 :]
        position, size = 0, len(data)
        while position < size:
            if self.skip:
                taken = min(self.skip, size - position)
                self.skip -= taken
                position += taken
                continue
            if size - position < 2:
                break
            length = data[position + 1] & 0x7F
            header = 2
            if length == 126:
                if size - position < 4:
                    break
                length = int.from_bytes(data[position + 2 : position + 4], "big")
                header = 4
            elif length == 127:
                if size - position < 10:
                    break
                length = int.from_bytes(data[position + 2 : position + 10], "big")
                header = 10
            start = position + header
            if size - start < min(length, PEEK):
                break  # the header or the part of the payload looked at is incomplete
            self._frame(data[position] & 0x0F, data[start : start + min(length, PEEK)])
            available = size - start
            if available >= length:
                position = start + length
            else:
                self.skip = length - available
                position = size
        if position < size:
            self.pending = data[position:]

    def _frame(self, opcode: int, head: bytes) -> None:
        if opcode in (OP_TEXT, OP_BINARY):
            if head.startswith(SNAPSHOT):
                if self.tally is not None:
                    self.tally.received(seq_of(head))
            elif head.startswith(WELCOME):
                if self.subscribe is None:
                    self._ready()
                else:
                    self.send(OP_TEXT, self.subscribe)
            elif head.startswith(SUBSCRIBED):
                self._ready()
            elif not self.ready.done():
                self._fail(ConnectionError(f"unexpected frame {head[:60]!r}"))
        elif opcode == OP_PING:
            self.send(OP_PONG, head)
        elif opcode == OP_CLOSE and not self.close_sent:
            self.send(OP_CLOSE, head[:2])

    def _ready(self) -> None:
        if not self.ready.done():
            self.ready.set_result(None)

    def _fail(self, exc: Exception) -> None:
        if not self.ready.done():
            self.ready.set_exception(exc)
        if self.transport is not None:
            self.transport.abort()

    def send(self, opcode: int, payload: bytes) -> None:
        if self.transport is None or self.transport.is_closing():
            return
        if opcode == OP_CLOSE:
            self.close_sent = True
        self.transport.write(client_frame(opcode, payload))

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.ready.done():
            self.ready.set_exception(exc or ConnectionError("closed before ready"))
        if not self.closed.done():
            self.closed.set_result(None)

    async def close(self, timeout: float = 10.0) -> None:
        """The closing handshake (code 1000); the server then ends the TCP connection."""
        self.send(OP_CLOSE, struct.pack("!H", 1000))
        try:
            await asyncio.wait_for(asyncio.shield(self.closed), timeout)
        except TimeoutError:
            self.abort()
            await self.closed

    def abort(self) -> None:
        """Drop the TCP connection with a reset (``SO_LINGER`` 0), as a crashed peer would."""
        if self.transport is None:
            return
        sock = self.transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.transport.abort()


async def open_raw(
    port: int,
    path: str,
    subscribe: bytes | None,
    tally: Tally | None = None,
    timeout: float = 60.0,
) -> RawClient:
    """A connected :class:`RawClient`, once its ``ready`` has resolved."""
    loop = asyncio.get_running_loop()
    _, client = await asyncio.wait_for(
        loop.create_connection(lambda: RawClient(path, subscribe, tally), HOST, port), timeout
    )
    try:
        await asyncio.wait_for(asyncio.shield(client.ready), timeout)
    except BaseException:
        client.abort()
        raise
    return client


async def open_many(count: int, open_one: Callable[[], Awaitable[Any]]) -> list[Any]:
    """``count`` connections, at most :data:`CONNECT_CONCURRENCY` handshakes at a time."""
    gate = asyncio.Semaphore(CONNECT_CONCURRENCY)

    async def gated() -> Any:
        async with gate:
            return await open_one()

    return list(await asyncio.gather(*(gated() for _ in range(count))))


@contextlib.contextmanager
def stopwatch() -> Iterator[Callable[[], float]]:
    started = time.perf_counter()
    yield lambda: time.perf_counter() - started


# -- a server that reports on itself, and a client that opens, closes and cycles ------------


async def serve_and_report(mode: str, ctrl: Connection, publish_every_s: float) -> None:
    """Serve ``mode`` (``hub`` or ``plain``) and answer the coordinator's ``stats``.

    ``stats`` runs a full garbage collection first, then reports the connections the
    server holds and ``len(asyncio.all_tasks())``. A hub publishes a snapshot every
    ``publish_every_s`` seconds when that is above 0.
    """
    pipe = AsyncPipe(ctrl)
    publisher: asyncio.Task[None] | None = None
    if mode == "hub":
        hub, native = await start_hub()
        port, path = native.port, native.path

        def held() -> dict[str, int]:
            return {
                "connections": len(hub.clients),
                "subscriptions": sum(len(s) for s in hub.subscribers.values()),
                "server_connections": len(native.server.connections),
            }

        if publish_every_s > 0:
            publisher = asyncio.create_task(publish_forever(hub, publish_every_s))
    else:
        connections: set[ServerConnection] = set()
        server = await start_plain(connections)
        port, path = port_of(server), "/"

        def held() -> dict[str, int]:
            return {
                "connections": len(connections),
                "server_connections": len(server.connections),
            }

    pipe.send({"op": "listening", "port": port, "path": path, "pid": os.getpid()})
    while (command := await pipe.recv()) is not None and command["op"] != "stop":
        if command["op"] == "stats":
            gc.collect()
            pipe.send({"op": "stats", "tasks": len(asyncio.all_tasks()), **held()})
    if publisher is not None:
        publisher.cancel()
    if mode == "hub":
        await native.shutdown(timeout=5.0)
    else:
        server.close()
        await asyncio.wait_for(server.wait_closed(), 10.0)


async def publish_forever(hub: Hub, every_s: float) -> None:
    build = snapshot_factory(snapshot_template())
    while True:
        hub.publish("metrics", build)
        await asyncio.sleep(every_s)


def report_server_process(mode: str, ctrl: Connection, publish_every_s: float = 0.0) -> None:
    prepare_child(SERVER_CPU)
    run_child(ctrl, lambda: serve_and_report(mode, ctrl, publish_every_s))


async def drive_clients(mode: str, port: int, path: str, ctrl: Connection) -> None:
    """Open, close or cycle raw connections when the coordinator says so.

    ``open`` adds ``count`` connections (subscribed to every channel on a hub) and
    keeps them; ``close`` closes those cleanly; ``cycles`` runs ``count``
    connect/subscribe/disconnect cycles, ``concurrency`` at a time, alternating a
    clean closing handshake and an abrupt reset.
    """
    pipe = AsyncPipe(ctrl)
    subscribe = subscribe_frame(ALL_CHANNELS) if mode == "hub" else None
    held: list[RawClient] = []
    while (command := await pipe.recv()) is not None and command["op"] != "stop":
        with stopwatch() as took:
            if command["op"] == "open":
                held += await open_many(command["count"], lambda: open_raw(port, path, subscribe))
                pipe.send({"op": "opened", "held": len(held), "seconds": took()})
            elif command["op"] == "close":
                await asyncio.gather(*(client.close() for client in held))
                held.clear()
                pipe.send({"op": "closed", "seconds": took()})
            elif command["op"] == "cycles":
                outcome = await cycles(
                    port,
                    path,
                    subscribe,
                    first=command["first"],
                    count=command["count"],
                    concurrency=command["concurrency"],
                )
                pipe.send({"op": "cycled", **outcome, "seconds": took()})
    for client in held:
        client.abort()


async def cycles(
    port: int, path: str, subscribe: bytes | None, *, first: int, count: int, concurrency: int
) -> dict[str, int]:
    """Connect, subscribe and leave ``count`` times; even cycles close, odd ones reset."""
    outcome = {"clean": 0, "reset": 0, "failed": 0}
    numbers = iter(range(first, first + count))

    async def worker() -> None:
        for number in numbers:
            try:
                client = await open_raw(port, path, subscribe, timeout=30.0)
            except (OSError, TimeoutError):
                outcome["failed"] += 1
                continue
            if number % 2 == 0:
                await client.close()
                outcome["clean"] += 1
            else:
                client.abort()
                await client.closed
                outcome["reset"] += 1

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return outcome


def client_driver_process(mode: str, port: int, path: str, ctrl: Connection) -> None:
    prepare_child(CLIENT_CPU)
    run_child(ctrl, lambda: drive_clients(mode, port, path, ctrl))
