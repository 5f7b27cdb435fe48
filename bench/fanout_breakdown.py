"""Where one fan-out's time goes: the same hub connections, written to in several ways.

A diagnostic for ``bench/fanout.py``. One hub server (pinned to CPU 0) holds N live
connections from the raw load client (pinned to CPU 1), all subscribed to
``metrics``. The server then times single synchronous calls that each reach every
connection once, in shuffled order, each after 10 ms of busy-waiting (the core stays
awake; its caches hold what the rest of the process left there, as in a real
server), and reports the median per delivery:

* ``os.write``: one ``os.write(fd, frame)`` per socket: the kernel's loopback send
  with no check at all, the floor for any design;
* ``write``: ``transport.write(frame)`` on each asyncio transport, with no check:
  the kernel plus asyncio;
* ``offer``: ``WebsocketsTransport.offer()`` for each client: the checks that keep
  it safe (connection open, transport not closing and with nothing buffered), then
  the same ``os.write``;
* ``hub.publish``: the whole publish (validation and encoding once, then the hub's
  bookkeeping and ``offer`` for each client);
* ``broadcast()``: ``websockets.asyncio.server.broadcast()`` to the same connections;
* ``validate + encode``: ``encode_outbound()`` alone, once per publish, shown per
  delivery.

Run: ``.venv/bin/python bench/fanout_breakdown.py --clients 100,1000,5000``
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import sys
import time
from collections.abc import Callable
from multiprocessing.connection import Connection

from fanout import PLAIN_EPOCH, Load, client_process
from harness import (
    SERVER_CPU,
    AsyncPipe,
    Children,
    encoded_snapshots,
    expect,
    prepare_child,
    run_child,
    snapshot_factory,
    snapshot_template,
    start_hub,
)
from websockets.asyncio.server import broadcast

from specwire.protocol import encode_outbound
from specwire.runtime.hub import Position, PreparedFrame, unmasked_text_frame
from specwire.runtime.transports.native import WebsocketsTransport

VARIANTS = (
    "os.write",
    "write",
    "offer",
    "hub.publish",
    "broadcast()",
    "validate + encode",
)
AWAKE_S = 0.01


def spin(seconds: float) -> None:
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        pass


async def breakdown(ctrl: Connection, acks: Connection, trials: int) -> None:
    pipe = AsyncPipe(ctrl)
    loop = asyncio.get_running_loop()

    def drop_acks() -> None:
        try:
            while acks.poll():
                acks.recv()
        except (EOFError, OSError):  # the client process is gone
            loop.remove_reader(acks.fileno())

    loop.add_reader(acks.fileno(), drop_acks)
    hub, native = await start_hub()
    template = snapshot_template()
    build = snapshot_factory(template)
    pipe.send({"op": "listening", "port": native.port, "path": native.path})
    if (command := await pipe.recv()) is None or command["op"] != "go":
        return
    transports = [c.transport for c in hub.clients.values()]
    wrappers = [t for t in transports if isinstance(t, WebsocketsTransport)]
    connections = [w.connection for w in wrappers]
    frames = iter(encoded_snapshots(template, trials * 5, PLAIN_EPOCH))
    seqs = iter(range(10**6, 10**7))

    def fresh() -> PreparedFrame:
        data = next(frames).encode()
        return PreparedFrame(data, unmasked_text_frame(data))

    descriptors = [w.connection.transport.get_extra_info("socket").fileno() for w in wrappers]

    def raw_write() -> float:
        wire = fresh().frame or b""
        write = os.write
        started = time.perf_counter()
        for fd in descriptors:
            write(fd, wire)
        return time.perf_counter() - started

    def write() -> float:
        wire = fresh().frame or b""
        started = time.perf_counter()
        for connection in connections:
            connection.transport.write(wire)
        return time.perf_counter() - started

    def offer() -> float:
        prepared = fresh()
        started = time.perf_counter()
        for wrapper in wrappers:
            wrapper.offer(prepared)
        return time.perf_counter() - started

    def publish() -> float:
        started = time.perf_counter()
        hub.publish("metrics", build)
        return time.perf_counter() - started

    def plain_broadcast() -> float:
        message = next(frames)
        started = time.perf_counter()
        broadcast(connections, message)
        return time.perf_counter() - started

    def validate_encode() -> float:
        message = build(Position(hub.epoch, next(seqs)))
        started = time.perf_counter()
        encode_outbound(hub.binding, message)
        return (time.perf_counter() - started) / len(connections)  # once per publish

    variants: dict[str, Callable[[], float]] = dict(
        zip(
            VARIANTS,
            (raw_write, write, offer, publish, plain_broadcast, validate_encode),
            strict=True,
        )
    )
    times: dict[str, list[float]] = {name: [] for name in VARIANTS}
    order = list(VARIANTS)
    for _ in range(trials):
        random.shuffle(order)
        for name in order:
            spin(AWAKE_S)
            await asyncio.sleep(0)  # let the loop flush and read what it must
            times[name].append(variants[name]())
    clients = len(connections)
    per_delivery = {
        name: statistics.median(t) * 1e6 / (1 if name == "validate + encode" else clients)
        for name, t in times.items()
    }
    pipe.send({"op": "result", "us": per_delivery, "clients": clients})
    await pipe.recv()


def server_process(ctrl: Connection, acks: Connection, trials: int) -> None:
    prepare_child(SERVER_CPU)
    run_child(ctrl, lambda: breakdown(ctrl, acks, trials))


def measure(children: Children, clients: int, trials: int) -> dict[str, float]:
    server_ctrl, server_end = children.pipe()
    ack_reader, ack_writer = children.pipe(duplex=False)
    server = children.start(server_process, server_end, ack_reader, trials)
    server_end.close()
    ack_reader.close()
    listening = expect(server_ctrl, 60, "server listening")
    client_ctrl, client_end = children.pipe()
    plan = Load("raw", "hub", listening["port"], listening["path"], clients)
    load = children.start(client_process, plan, client_end, ack_writer)
    client_end.close()
    ack_writer.close()
    try:
        expect(client_ctrl, 60 + clients / 50, f"{clients} clients ready")
        server_ctrl.send({"op": "go"})
        result = expect(server_ctrl, 120 + trials * clients / 5000, "breakdown")
    except BaseException:
        children.stop_all()
        raise
    children.retire((client_ctrl, load), (server_ctrl, server))
    us: dict[str, float] = result["us"]
    return us


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", default="100,1000,5000", help="comma-separated N")
    parser.add_argument("--trials", type=int, default=150, help="calls timed per variant")
    args = parser.parse_args()
    counts = [int(n) for n in args.clients.split(",")]
    results: dict[int, dict[str, float]] = {}
    with Children() as children:
        try:
            for clients in counts:
                results[clients] = measure(children, clients, args.trials)
                print(f"N={clients}: {results[clients]}", flush=True)
        except KeyboardInterrupt:
            print("interrupted; stopping the server and client", file=sys.stderr)
            children.stop_all()
            sys.exit(130)
    print()
    print("| µs per delivery (median) | " + " | ".join(f"N={n:,}" for n in counts) + " |")
    print("|---|" + "---:|" * len(counts))
    for name in VARIANTS:
        cells = " | ".join(f"{results[n][name]:.2f}" for n in counts)
        print(f"| {name} | {cells} |")
    cells = " | ".join(
        f"{results[n]['broadcast()'] / results[n]['hub.publish']:.2f}x" for n in counts
    )
    print(f"| broadcast() / hub.publish | {cells} |")


if __name__ == "__main__":
    main()
