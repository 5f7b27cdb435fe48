"""Fan-out: the hub on its transports against ``websockets.broadcast()``, in one run.

For each number of clients N and each run, the servers of the modes chosen with
``--modes`` (default ``hub,broadcast``) run side by side on the same machine, each in
its own process pinned to CPU 0 (default asyncio loop, no uvloop, compression off):

* ``hub``: the specwire hub (``create_console_hub`` + ``start_server``); N clients
  subscribe to ``metrics`` and the server publishes the 3.8 KB ``metrics.snapshot``
  example with ``hub.publish("metrics", factory)``, which validates and encodes each
  snapshot once and writes one pre-built frame to every transport;
* ``broadcast``: a plain ``websockets.asyncio.server`` calling
  ``websockets.asyncio.server.broadcast(connections, message)`` with the same
  snapshots, encoded to ``str`` before the clock starts;
* ``asgi``: the same hub, clients and publishes as ``hub``, served by its ASGI
  transport on uvicorn (``start_asgi_server`` with its defaults: uvicorn's
  ``websockets-sansio`` protocol as ``uvicorn_ws_protocol()`` extends it), where the
  ``UvicornTransport`` writes the pre-built frame straight to each connection's
  asyncio transport;
* ``asgi-buffered``: as ``asgi`` with ``ws="websockets-sansio"`` passed to uvicorn,
  which gives the buffered ``AsgiTransport``: ``hub.publish()`` only queues the frame
  for each client, and one writer task per client sends it through ASGI's ``send``.
  Its "in publish" figures below therefore leave out the sending, which its writer
  tasks do after ``publish()`` returns (it is in the server's CPU use and the times).

Each server has its own load process pinned to CPU 1 holding its N connections
(``harness.RawClient``; ``--client websockets`` for the websockets client), which
counts snapshots without decoding them. Completion is counted on the client side:
when every connection has received a snapshot, the client process writes
``(seq, time.monotonic(), its CPU time)`` to a pipe its server reads.
CLOCK_MONOTONIC is one clock for every process, so the time a snapshot took to reach
all clients is that instant minus the instant just before the server published it;
nothing but the snapshots crosses the sockets while measuring.

The modes take turns of ``--turn`` bursts (ABBA order: A B, then B A; with more
modes A B C D, then D C B A), so that whatever else the shared machine does hits them
alike; only one server and one client work at a time. The first burst of a turn
starts with caches another server has filled: with turns of one burst both ``hub``
and ``broadcast`` lose about 15% at N=5,000 against one turn each (all bursts in a
row); the default, 5 bursts, sits between the two.
Measured per mode and N, after one warm-up burst each:

* deliveries/s: ``--messages`` snapshots in bursts of ``--batch`` (``await
  asyncio.sleep(0)`` between two publishes); a burst ends when every client has its
  last snapshot. Elapsed is the sum of the bursts' times, deliveries/s is
  messages x N / elapsed;
* one snapshot to all: ``--samples`` single publishes, 20 ms apart, each timed until
  every client has it; the median.

Each figure is the median of ``--runs`` runs (fresh processes each). When
``broadcast`` is among the modes, each other mode's ratio to it (mode/broadcast
deliveries/s, broadcast/mode time to all) is taken within each run and its median
reported, one table per mode. Two checks that the
server, not the load client, is what is measured: the time the server spent inside
``hub.publish()`` / ``broadcast()`` per delivery (validation, encoding and every
``transport.write``) and as a share of the bursts' time, and the client process's CPU
use over its bursts. A ``websockets`` client process saturates first (about half
the deliveries/s, the server mostly idle), hence the raw client.

Run: ``.venv/bin/python bench/fanout.py --clients 100,1000,5000 --messages 200 --runs 3``
(add ``--modes hub,broadcast,asgi,asgi-buffered`` for the ASGI transports).
"""

from __future__ import annotations

import argparse
import asyncio
import platform
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from importlib import metadata
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from typing import Any

import websockets
from harness import (
    CLIENT_CPU,
    HOST,
    HUB_CONFIG,
    PEEK,
    SERVER_CPU,
    SNAPSHOT,
    SUBSCRIBED,
    AsyncPipe,
    Children,
    RawClient,
    Tally,
    encoded_snapshots,
    expect,
    open_many,
    open_raw,
    port_of,
    prepare_child,
    run_child,
    seq_of,
    snapshot_factory,
    snapshot_template,
    start_hub,
    start_plain,
    stopwatch,
    subscribe_frame,
)
from websockets.asyncio.client import ClientConnection, connect
from websockets.asyncio.server import ServerConnection, broadcast
from websockets.exceptions import ConnectionClosed

