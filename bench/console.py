"""Console server: the collector's tick at scale, and a change's time to reach every client.

Two measurements of ``specwire serve``'s parts, chosen with ``--only tick|e2e``
(default: both, ``tick`` first). Each runs in its own child processes: the server
side pinned to CPU 0, the load client to CPU 1 (as ``bench/harness.py`` does for
every benchmark), with the garbage collector left enabled and the default asyncio
event loop.

**tick**: the collector's tick on a large embedded cluster. One process on CPU 0
builds an :class:`~specwire.console.embedded.EmbeddedEngine` (3 brokers, ``--seed``)
and sets it up with ``TrafficPlan.scaled(--topics, --partitions, --groups)``
(defaults 1,000 topics x 6 partitions, 500 groups of 2 members on 3 topics each),
a hub from ``create_console_hub()`` with no clients, and
``Collector(hub, engine, interval_s=2.0)``. Engine and collector read a fake clock
that moves 2 s per tick, so that rates, commit times and the Burrow windows see the
real cadence while the benchmark runs as fast as it can. Each tick: the clock
moves 2 s, the traffic generator makes one 2-second step (``generator.step(2.0)``),
then ``await collector.tick()`` is timed with ``time.perf_counter()``.
``--tick-warmup`` ticks (default 10, one full Burrow window, so that every group is
rated as in a long run) come before the ``--ticks`` timed ones (default 30). Inside
the tick, four parts are timed as they run, each at the cost of two
``perf_counter()`` calls: ``engine.state()`` and ``engine.take_latency()``
(through a thin proxy engine), the topic and group diffs (``TimedCollector``
overrides the collector's two diff methods) and ``SnapshotBuilder.build_json()``,
which assembles and encodes the snapshot (a subclass installed as the collector's
builder). "The rest" is the tick minus those four: validating the encoded snapshot
in ``hub.publish`` (``check_outbound``), the ``group.status_changed`` events, the
collector's metrics and one collection of the garbage collector's youngest
generation. Validating the encoded snapshot alone as the hub does (``check_outbound``) is also
timed, outside the tick. Reported: median, p90 and max in ms; the encoded snapshot's size;
its topics, partitions, groups and per-partition lag rows. Target: <= 50 ms a tick.
As ``specwire serve`` does, the startup heap is frozen after the first tick
(``freeze_startup_heap()``; ``--no-freeze`` leaves it); every full collection in the
timed loop is timed through ``gc.callbacks`` and reported with its count.

**e2e**: how long a REST change takes to reach every WebSocket client. A server
process on CPU 0 runs ``start_console(ServeSettings(port=0, interval=2.0,
traffic=True, seed=--seed, max_connections=--clients + 100))``: the real console
with its default traffic (its collector ticks every 2 s, the generator steps every
100 ms) and sends its port over a pipe. A load process on CPU 1 opens ``--clients``
connections (default 1,000) with ``harness.RawClient``'s raw-socket client, each
subscribed to channel ``topics`` only (not ``metrics``: the load is the event). It
stamps every ``topic.created`` / ``topic.deleted`` frame with ``time.monotonic()``
on arrival (it reads each frame's first 512 bytes instead of the harness's 128, to
see the topic's name) and, once all clients have one, sends the coordinator the
instants the first, the median and the last client received it. The coordinator
(not pinned) reads ``time.monotonic()`` just before each request, then creates a
1-partition topic with ``POST /api/topics`` over a kept-alive ``http.client``
connection; ``--gap`` (100 ms) later, ``DELETE /api/topics/{name}`` removes it, so
that the topic count stays flat (topics of other names, which the default traffic
creates and deletes now and then, are not counted). ``--events`` creates and as
many deletes are timed (default 50), after ``--event-warmup`` untimed pairs
(default 5). CLOCK_MONOTONIC is one clock for every process on Linux, so "last
client" is the time from just before the request to the instant the last of the N
clients had the frame. Reported: p50, p90,
p99 and max (nearest rank: with 50 samples p99 is the maximum) for the last, median
and first client, and for the HTTP response to reach the coordinator; and the
server's and load process's CPU use over the timed events. Target: p99 <= 50 ms for
``topic.created`` to reach all 1,000 clients. The collector's ticks and the traffic
generator run meanwhile, as in production: an event that lands on a tick waits for
it (the collector's lock).

Every child ignores Ctrl-C and dies with the coordinator, which stops each child it
started on its way out, whatever happens (``harness.Children``).

Run: ``.venv/bin/python bench/console.py`` (both measurements, full size; add
``--only tick`` or ``--only e2e`` for one). Small, quick checks:
``.venv/bin/python bench/console.py --only tick --topics 100 --groups 50 --ticks 5``
and ``.venv/bin/python bench/console.py --only e2e --clients 50 --events 10``.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import http.client
import json
import math
import os
import platform
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from importlib import metadata
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import harness
import websockets
from console_live_updates import MetricsSnapshot
from harness import (
    CLIENT_CPU,
    HOST,
    OP_TEXT,
    SERVER_CPU,
    AsyncPipe,
    Children,
    RawClient,
    expect,
    open_many,
    prepare_child,
    rss_kib,
    run_child,
    stopwatch,
    subscribe_frame,
)

from specwire.console.analysis import DEFAULT_WINDOW, SnapshotBuilder
from specwire.console.collector import Collector
from specwire.console.embedded import EmbeddedEngine
from specwire.console.engine import ClusterState, LatencyWindow, TopicState
from specwire.console.server import freeze_startup_heap, start_console
from specwire.console.settings import ServeSettings
from specwire.console.traffic import TrafficGenerator, TrafficPlan
from specwire.protocol import check_outbound, decode_outbound
from specwire.runtime.console import create_console_hub

INTERVAL_S = 2.0
"""The collector's interval, as ``specwire serve`` runs it by default."""
BROKERS = 3
TICK_TARGET_MS = 50.0
E2E_TARGET_MS = 50.0
TICK_TIMEOUT_S = 1800.0
"""The tick process's whole run: setting up the plan's topics and groups, then every tick."""
EXTRA_CONNECTIONS = 100
"""Room above ``--clients`` in the server's ``max_connections``."""
TOPIC_PREFIX = "bench.e2e-"
EVENT_PEEK = 512
"""Payload bytes the load client reads of each frame: a whole ``topic.created`` (about 210)."""
CREATED = b'{"type":"topic.created"'
DELETED = b'{"type":"topic.deleted"'
NAME = b'"name":"'


