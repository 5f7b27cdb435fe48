"""Leak check: many connect/subscribe/disconnect cycles against one hub server.

One hub server (native transport, default configuration, pinned to CPU 0) publishes
a ``metrics.snapshot`` every ``--publish-every-ms`` while one raw-socket client
process (pinned to CPU 1) runs cycles, ``--concurrency`` at a time: connect, receive
``welcome``, subscribe to all four channels, receive ``subscribed``, then leave.
Even cycles leave with a clean closing handshake (close 1000, then the server ends
the TCP connection); odd cycles abort the TCP connection with a reset
(``SO_LINGER`` 0), as a crashed browser or a dropped network path would. Snapshots
published while a client connects, subscribes or is being reset exercise the send
path of connections that are going away.

The baseline is taken after ``--warm-up`` cycles; then ``--cycles`` cycles run in
``--checkpoints`` parts. At the baseline and after each part, once the server holds
no connection and after a full garbage collection in the server, the coordinator
reads the server's RSS (``/proc/<pid>/status``) and open file descriptors
(``/proc/<pid>/fd``) and the server reports ``len(asyncio.all_tasks())``.

Clean means: RSS within 5% of the baseline, file descriptors and tasks back to the
baseline.

Run: ``.venv/bin/python bench/leak_check.py --cycles 20000``
"""

from __future__ import annotations

import argparse
import platform
import sys
from typing import Any

import websockets
from harness import Children, client_driver_process, expect, report_server_process, settle

RSS_TOLERANCE = 0.05


def row(label: str, cycles: int, figures: dict[str, Any], baseline: dict[str, Any]) -> str:
    growth = figures["rss_kib"] / baseline["rss_kib"] - 1
    return (
        f"| {label} | {cycles:,} | {figures['rss_kib'] / 1024:.1f} | {growth:+.1%}"
        f" | {figures['fds']} | {figures['tasks']} |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cycles", type=int, default=20_000)
    parser.add_argument("--warm-up", type=int, default=1_000)
    parser.add_argument("--checkpoints", type=int, default=4)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--publish-every-ms", type=float, default=20.0)
    args = parser.parse_args()
    print(
        f"python {platform.python_version()}, websockets {websockets.version.version},"
        f" asyncio default loop; {args.warm_up:,} warm-up + {args.cycles:,} cycles,"
        f" {args.concurrency} at a time; a snapshot every {args.publish_every_ms:g} ms",
        flush=True,
    )
    with Children() as children:
        try:
            clean = check(children, args)
        except KeyboardInterrupt:
            print("interrupted; stopping the server and client", file=sys.stderr)
            children.stop_all()
            sys.exit(130)
    sys.exit(0 if clean else 1)


def check(children: Children, args: argparse.Namespace) -> bool:
    server_ctrl, server_end = children.pipe()
    server = children.start(report_server_process, "hub", server_end, args.publish_every_ms / 1000)
    server_end.close()
    listening = expect(server_ctrl, 60, "server listening")
    pid = listening["pid"]
    client_ctrl, client_end = children.pipe()
    load = children.start(
        client_driver_process, "hub", listening["port"], listening["path"], client_end
    )
    client_end.close()
    done = 0
    totals = {"clean": 0, "reset": 0, "failed": 0}

    def run_cycles(count: int) -> None:
        nonlocal done
        client_ctrl.send(
            {"op": "cycles", "first": done, "count": count, "concurrency": args.concurrency}
        )
        outcome = expect(client_ctrl, 600 + count / 10, f"{count} cycles")
        for key in totals:
            totals[key] += outcome[key]
        done += count
        print(
            f"  {done:,} cycles: {outcome['clean']} clean, {outcome['reset']} reset,"
            f" {outcome['failed']} failed, {count / outcome['seconds']:.0f} cycles/s",
            flush=True,
        )

    try:
        run_cycles(args.warm_up)
        baseline = settle(server_ctrl, pid, 0)
        rows = [row("baseline (after warm-up)", done, baseline, baseline)]
        part = args.cycles // args.checkpoints
        last = baseline
        for index in range(args.checkpoints):
            count = part if index < args.checkpoints - 1 else args.cycles - part * index
            run_cycles(count)
            last = settle(server_ctrl, pid, 0)
            rows.append(row(f"after {done - args.warm_up:,} cycles", done, last, baseline))
    except BaseException:
        children.stop_all()  # at once: a child busy connecting reads no command
        raise
    children.retire((client_ctrl, load), (server_ctrl, server))

    print()
    print("| when | cycles so far | RSS (MiB) | RSS vs baseline | open fds | asyncio tasks |")
    print("|---|---:|---:|---:|---:|---:|")
    for line in rows:
        print(line)
    growth = last["rss_kib"] / baseline["rss_kib"] - 1
    verdicts = {
        f"RSS {growth:+.1%} (limit +{RSS_TOLERANCE:.0%})": growth <= RSS_TOLERANCE,
        f"fds {baseline['fds']} -> {last['fds']}": last["fds"] <= baseline["fds"],
        f"tasks {baseline['tasks']} -> {last['tasks']}": last["tasks"] <= baseline["tasks"],
        f"{totals['failed']} failed cycles": totals["failed"] == 0,
    }
    print()
    for what, ok in verdicts.items():
        print(f"{'ok  ' if ok else 'FAIL'} {what}")
    print(
        f"{totals['clean']:,} clean closes and {totals['reset']:,} resets in all;"
        f" {'clean' if all(verdicts.values()) else 'NOT clean'}"
    )
    return all(verdicts.values())


if __name__ == "__main__":
    main()