from specwire.runtime.console import create_console_hub
from specwire.runtime.hub import Hub
from specwire.runtime.transports.asgi import AsgiServer, start_asgi_server
from specwire.runtime.transports.native import NativeServer

MODES = ("hub", "broadcast", "asgi", "asgi-buffered")
DEFAULT_MODES = ("hub", "broadcast")
BASELINE = "broadcast"
"""The mode every other one is compared with, run by run."""
HUB_MODES = frozenset({"hub", "asgi", "asgi-buffered"})
"""The modes that serve the specwire hub: their clients subscribe to ``metrics``."""
ASGI_OPTIONS: dict[str, dict[str, Any]] = {"asgi": {}, "asgi-buffered": {"ws": "websockets-sansio"}}
"""What each ASGI mode passes to ``start_asgi_server`` (and on to ``uvicorn.Config``)."""
SAMPLE_GAP_S = 0.02
ACK_TIMEOUT_S = 120.0
PLAIN_EPOCH = "0123456789abcdef"  # as long as the hub's: every mode sends frames of one size


# -- server process -----------------------------------------------------------------------


class Acks:
    """The client process's reports, read in the server's loop.

    Each is ``(seq, at, client_cpu)``: every connection has snapshot ``seq`` since
    ``at`` (CLOCK_MONOTONIC), when the client process had used ``client_cpu`` seconds.
    """

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.loop = asyncio.get_running_loop()
        self.done: dict[int, tuple[float, float]] = {}
        self.waiting: tuple[int, asyncio.Future[None]] | None = None
        self.loop.add_reader(conn.fileno(), self._readable)

    def _readable(self) -> None:
        try:
            while self.conn.poll():
                seq, at, cpu = self.conn.recv()
                self.done[seq] = (at, cpu)
        except (EOFError, OSError):
            self.loop.remove_reader(self.conn.fileno())
            if self.waiting is not None and not self.waiting[1].done():
                self.waiting[1].set_exception(ConnectionError("the client process is gone"))
            return
        waiting = self.waiting
        if waiting is not None and waiting[0] in self.done and not waiting[1].done():
            waiting[1].set_result(None)

    async def wait_for(self, seq: int) -> tuple[float, float]:
        """When the last client received snapshot ``seq``, and the client's CPU time then."""
        if seq not in self.done:
            future = self.loop.create_future()
            self.waiting = (seq, future)
            try:
                await asyncio.wait_for(future, ACK_TIMEOUT_S)
            finally:
                self.waiting = None
        report = self.done[seq]
        self.done = {s: r for s, r in self.done.items() if s > seq}
        return report


class Publisher:
    """Publishes bursts on request and times each until every client has its last snapshot."""

    def __init__(self, publish: Callable[[], None], acks: Acks) -> None:
        self.publish = publish
        self.acks = acks
        self.sent = 0
        self.client_cpu = 0.0

    async def burst(self, count: int) -> dict[str, float]:
        """Publish ``count`` snapshots (``sleep(0)`` between two) and wait for the last."""
        inside = 0.0  # seconds in publish() itself: validation, encoding, every write
        cpu = time.process_time()
        started = time.monotonic()
        for index in range(count):
            if index:
                await asyncio.sleep(0)
            before = time.perf_counter()
            self.publish()
            inside += time.perf_counter() - before
        self.sent += count
        at, client_cpu = await self.acks.wait_for(self.sent)
        # The client process only works while this server publishes: the other modes'
        # clients are idle meanwhile, so its CPU time since the last burst is this burst's.
        client_used, self.client_cpu = client_cpu - self.client_cpu, client_cpu
        return {
            "took": at - started,
            "inside": inside,
            "server_cpu": time.process_time() - cpu,
            "client_cpu": client_used,
        }


async def start_hub_mode(mode: str) -> tuple[Hub, NativeServer | AsgiServer]:
    """The hub and its server for a hub mode: one hub and config, only the transport differs."""
    if mode == "hub":
        return await start_hub()
    hub = create_console_hub(config=HUB_CONFIG)
    return hub, await start_asgi_server(hub, HOST, 0, **ASGI_OPTIONS[mode])