# -- statistics ---------------------------------------------------------------------------


def percentile(values: list[float], q: float) -> float:
    """The nearest-rank ``q``-th percentile: the smallest value with ``q``% at or below it."""
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


def median(values: list[float]) -> float:
    return percentile(values, 50)


def ms(seconds: float) -> str:
    return f"{seconds * 1000:,.2f}"


# -- tick: the collector on a large cluster ------------------------------------------------


class FakeClock:
    """Unix seconds that move only when told: the engine's and the collector's clock."""

    def __init__(self, start: float) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class TimedEngine:
    """The engine the collector reads, timing ``state()`` and ``take_latency()``."""

    def __init__(self, engine: EmbeddedEngine) -> None:
        self.engine = engine
        self.name = engine.name
        self.state_s = 0.0
        """How long the last ``state()`` took."""
        self.latency_s = 0.0
        """How long the last ``take_latency()`` took."""

    async def state(self) -> ClusterState:
        started = time.perf_counter()
        state = await self.engine.state()
        self.state_s = time.perf_counter() - started
        return state

    async def take_latency(self) -> LatencyWindow:
        started = time.perf_counter()
        window = await self.engine.take_latency()
        self.latency_s = time.perf_counter() - started
        return window

    async def create_topic(
        self,
        name: str,
        partitions: int,
        replication_factor: int | None = None,
        config: Mapping[str, str] | None = None,
    ) -> TopicState:
        return await self.engine.create_topic(name, partitions, replication_factor, config)

    async def delete_topic(self, name: str) -> None:
        await self.engine.delete_topic(name)

    async def close(self) -> None:
        await self.engine.close()


class TimedBuilder(SnapshotBuilder):
    """The collector's snapshot builder, timing each ``build_json()``."""

    def __init__(self, window: int = DEFAULT_WINDOW) -> None:
        super().__init__(window)
        self.build_s = 0.0
        """How long the last ``build_json()`` took."""

    def build_json(
        self,
        state: ClusterState,
        latency_window: LatencyWindow,
        *,
        epoch: str,
        seq: int,
        interval_ms: int | None = None,
    ) -> bytes:
        started = time.perf_counter()
        encoded = super().build_json(
            state, latency_window, epoch=epoch, seq=seq, interval_ms=interval_ms
        )
        self.build_s = time.perf_counter() - started
        return encoded


