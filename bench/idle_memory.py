"""Idle memory: the server's RSS per idle connection, hub against a plain websockets server.

For each N and each run, two servers are measured the same way, each in a fresh
process pinned to CPU 0:

* ``hub``: the specwire hub on its native transport; every client subscribes to
  all four channels (``metrics``, ``topics``, ``groups``, ``cluster``); nothing is
  published;
* ``plain``: a plain ``websockets.asyncio.server`` configured as the native transport
  configures it (compression off, same keepalive), whose handler keeps each
  connection in a set and reads what it sends.

Method: a warm-up of 200 connections is opened (and subscribed) then closed, so that
what the first connections allocate once is not counted. Then, with no connection
open, after a full garbage collection in the server, its RSS is read from
``/proc/<pid>/status`` ("before"); N connections are opened by one raw-socket client
process pinned to CPU 1 and, once the server holds all N and after another full
collection, RSS is read again ("after"). Per connection: (after - before) / N, in
KiB. Each figure is the median of ``--runs`` runs.

Run: ``.venv/bin/python bench/idle_memory.py --clients 1000,10000 --runs 3``
"""

from __future__ import annotations

import argparse
import platform
import statistics
import sys
from dataclasses import dataclass

import websockets
from harness import Children, client_driver_process, expect, report_server_process, settle

MODES = ("hub", "plain")
WARM_UP = 200
TARGET_KIB = 18.0


@dataclass
class Sample:
    mode: str
    clients: int
    before_kib: int
    after_kib: int
    tasks: float
    """Live asyncio tasks per connection."""
    fds: float
    """Open file descriptors per connection."""
    connect_s: float

    @property
    def per_connection_kib(self) -> float:
        return (self.after_kib - self.before_kib) / self.clients


def measure_once(children: Children, mode: str, clients: int) -> Sample:
    server_ctrl, server_end = children.pipe()
    server = children.start(report_server_process, mode, server_end)
    server_end.close()
    listening = expect(server_ctrl, 60, "server listening")
    pid = listening["pid"]
    client_ctrl, client_end = children.pipe()
    load = children.start(
        client_driver_process, mode, listening["port"], listening["path"], client_end
    )
    client_end.close()
    try:
        client_ctrl.send({"op": "open", "count": WARM_UP})
        expect(client_ctrl, 120, "warm-up connections")
        client_ctrl.send({"op": "close"})
        expect(client_ctrl, 120, "warm-up closed")
        before = settle(server_ctrl, pid, 0)
        client_ctrl.send({"op": "open", "count": clients})
        opened = expect(client_ctrl, 120 + clients / 20, f"{clients} connections")
        after = settle(server_ctrl, pid, clients)
    except BaseException:
        children.stop_all()  # at once: a child busy connecting reads no command
        raise
    children.retire((client_ctrl, load), (server_ctrl, server))
    return Sample(
        mode=mode,
        clients=clients,
        before_kib=before["rss_kib"],
        after_kib=after["rss_kib"],
        tasks=(after["tasks"] - before["tasks"]) / clients,
        fds=(after["fds"] - before["fds"]) / clients,
        connect_s=opened["seconds"],
    )


def describe(sample: Sample, run: int) -> str:
    return (
        f"run {run + 1} N={sample.clients:<6} {sample.mode:<5}"
        f" RSS {sample.before_kib / 1024:6.1f} -> {sample.after_kib / 1024:6.1f} MiB"
        f" = {sample.per_connection_kib:5.1f} KiB/connection"
        f" | {sample.tasks:.2f} tasks, {sample.fds:.2f} fds per connection"
        f" | opened in {sample.connect_s:.1f} s"
    )


def report(samples: list[tuple[int, Sample]], counts: list[int]) -> None:
    print()
    print("| N | server | RSS before (MiB) | RSS after (MiB) | per connection (KiB) | tasks/conn |")
    print("|---:|---|---:|---:|---:|---:|")
    medians: dict[tuple[str, int], float] = {}
    for clients in counts:
        for mode in MODES:
            chosen = [s for _, s in samples if s.mode == mode and s.clients == clients]
            if not chosen:
                continue
            per = statistics.median(s.per_connection_kib for s in chosen)
            medians[mode, clients] = per
            before = statistics.median(s.before_kib for s in chosen) / 1024
            after = statistics.median(s.after_kib for s in chosen) / 1024
            tasks = statistics.median(s.tasks for s in chosen)
            print(
                f"| {clients:,} | {mode} | {before:.1f} | {after:.1f} | {per:.1f} | {tasks:.2f} |"
            )
    print()
    for clients in counts:
        if ("hub", clients) in medians and ("plain", clients) in medians:
            hub, plain = medians["hub", clients], medians["plain", clients]
            verdict = "meets" if hub <= TARGET_KIB else "misses"
            print(
                f"N={clients:,}: hub {hub:.1f} KiB/connection, plain websockets {plain:.1f}"
                f" (hub/plain {hub / plain:.2f}x, +{hub - plain:.1f} KiB);"
                f" {verdict} the <= {TARGET_KIB:.0f} KiB target"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", default="1000,10000", help="comma-separated N")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    counts = [int(n) for n in args.clients.split(",")]
    print(
        f"python {platform.python_version()}, websockets {websockets.version.version},"
        f" asyncio default loop, compression off; warm-up {WARM_UP}; {args.runs} runs",
        flush=True,
    )
    samples: list[tuple[int, Sample]] = []
    with Children() as children:
        try:
            for run in range(args.runs):
                for clients in counts:
                    for mode in MODES if run % 2 == 0 else MODES[::-1]:
                        sample = measure_once(children, mode, clients)
                        samples.append((run, sample))
                        print(describe(sample, run), flush=True)
        except KeyboardInterrupt:
            print("interrupted; stopping the servers and clients", file=sys.stderr)
            children.stop_all()
            sys.exit(130)
    report(samples, counts)


if __name__ == "__main__":
    main()