async def serve_fanout(mode: str, total: int, ctrl: Connection, ack_conn: Connection) -> None:
    pipe = AsyncPipe(ctrl)
    acks = Acks(ack_conn)
    template = snapshot_template()
    if mode in HUB_MODES:
        hub, hub_server = await start_hub_mode(mode)
        build = snapshot_factory(template)

        def publish() -> None:
            hub.publish("metrics", build)

        port, path = hub_server.port, hub_server.path
    else:
        connections: set[ServerConnection] = set()
        server = await start_plain(connections)
        upcoming = iter(encoded_snapshots(template, total, PLAIN_EPOCH))

        def publish() -> None:
            broadcast(connections, next(upcoming))

        port, path = port_of(server), "/"
    publisher = Publisher(publish, acks)
    pipe.send({"op": "listening", "port": port, "path": path})
    while (command := await pipe.recv()) is not None and command["op"] != "stop":
        if command["op"] == "burst":
            pipe.send({"op": "burst", **await publisher.burst(command["count"])})
    if mode in HUB_MODES:
        await hub_server.shutdown(timeout=5.0)
    else:
        server.close()
        await asyncio.wait_for(server.wait_closed(), 10.0)


def server_process(mode: str, total: int, ctrl: Connection, ack_conn: Connection) -> None:
    prepare_child(SERVER_CPU)
    run_child(ctrl, lambda: serve_fanout(mode, total, ctrl, ack_conn))


# -- client process -----------------------------------------------------------------------


async def open_websockets(
    url: str, subscribe: bytes | None, tally: Tally
) -> tuple[ClientConnection, asyncio.Task[None]]:
    """A websockets client connection that counts snapshots as :class:`RawClient` does."""
    connection = await connect(
        url, compression=None, ping_interval=None, max_size=None, open_timeout=60
    )
    await connection.recv(decode=False)  # welcome
    if subscribe is not None:
        await connection.send(subscribe, text=True)
        while not (await connection.recv(decode=False)).startswith(SUBSCRIBED):
            pass

    async def count() -> None:
        try:
            while True:
                data = await connection.recv(decode=False)
                if isinstance(data, bytes) and data.startswith(SNAPSHOT):
                    tally.received(seq_of(data[:PEEK]))
        except ConnectionClosed:
            pass

    return connection, asyncio.create_task(count())


@dataclass(frozen=True)
class Load:
    """What the client process opens: ``count`` connections of ``kind`` to a ``mode`` server."""

    kind: str
    mode: str
    port: int
    path: str
    count: int


async def load(plan: Load, ctrl: Connection, acks: Connection) -> None:
    pipe = AsyncPipe(ctrl)
    count, port, path = plan.count, plan.port, plan.path

    def report(seq: int, at: float) -> None:
        acks.send((seq, at, time.process_time()))

    tally = Tally(count, report)
    subscribe = subscribe_frame(("metrics",)) if plan.mode in HUB_MODES else None
    with stopwatch() as took:
        if plan.kind == "raw":
            clients: list[Any] = await open_many(
                count, lambda: open_raw(port, path, subscribe, tally)
            )
        else:
            url = f"ws://{HOST}:{port}{path}"
            clients = await open_many(count, lambda: open_websockets(url, subscribe, tally))
        pipe.send({"op": "ready", "seconds": took()})
    while (command := await pipe.recv()) is not None and command["op"] != "stop":
        if command["op"] == "frames":
            pipe.send({"op": "frames", "frames": tally.frames})
    for client in clients:
        if isinstance(client, RawClient):
            client.abort()
        else:
            connection, task = client
            task.cancel()
            connection.transport.abort()


def client_process(plan: Load, ctrl: Connection, acks: Connection) -> None:
    prepare_child(CLIENT_CPU)
    run_child(ctrl, lambda: load(plan, ctrl, acks))


# -- coordinator --------------------------------------------------------------------------


@dataclass
class Sample:
    mode: str
    clients: int
    deliveries_per_s: float
    latency_ms: float
    publish_us: float
    """Time inside ``hub.publish()`` / ``broadcast()`` per delivery, microseconds."""
    server_cpu: float
    client_cpu: float
    missing: int