class TimedCollector(Collector):
    """The collector, timing its topic and group diffs (both run in every tick)."""

    diff_s = 0.0
    """How long the last tick's two diffs took together."""

    def _detect_topics(self, state: ClusterState) -> None:
        started = time.perf_counter()
        super()._detect_topics(state)
        self.diff_s = time.perf_counter() - started

    def _detect_groups(self, state: ClusterState) -> None:
        started = time.perf_counter()
        super()._detect_groups(state)
        self.diff_s += time.perf_counter() - started


PARTS = {
    "tick": "`await collector.tick()`, all of it",
    "state": "`engine.state()`, inside the tick",
    "latency": "`engine.take_latency()` (HDR percentiles), inside the tick",
    "diff": "the topic and group diffs, inside the tick",
    "build": "`SnapshotBuilder.build_json()` (assemble + encode), inside the tick",
    "rest": "the rest: validate the bytes + `hub.publish`, events, metrics, gen-0 gc",
    "encode": "validate the encoded snapshot alone (`check_outbound`), outside the tick",
}
"""What the tick measurement reports, in seconds per timed tick."""


@dataclass(frozen=True)
class TickPlan:
    topics: int
    partitions: int
    groups: int
    ticks: int
    warmup: int
    seed: int
    freeze: bool = True


async def measure_ticks(plan: TickPlan) -> dict[str, Any]:
    """Set the cluster up, warm up, then time ``plan.ticks`` ticks; every figure in seconds."""
    clock = FakeClock(time.time())
    engine = EmbeddedEngine(brokers=BROKERS, seed=plan.seed, clock=clock)
    traffic = TrafficPlan.scaled(topics=plan.topics, partitions=plan.partitions, groups=plan.groups)
    generator = TrafficGenerator(engine, seed=plan.seed, plan=traffic)
    with stopwatch() as took:
        await generator.setup()
        setup_s = took()
    timed = TimedEngine(engine)
    hub = create_console_hub()
    collector = TimedCollector(
        hub, timed, interval_s=INTERVAL_S, window=DEFAULT_WINDOW, clock=clock
    )
    builder = TimedBuilder(DEFAULT_WINDOW)
    collector.builder = builder

    def advance() -> None:
        clock.advance(INTERVAL_S)
        generator.step(INTERVAL_S)

    await collector.tick()  # `specwire serve` ticks once, then freezes the startup heap
    frozen = freeze_startup_heap() if plan.freeze else 0
    for _ in range(plan.warmup):
        advance()
        await collector.tick()
    figures: dict[str, list[float]] = {key: [] for key in PARTS}
    status_changes = 0
    collections = [generation["collections"] for generation in gc.get_stats()]
    encoded = b""
    full: list[float] = []  # each full (generation 2) collection, timed
    began = [0.0]

    def on_gc(phase: str, info: dict[str, int]) -> None:
        if info["generation"] != 2:
            return
        if phase == "start":
            began[0] = time.perf_counter()
        else:
            full.append(time.perf_counter() - began[0])

    gc.callbacks.append(on_gc)
    for _ in range(plan.ticks):
        advance()
        started = time.perf_counter()
        encoded = await collector.tick()
        tick_s = time.perf_counter() - started
        figures["tick"].append(tick_s)
        figures["state"].append(timed.state_s)
        figures["latency"].append(timed.latency_s)
        figures["diff"].append(collector.diff_s)
        figures["build"].append(builder.build_s)
        parts = timed.state_s + timed.latency_s + collector.diff_s + builder.build_s
        figures["rest"].append(tick_s - parts)
        status_changes += len(builder.status_changes)
        started = time.perf_counter()
        check_outbound(hub.binding, encoded)
        figures["encode"].append(time.perf_counter() - started)
    gc.callbacks.remove(on_gc)
    collected = [
        generation["collections"] - before
        for generation, before in zip(gc.get_stats(), collections, strict=True)
    ]
    # The counts below come from the last snapshot, decoded once after the timed loop so
    # that building its model (about 25,000 objects) does not set off collections in it.
    if not encoded:
        raise ValueError("no tick was timed")
    snapshot = decode_outbound(hub.binding, encoded)
    if not isinstance(snapshot, MetricsSnapshot):
        raise TypeError(f"the collector published {type(snapshot).__name__}")
    return {
        "op": "ticks",
        **figures,
        "setup_s": setup_s,
        "bytes": len(encoded),
        "topics": len(snapshot.topics),
        "partitions": sum(topic.partitions for topic in snapshot.topics),
        "groups": len(snapshot.groups),
        "lag_rows": sum(len(group.partitions) for group in snapshot.groups),
        "status_changes": status_changes,
        "collections": collected,
        "full": full,
        "frozen": frozen,
        "rss_kib": rss_kib(os.getpid()),
    }


