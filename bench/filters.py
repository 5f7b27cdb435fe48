"""Cost of one filtered subscriber's copy of a large snapshot, by the number of patterns.

The hub narrows a ``metrics.snapshot`` once per distinct subscription filter and
publish (``refine_snapshot`` + encode). This builds the snapshot the collector
publishes for ``TrafficPlan.scaled(--topics, --partitions, --groups)`` (the same set-up
as ``bench/console.py --only tick``), then times narrowing it for filters of 1, 8 and
64 topic patterns and as many group patterns, none of which match (so that the cost
is the matching, not the encoding of what is kept): with the compiled matcher the hub
uses (``glob_matcher``, one regular expression per filter) and with one
``fnmatch.fnmatchcase`` call per pattern, as before.

Run: ``.venv/bin/python bench/filters.py`` (it pins itself to CPU 0). Prints the
median of ``--repeat`` timings in ms, after one untimed call (which compiles the
expression).
"""

from __future__ import annotations

import argparse
import asyncio
import fnmatch
import os
import statistics
import sys
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from console import FakeClock, versions
from console_live_updates import MetricsSnapshot, SubscriptionFilter
from pydantic import BaseModel

from specwire.console.analysis import DEFAULT_WINDOW
from specwire.console.collector import Collector
from specwire.console.embedded import EmbeddedEngine
from specwire.console.traffic import TrafficGenerator, TrafficPlan
from specwire.protocol import decode_outbound, encode_outbound
from specwire.runtime.console import create_console_hub, refine_snapshot


def per_pattern(message: BaseModel, filter_: Any) -> BaseModel:
    """The previous narrowing: one ``fnmatchcase`` call per pattern and name."""
    if not isinstance(message, MetricsSnapshot) or not isinstance(filter_, SubscriptionFilter):
        raise TypeError("a MetricsSnapshot and a SubscriptionFilter")

    def keep(name: str, patterns: object) -> bool:
        if not isinstance(patterns, list):  # absent: everything
            return True
        return any(fnmatch.fnmatchcase(name, p) for p in patterns)

    return message.model_copy(
        update={
            "topics": [t for t in message.topics if keep(t.name, filter_.topics)],
            "groups": [g for g in message.groups if keep(g.group_id, filter_.groups)],
        }
    )


async def large_snapshot(topics: int, partitions: int, groups: int) -> tuple[Any, BaseModel]:
    clock = FakeClock(time.time())
    engine = EmbeddedEngine(brokers=3, seed=1, clock=clock)
    plan = TrafficPlan.scaled(topics=topics, partitions=partitions, groups=groups)
    generator = TrafficGenerator(engine, seed=1, plan=plan)
    await generator.setup()
    hub = create_console_hub()
    collector = Collector(hub, engine, interval_s=2.0, window=DEFAULT_WINDOW, clock=clock)
    data = b""
    for _ in range(3):
        clock.advance(2.0)
        generator.step(2.0)
        data = await collector.tick()
    return hub.binding, decode_outbound(hub.binding, data)


def narrowed(
    binding: Any, refine: Callable[[BaseModel, Any], BaseModel | None], snapshot: BaseModel, f: Any
) -> bytes:
    kept = refine(snapshot, f)
    return encode_outbound(binding, kept) if kept is not None else b""


def timed(call: Callable[[], object], repeat: int) -> float:
    call()  # untimed: compiles the expression once, as the first publish does
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        call()
        samples.append(time.perf_counter() - started)
    return statistics.median(samples) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--topics", type=int, default=1000)
    parser.add_argument("--partitions", type=int, default=6)
    parser.add_argument("--groups", type=int, default=500)
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {0})
    print(versions())
    binding, snapshot = asyncio.run(large_snapshot(args.topics, args.partitions, args.groups))
    if not isinstance(snapshot, MetricsSnapshot):
        raise TypeError("the collector did not publish a MetricsSnapshot")
    print(
        f"\n{len(snapshot.topics):,} topics and {len(snapshot.groups):,} groups;"
        f" median of {args.repeat} (ms), narrowing and encoding one filtered copy\n"
    )
    print("| patterns (topics + groups) | compiled matcher | one `fnmatchcase` per pattern |")
    print("|---:|---:|---:|")
    for count in (1, 8, 64):
        filter_ = SubscriptionFilter(
            topics=[f"zz{i}.*-x?" for i in range(count)],
            groups=[f"qq{i}-*" for i in range(count)],
        )
        ours = timed(partial(narrowed, binding, refine_snapshot, snapshot, filter_), args.repeat)
        before = timed(partial(narrowed, binding, per_pattern, snapshot, filter_), args.repeat)
        print(f"| {count} + {count} | {ours:.2f} | {before:.2f} |")


if __name__ == "__main__":
    main()