@dataclass
class Pair:
    """One mode's server process and the client process connected to it."""

    mode: str
    server: BaseProcess
    server_ctrl: Connection
    client: BaseProcess
    client_ctrl: Connection

    def burst(self, count: int, timeout: float) -> dict[str, Any]:
        self.server_ctrl.send({"op": "burst", "count": count})
        return expect(self.server_ctrl, timeout, f"{self.mode} burst")

    def frames(self) -> int:
        self.client_ctrl.send({"op": "frames"})
        frames: int = expect(self.client_ctrl, 30, f"{self.mode} client frames")["frames"]
        return frames


def start_pair(
    children: Children, mode: str, clients: int, total: int, args: argparse.Namespace
) -> Pair:
    server_ctrl, server_end = children.pipe()
    ack_reader, ack_writer = children.pipe(duplex=False)
    server = children.start(server_process, mode, total, server_end, ack_reader)
    server_end.close()
    ack_reader.close()
    listening = expect(server_ctrl, 60, f"{mode} server listening")
    client_ctrl, client_end = children.pipe()
    plan = Load(args.client, mode, listening["port"], listening["path"], clients)
    client = children.start(client_process, plan, client_end, ack_writer)
    client_end.close()
    ack_writer.close()
    expect(client_ctrl, 60 + clients / 50, f"{clients} {mode} clients ready")
    return Pair(mode, server, server_ctrl, client, client_ctrl)


def run_once(children: Children, clients: int, args: argparse.Namespace, run: int) -> list[Sample]:
    """Every mode on N clients, their bursts interleaved so that noise hits them alike."""
    modes: list[str] = args.modes.split(",")
    sizes = [
        min(args.batch, args.messages - first) for first in range(0, args.messages, args.batch)
    ]
    total = args.batch + args.messages + args.samples
    timeout = 60 + args.batch * clients / 5_000
    pairs: dict[str, Pair] = {}
    try:
        for mode in modes:
            pairs[mode] = start_pair(children, mode, clients, total, args)
        frames_before = {mode: pair.frames() for mode, pair in pairs.items()}
        for pair in pairs.values():
            pair.burst(args.batch, timeout)  # warm-up
        bursts: dict[str, list[dict[str, Any]]] = {mode: [] for mode in modes}
        singles: dict[str, list[float]] = {mode: [] for mode in modes}
        turns = [sizes[first : first + args.turn] for first in range(0, len(sizes), args.turn)]
        for index, turn in enumerate(turns):
            for mode in modes if (index + run) % 2 == 0 else modes[::-1]:
                bursts[mode] += [pairs[mode].burst(size, timeout) for size in turn]
        for index in range(args.samples):
            for mode in modes if (index + run) % 2 == 0 else modes[::-1]:
                time.sleep(SAMPLE_GAP_S)
                singles[mode].append(pairs[mode].burst(1, timeout)["took"])
        received = {mode: pair.frames() - frames_before[mode] for mode, pair in pairs.items()}
    except BaseException:
        children.stop_all()  # at once: a child busy connecting reads no command
        raise
    for pair in pairs.values():
        children.retire((pair.client_ctrl, pair.client), (pair.server_ctrl, pair.server))
    samples = []
    for mode in modes:
        took = sum(b["took"] for b in bursts[mode])
        samples.append(
            Sample(
                mode=mode,
                clients=clients,
                deliveries_per_s=args.messages * clients / took,
                latency_ms=statistics.median(singles[mode]) * 1000,
                publish_us=sum(b["inside"] for b in bursts[mode]) / (args.messages * clients) * 1e6,
                server_cpu=sum(b["server_cpu"] for b in bursts[mode]) / took,
                client_cpu=sum(b["client_cpu"] for b in bursts[mode]) / took,
                missing=total * clients - received[mode],
            )
        )
    return samples


def describe(sample: Sample, run: int, width: int = 9) -> str:
    """One run's figures for one mode, its name padded to ``width``."""
    return (
        f"run {run + 1} N={sample.clients:<6} {sample.mode:<{width}}"
        f" {sample.deliveries_per_s / 1000:7.1f}k deliveries/s"
        f" | to all {sample.latency_ms:7.2f} ms"
        f" | in publish {sample.publish_us:5.2f} us/delivery"
        f" | CPU server {sample.server_cpu:4.0%} client {sample.client_cpu:4.0%}"
        f" | missing {sample.missing}"
    )