def tick_process(plan: TickPlan, conn: Connection) -> None:
    prepare_child(SERVER_CPU)

    async def main() -> None:
        conn.send(await measure_ticks(plan))

    run_child(conn, main)


def run_ticks(children: Children, plan: TickPlan) -> dict[str, Any]:
    ctrl, end = children.pipe()
    process = children.start(tick_process, plan, end)
    end.close()
    result = expect(ctrl, TICK_TIMEOUT_S, "the tick figures")
    children.stop(process)
    return result


def report_ticks(plan: TickPlan, result: dict[str, Any]) -> None:
    print()
    print(
        f"### Collector tick: `TrafficPlan.scaled(topics={plan.topics},"
        f" partitions={plan.partitions}, groups={plan.groups})`, {BROKERS} brokers,"
        f" seed {plan.seed}"
    )
    print()
    print(
        f"{plan.ticks} timed ticks after {plan.warmup} warm-up ticks, each after one"
        f" {INTERVAL_S:g} s traffic step (fake clock: +{INTERVAL_S:g} s a tick); one process"
        " pinned to CPU 0; gc enabled; a hub with no clients."
    )
    print()
    print(
        "| topics | partitions | groups | lag rows | snapshot (bytes) | status changes"
        " (timed ticks) | set-up (s) | RSS (MiB) |"
    )
    print("|---:|---:|---:|---:|---:|---:|---:|---:|")
    print(
        f"| {result['topics']:,} | {result['partitions']:,} | {result['groups']:,}"
        f" | {result['lag_rows']:,} | {result['bytes']:,} | {result['status_changes']:,}"
        f" | {result['setup_s']:.2f} | {result['rss_kib'] / 1024:,.0f} |"
    )
    print()
    print("| what is timed | median (ms) | p90 (ms) | max (ms) |")
    print("|---|---:|---:|---:|")
    for key, label in PARTS.items():
        values: list[float] = result[key]
        print(
            f"| {label} | {ms(median(values))} | {ms(percentile(values, 90))} | {ms(max(values))} |"
        )
    print()
    ticks: list[float] = result["tick"]
    worst = percentile(ticks, 90) * 1000
    verdict = "met" if worst <= TICK_TARGET_MS else "NOT met"
    gen0, gen1, gen2 = result["collections"]
    print(
        f"Target <= {TICK_TARGET_MS:g} ms per tick: {verdict} (median"
        f" {ms(median(ticks))} ms, p90 {worst:,.2f} ms, max {ms(max(ticks))} ms)."
        f" gc collections during the timed ticks: {gen0} / {gen1} / {gen2}"
        " (generation 0 / 1 / 2).",
    )
    full: list[float] = result["full"]
    heap = (
        f"the startup heap frozen ({result['frozen']:,} objects, as `specwire serve` does)"
        if plan.freeze
        else "nothing frozen (--no-freeze)"
    )
    timed = f"median {ms(median(full))} ms, max {ms(max(full))} ms" if full else "none"
    print(
        f"Full collections in the timed loop (between ticks, which pause the collector):"
        f" {len(full)}, {timed};"
        f" {heap}.",
        flush=True,
    )


# -- e2e: a REST change to every client ---------------------------------------------------


@dataclass(frozen=True)
class ServerPlan:
    seed: int
    max_connections: int


async def serve_console(plan: ServerPlan, conn: Connection) -> None:
    """Run the console server until told to stop; ``stats`` answers with its CPU time."""
    pipe = AsyncPipe(conn)
    settings = ServeSettings(
        port=0,
        interval=INTERVAL_S,
        traffic=True,
        seed=plan.seed,
        max_connections=plan.max_connections,
    )
    server = await start_console(settings)
    freeze_startup_heap()  # as `specwire serve` does
    try:
        pipe.send({"op": "listening", "port": server.http.port, "path": server.http.path})
        while (command := await pipe.recv()) is not None and command["op"] != "stop":
            if command["op"] == "stats":
                pipe.send(
                    {
                        "op": "stats",
                        "cpu": time.process_time(),
                        "connections": len(server.hub.clients),
                    }
                )
    finally:
        await server.shutdown(timeout=5.0)


def server_process(plan: ServerPlan, conn: Connection) -> None:
    prepare_child(SERVER_CPU)
    run_child(conn, lambda: serve_console(plan, conn))


class Arrivals:
    """When each client received each benchmark topic's event; reported once all have it.

    Events are told apart by kind (``created``/``deleted``) and topic name; events
    on other topics (the default traffic's churn) are left alone.
    """

    def __init__(self, clients: int, report: Callable[[dict[str, Any]], None]) -> None:
        self.clients = clients
        self.report = report
        self.pending: dict[tuple[str, bytes], list[float]] = {}

    def received(self, kind: str, head: bytes) -> None:
        now = time.monotonic()
        start = head.find(NAME)
        if start < 0:
            return
        start += len(NAME)
        name = head[start : head.find(b'"', start)]
        if not name.startswith(TOPIC_PREFIX.encode()):
            return
        key = (kind, name)
        times = self.pending.setdefault(key, [])
        times.append(now)
        if len(times) < self.clients:
            return
        del self.pending[key]
        self.report(
            {
                "op": "arrived",
                "kind": kind,
                "name": name.decode(),
                "first": times[0],
                "median": times[(len(times) - 1) // 2],
                "last": times[-1],
            }
        )


class EventClient(RawClient):
    """A :class:`harness.RawClient` that stamps the ``topics`` channel's created/deleted events."""

    def __init__(self, path: str, subscribe: bytes, arrivals: Arrivals) -> None:
        super().__init__(path, subscribe, None)
        self.arrivals = arrivals

    def _frame(self, opcode: int, head: bytes) -> None:
        if opcode == OP_TEXT:
            if head.startswith(CREATED):
                self.arrivals.received("created", head)
                return
            if head.startswith(DELETED):
                self.arrivals.received("deleted", head)
                return
        super()._frame(opcode, head)


async def open_event_client(
    port: int, path: str, subscribe: bytes, arrivals: Arrivals, timeout: float = 60.0
) -> EventClient:
    """A connected :class:`EventClient`, once the server confirmed its subscription."""
    loop = asyncio.get_running_loop()
    _, client = await asyncio.wait_for(
        loop.create_connection(lambda: EventClient(path, subscribe, arrivals), HOST, port),
        timeout,
    )
    try:
        await asyncio.wait_for(asyncio.shield(client.ready), timeout)
    except BaseException:
        client.abort()
        raise
    return client


@dataclass(frozen=True)
class Load:
    port: int
    path: str
    clients: int


async def load(plan: Load, conn: Connection) -> None:
    # RawClient reads the first harness.PEEK payload bytes of each frame: raised here so
    # that a topic event's name is among them (only small frames come on ``topics``).
    harness.PEEK = EVENT_PEEK
    pipe = AsyncPipe(conn)
    arrivals = Arrivals(plan.clients, pipe.send)
    subscribe = subscribe_frame(("topics",))
    with stopwatch() as took:
        clients: list[EventClient] = await open_many(
            plan.clients, lambda: open_event_client(plan.port, plan.path, subscribe, arrivals)
        )
        pipe.send({"op": "ready", "seconds": took()})
    try:
        while (command := await pipe.recv()) is not None and command["op"] != "stop":
            if command["op"] == "stats":
                pipe.send({"op": "stats", "cpu": time.process_time()})
    finally:
        for client in clients:
            client.abort()


def load_process(plan: Load, conn: Connection) -> None:
    prepare_child(CLIENT_CPU)
    run_child(conn, lambda: load(plan, conn))


@dataclass(frozen=True)
class Change:
    """One timed change: seconds from just before the request to each instant."""

    kind: str
    response: float
    first: float
    median: float
    last: float


class Poster:
    """Makes the changes over one kept-alive HTTP connection and waits for their arrival."""

    def __init__(self, port: int, load_ctrl: Connection, timeout: float) -> None:
        self.http = http.client.HTTPConnection(HOST, port, timeout=timeout)
        self.load_ctrl = load_ctrl
        self.timeout = timeout

    def change(self, kind: str, name: str) -> Change:
        if kind == "created":
            method, path, expected = "POST", "/api/topics", 201
            body: bytes | None = json.dumps({"name": name, "partitions": 1}).encode()
            headers = {"Content-Type": "application/json"}
        else:
            method, path, expected, body, headers = "DELETE", f"/api/topics/{name}", 204, None, {}
        started = time.monotonic()
        self.http.request(method, path, body=body, headers=headers)
        response = self.http.getresponse()
        answer = response.read()
        answered = time.monotonic()
        if response.status != expected:
            raise RuntimeError(f"{method} {path}: HTTP {response.status} {answer[:300]!r}")
        arrived = expect(self.load_ctrl, self.timeout, f"topic.{kind} of {name} at every client")
        if (arrived.get("op"), arrived.get("kind"), arrived.get("name")) != ("arrived", kind, name):
            raise RuntimeError(f"expected topic.{kind} of {name}, the load reported {arrived}")
        return Change(
            kind=kind,
            response=answered - started,
            first=arrived["first"] - started,
            median=arrived["median"] - started,
            last=arrived["last"] - started,
        )

    def close(self) -> None:
        self.http.close()


def stats(ctrl: Connection, what: str) -> dict[str, Any]:
    ctrl.send({"op": "stats"})
    return expect(ctrl, 60, f"{what} stats")


def run_e2e(children: Children, args: argparse.Namespace) -> dict[str, Any]:
    server_ctrl, server_end = children.pipe()
    server = children.start(
        server_process, ServerPlan(args.seed, args.clients + EXTRA_CONNECTIONS), server_end
    )
    server_end.close()
    listening = expect(server_ctrl, 120, "console server listening")
    load_ctrl, load_end = children.pipe()
    client = children.start(
        load_process, Load(listening["port"], listening["path"], args.clients), load_end
    )
    load_end.close()
    ready = expect(load_ctrl, 60 + args.clients / 50, f"{args.clients} clients subscribed")
    held = stats(server_ctrl, "server")["connections"]
    if held != args.clients:
        raise RuntimeError(f"the server holds {held} connections, not {args.clients}")
    print(
        f"e2e: {args.clients:,} clients subscribed to `topics` in {ready['seconds']:.1f} s",
        flush=True,
    )
    poster = Poster(listening["port"], load_ctrl, args.event_timeout)
    changes: list[Change] = []
    try:
        for number in range(args.event_warmup):
            name = f"{TOPIC_PREFIX}warmup-{number:05d}"
            for kind in ("created", "deleted"):
                poster.change(kind, name)
                time.sleep(args.gap)
        server_cpu = stats(server_ctrl, "server")["cpu"]
        load_cpu = stats(load_ctrl, "load")["cpu"]
        with stopwatch() as took:
            for number in range(args.events):
                name = f"{TOPIC_PREFIX}{number:05d}"
                for kind in ("created", "deleted"):
                    changes.append(poster.change(kind, name))
                    time.sleep(args.gap)
            elapsed = took()
        server_cpu = stats(server_ctrl, "server")["cpu"] - server_cpu
        load_cpu = stats(load_ctrl, "load")["cpu"] - load_cpu
    finally:
        poster.close()
    children.retire((load_ctrl, client), (server_ctrl, server))
    return {
        "changes": changes,
        "server_cpu": server_cpu / elapsed,
        "load_cpu": load_cpu / elapsed,
        "elapsed": elapsed,
    }


def report_e2e(args: argparse.Namespace, result: dict[str, Any]) -> None:
    changes: list[Change] = result["changes"]
    print()
    print(
        f"### A REST change to {args.clients:,} WebSocket clients (`specwire serve`,"
        f" traffic on, seed {args.seed})"
    )
    print()
    print(
        f"{args.events} creates and {args.events} deletes, {args.gap * 1000:g} ms apart, after"
        f" {args.event_warmup} untimed pairs; server pinned to CPU 0, load to CPU 1, gc"
        " enabled. Times run from just before the request (CLOCK_MONOTONIC) to the moment"
        " each client had the frame."
    )
    print()
    print("| change | who | samples | p50 (ms) | p90 (ms) | p99 (ms) | max (ms) |")
    print("|---|---|---:|---:|---:|---:|---:|")
    labels = {
        "created": ("`POST /api/topics` -> `topic.created`", "HTTP 201"),
        "deleted": ("`DELETE /api/topics/{name}` -> `topic.deleted`", "HTTP 204"),
    }
    for kind, (change, status) in labels.items():
        chosen = [c for c in changes if c.kind == kind]
        rows = (
            (f"last of {args.clients:,} clients", [c.last for c in chosen]),
            ("median client", [c.median for c in chosen]),
            ("first client", [c.first for c in chosen]),
            (f"{status} back at the poster", [c.response for c in chosen]),
        )
        for index, (who, values) in enumerate(rows):
            print(
                f"| {change if index == 0 else ''} | {who} | {len(values)}"
                f" | {ms(median(values))} | {ms(percentile(values, 90))}"
                f" | {ms(percentile(values, 99))} | {ms(max(values))} |"
            )
    print()
    last = [c.last for c in changes if c.kind == "created"]
    p99 = percentile(last, 99) * 1000
    verdict = "met" if p99 <= E2E_TARGET_MS else "NOT met"
    print(
        f"Target p99 <= {E2E_TARGET_MS:g} ms for `topic.created` to reach all"
        f" {args.clients:,} clients: {verdict} (p99 {p99:,.2f} ms). CPU over the timed"
        f" events ({result['elapsed']:.1f} s): server {result['server_cpu']:.0%},"
        f" load client {result['load_cpu']:.0%}.",
        flush=True,
    )


# -- coordinator --------------------------------------------------------------------------


def cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return "unknown CPU"


def versions() -> str:
    return (
        f"{os.cpu_count()} cores ({cpu_model()}, {platform.machine()}),"
        f" {platform.system()} {platform.release()}; python {platform.python_version()},"
        f" pydantic {metadata.version('pydantic')}, websockets {websockets.version.version},"
        f" uvicorn {metadata.version('uvicorn')}, fastapi {metadata.version('fastapi')};"
        " asyncio default loop, compression off, gc enabled"
    )


def positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} is not positive")
    return value


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument(
        "--only", choices=("tick", "e2e"), help="one measurement; both when not given"
    )
    parser.add_argument("--seed", type=int, default=1, help="engine and traffic seed")
    tick = parser.add_argument_group("tick")
    tick.add_argument("--topics", type=positive, default=1000, help="topics in the plan")
    tick.add_argument("--partitions", type=positive, default=6, help="partitions per topic")
    tick.add_argument("--groups", type=positive, default=500, help="consumer groups in the plan")
    tick.add_argument("--ticks", type=positive, default=30, help="timed ticks")
    tick.add_argument("--tick-warmup", type=int, default=DEFAULT_WINDOW, help="untimed ticks")
    tick.add_argument(
        "--no-freeze",
        dest="freeze",
        action="store_false",
        help="leave the startup heap to the collector (`specwire serve` freezes it)",
    )
    e2e = parser.add_argument_group("e2e")
    e2e.add_argument("--clients", type=positive, default=1000, help="WebSocket clients")
    e2e.add_argument("--events", type=positive, default=50, help="timed creates (and deletes)")
    e2e.add_argument("--event-warmup", type=int, default=5, help="untimed create/delete pairs")
    e2e.add_argument("--gap", type=float, default=0.1, help="seconds between two changes")
    e2e.add_argument(
        "--event-timeout", type=float, default=30.0, help="seconds for a change to reach all"
    )
    args = parser.parse_args()
    print(versions(), flush=True)
    with Children() as children:
        try:
            if args.only in (None, "tick"):
                plan = TickPlan(
                    args.topics,
                    args.partitions,
                    args.groups,
                    args.ticks,
                    args.tick_warmup,
                    args.seed,
                    args.freeze,
                )
                print(
                    f"tick: setting up {plan.topics:,} topics and {plan.groups:,} groups",
                    flush=True,
                )
                report_ticks(plan, run_ticks(children, plan))
            if args.only in (None, "e2e"):
                if args.only is None:
                    print()
                print(f"e2e: starting the console server and {args.clients:,} clients", flush=True)
                report_e2e(args, run_e2e(children, args))
        except KeyboardInterrupt:
            print("interrupted; stopping the server and the clients", file=sys.stderr)
            children.stop_all()
            sys.exit(130)


if __name__ == "__main__":
    main()