def report(samples: list[tuple[int, Sample]], counts: list[int], modes: list[str]) -> None:
    def pick(mode: str, clients: int) -> list[tuple[int, Sample]]:
        return [(r, s) for r, s in samples if s.mode == mode and s.clients == clients]

    print()
    print(
        "| N | mode | deliveries/s | one snapshot to all (ms) | in publish (µs/delivery)"
        " | server time in publish | client CPU |"
    )
    print("|---:|---|---:|---:|---:|---:|---:|")
    for clients in counts:
        for mode in modes:
            chosen = [s for _, s in pick(mode, clients)]
            if not chosen:
                continue
            rate = statistics.median(s.deliveries_per_s for s in chosen)
            latency = statistics.median(s.latency_ms for s in chosen)
            inside = statistics.median(s.publish_us for s in chosen)
            share = statistics.median(s.publish_us * s.deliveries_per_s / 1e6 for s in chosen)
            client_cpu = statistics.median(s.client_cpu for s in chosen)
            print(
                f"| {clients:,} | {mode} | {rate / 1000:,.0f}k | {latency:.2f} | {inside:.2f}"
                f" | {share:.0%} | {client_cpu:.0%} |"
            )
    if BASELINE not in modes:
        return
    for mode in modes:
        if mode == BASELINE:
            continue
        print()
        print(
            f"| N | {mode}/{BASELINE} deliveries/s | {BASELINE}/{mode} time to all"
            " | per-run ratios |"
        )
        print("|---:|---:|---:|---|")
        for clients in counts:
            measured = dict(pick(mode, clients))
            plain = dict(pick(BASELINE, clients))
            runs = sorted(set(measured) & set(plain))
            if not runs:
                continue
            rates = [measured[r].deliveries_per_s / plain[r].deliveries_per_s for r in runs]
            times = [plain[r].latency_ms / measured[r].latency_ms for r in runs]
            each = ", ".join(f"{x:.2f}" for x in rates)
            print(
                f"| {clients:,} | {statistics.median(rates):.2f}x"
                f" | {statistics.median(times):.2f}x | {each} |"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", default="100,1000,5000", help="comma-separated N")
    parser.add_argument("--messages", type=int, default=200, help="snapshots timed per run")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--batch", type=int, default=10, help="snapshots between two acks")
    parser.add_argument("--samples", type=int, default=21, help="single snapshots timed")
    parser.add_argument(
        "--turn", type=int, default=5, help="bursts one mode runs before the next mode's turn"
    )
    parser.add_argument("--client", choices=("raw", "websockets"), default="raw")
    parser.add_argument(
        "--modes",
        default=",".join(DEFAULT_MODES),
        help=f"comma-separated, from {', '.join(MODES)}; ratios need {BASELINE}",
    )
    args = parser.parse_args()
    counts = [int(n) for n in args.clients.split(",")]
    modes = args.modes.split(",")
    unknown = sorted(set(modes) - set(MODES))
    if unknown:
        parser.error(f"unknown mode(s) {', '.join(unknown)}; choose from {', '.join(MODES)}")
    if len(set(modes)) != len(modes):
        parser.error("each mode at most once")
    width = max(9, *(len(mode) for mode in modes))
    size = len(encoded_snapshots(snapshot_template(), 1, PLAIN_EPOCH)[0].encode())
    asgi = [mode for mode in modes if mode in ASGI_OPTIONS]
    server = f", uvicorn {metadata.version('uvicorn')}" if asgi else ""
    print(
        f"python {platform.python_version()}, websockets {websockets.version.version}{server},"
        f" asyncio default loop, compression off; {size}-byte snapshot;"
        f" {args.messages} snapshots per run in bursts of {args.batch},"
        f" turns of {args.turn} bursts,"
        f" {args.samples} single-snapshot samples; {args.client} client; {args.runs} runs",
        flush=True,
    )
    samples: list[tuple[int, Sample]] = []
    with Children() as children:
        try:
            for run in range(args.runs):
                for clients in counts:
                    for sample in run_once(children, clients, args, run):
                        samples.append((run, sample))
                        print(describe(sample, run, width), flush=True)
        except KeyboardInterrupt:
            print("interrupted; stopping the servers and clients", file=sys.stderr)
            children.stop_all()
            sys.exit(130)
    report(samples, counts, modes)


if __name__ == "__main__":
    main()
