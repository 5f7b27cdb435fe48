"""The collector: one ``metrics.snapshot`` per interval, and every change as an event.

Each tick reads the engine once (:meth:`ClusterEngine.state` and
:meth:`ClusterEngine.take_latency`), then, in this order:

1. diffs the engine's topics and groups against what the collector last knew and
   publishes ``topic.created/deleted/updated`` and ``group.updated`` with
   ``source: detected`` for changes made by any other tool;
2. builds and publishes the snapshot (rates over the measured interval, latency
   percentiles of the interval, health, per-topic and per-group figures);
3. publishes ``group.status_changed`` for every group whose Burrow status changed
   and ``cluster.health_changed`` when the cluster's status changed.

Changes made through the console's API go through :meth:`Collector.create_topic`
and :meth:`Collector.delete_topic`: the event is published at once with
``source: api`` and the collector's knowledge is updated, so the next tick's diff
does not announce the change a second time. Ticks and API changes take one lock,
so a tick never diffs a state read before a change against knowledge updated
after it.

The loop is supervised: an exception in one tick is logged and counted, and the
next tick runs on schedule. :meth:`Collector.fresh` tells ``/healthz`` whether a
tick succeeded recently.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import get_args

from console_live_updates import (
    ChangeSource,
    ClusterHealthChanged,
    GroupChange,
    GroupStatusChanged,
    GroupUpdated,
    HealthStatus,
    TopicCreated,
    TopicDeleted,
    TopicInfo,
    TopicUpdated,
)
from console_live_updates import GroupState as GroupStateName
from prometheus_client import Counter, Histogram
from pydantic import BaseModel

from specwire.console.analysis import SnapshotBuilder, StatusChange, group_state
from specwire.console.engine import (
    ClusterEngine,
    ClusterState,
    CommittedOffset,
    GroupState,
    TopicState,
)
from specwire.runtime.hub import Hub, Position

__all__ = ["Collector", "topic_info"]

log = logging.getLogger("specwire.console.collector")

STALE_AFTER_TICKS = 3
"""``/healthz`` turns 503 when no tick succeeded for this many intervals."""


def topic_info(topic: TopicState) -> TopicInfo:
    """A topic's definition as the protocol carries it."""
    return TopicInfo(
        name=topic.name,
        partitions=len(topic.partitions),
        replication_factor=topic.replication_factor,
        config=dict(topic.config),
    )


@dataclass(frozen=True, slots=True)
class _GroupView:
    """What group events are diffed on."""

    state: GroupStateName
    members: frozenset[str]
    offsets: Mapping[tuple[str, int], CommittedOffset]
    """The engine's own (immutable) mapping: not copied."""


def _group_view(group: GroupState) -> _GroupView:
    return _GroupView(
        group_state(group.state, len(group.members)),
        frozenset(m.member_id for m in group.members),
        group.offsets,
    )


def _rewound(
    before: Mapping[tuple[str, int], CommittedOffset],
    after: Mapping[tuple[str, int], CommittedOffset],
) -> bool:
    """Whether any committed offset moved backwards."""
    if before is after:
        return False
    get = before.get
    for key, committed in after.items():
        old = get(key)
        if old is not None and committed.offset < old.offset:
            return True
    return False


def _topic_changes(old: TopicInfo, new: TopicInfo) -> list[str]:
    changes = []
    if old.partitions != new.partitions:
        changes.append(f"partitions: {old.partitions} -> {new.partitions}")
    if old.replication_factor != new.replication_factor:
        changes.append(f"replication_factor: {old.replication_factor} -> {new.replication_factor}")
    for key in sorted(old.config.keys() | new.config.keys()):
        before, after = old.config.get(key), new.config.get(key)
        if before != after:
            changes.append(f"config {key}: {before or '(default)'} -> {after or '(default)'}")
    return changes


class Collector:
    """Reads ``engine`` every ``interval_s`` and publishes what it sees through ``hub``."""

    def __init__(
        self,
        hub: Hub,
        engine: ClusterEngine,
        *,
        interval_s: float = 2.0,
        window: int = 10,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if interval_s <= 0:
            raise ValueError("interval_s must be positive")
        self.hub = hub
        self.engine = engine
        self.interval_s = interval_s
        self.clock = clock
        self.builder = SnapshotBuilder(window)
        self.lock = asyncio.Lock()
        self.topics: dict[str, TopicInfo] | None = None
        """Topics as last announced; ``None`` until the first tick."""
        self._infos: dict[str, tuple[tuple[int, int, Mapping[str, str]], TopicInfo]] = {}
        self.groups: dict[str, _GroupView] | None = None
        self.health: HealthStatus | None = None
        self.last_success: float | None = None
        """``time.monotonic()`` of the last tick that succeeded."""
        self.ticks = 0
        self.failures = 0
        registry = hub.metrics.registry
        self._ticks = Counter(
            "collector_ticks",
            "Collector ticks, by result (ok, failed).",
            ["result"],
            namespace="specwire",
            registry=registry,
        )
        self._tick_seconds = Histogram(
            "collector_tick_seconds",
            "Time one collector tick took: read the engine, diff, build and publish.",
            namespace="specwire",
            registry=registry,
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0),
        )
        self._events = Counter(
            "collector_events",
            "Change events published, by type and source (api, detected, collector).",
            ["type", "source"],
            namespace="specwire",
            registry=registry,
        )

    # -- the loop ----------------------------------------------------------------------

    async def run(self, first_after: float = 0.0) -> None:
        """Tick every ``interval_s`` until cancelled; a failed tick never stops the loop.

        The first tick comes ``first_after`` seconds from now (after one made by hand).
        """
        loop = asyncio.get_running_loop()
        due = loop.time() + first_after
        while True:
            if due > loop.time():
                await asyncio.sleep(due - loop.time())
            await self.tick_supervised()
            due += self.interval_s
            now = loop.time()
            if due < now:  # a tick overran: skip the ticks missed rather than bunch them
                due = now + self.interval_s - (now - due) % self.interval_s

    async def tick_supervised(self) -> bool:
        """One tick; an exception is logged and counted instead of raised."""
        started = time.perf_counter()
        try:
            await self.tick()
        except Exception:
            self.failures += 1
            self._ticks.labels("failed").inc()
            log.exception("collector tick failed (%d failures so far)", self.failures)
            return False
        self._ticks.labels("ok").inc()
        self._tick_seconds.observe(time.perf_counter() - started)
        return True

    def fresh(self) -> bool:
        """Whether a tick succeeded within the last few intervals."""
        if self.last_success is None:
            return False
        return time.monotonic() - self.last_success <= STALE_AFTER_TICKS * self.interval_s

    async def tick(self) -> bytes:
        """Read the engine, publish the changes and the snapshot; returns the snapshot's JSON.

        Python's cyclic garbage collector is paused while the tick runs, then its
        youngest generation is collected once. A large snapshot allocates tens of
        thousands of objects that live until the next tick; collected as they are
        made (every 700 allocations), they would be scanned again and again and
        pushed into full collections of the whole heap: at 1,000 topics and 500
        groups that doubled the tick's time.
        """
        paused = gc.isenabled()
        gc.disable()
        try:
            return await self._tick()
        finally:
            if paused:
                gc.enable()
                gc.collect(0)

    def _rejected(self, published: list[bytes]) -> bool:
        """Whether the hub refused the snapshot just built (it holds the last one it took)."""
        latest = self.hub.snapshots["metrics"].latest
        return latest is None or latest.frame is not published[-1]

    async def _tick(self) -> bytes:
        async with self.lock:
            state = await self.engine.state()
            latency = await self.engine.take_latency()
            self._detect_topics(state)
            self._detect_groups(state)
            published: list[bytes] = []

            def snapshot(position: Position) -> bytes:
                published.append(
                    self.builder.build_json(state, latency, epoch=position.epoch, seq=position.seq)
                )
                return published[-1]

            # Encoded by the builder, validated once by the hub as it goes on the wire; no
            # model of it outlives the publish.
            if self.hub.publish("metrics", snapshot) == 0 and self._rejected(published):
                raise RuntimeError("the snapshot is invalid and was not published (see the log)")
            self._status_events(state)
            self._health_event(state)
            self.ticks += 1
            self.last_success = time.monotonic()
            self.hub.metrics.collector_ticked(self.clock())
            return published[-1]

    # -- API changes ---------------------------------------------------------------------

    async def create_topic(
        self,
        name: str,
        partitions: int,
        replication_factor: int | None = None,
        config: Mapping[str, str] | None = None,
    ) -> TopicState:
        """Create a topic through the engine and announce it at once (``source: api``)."""
        async with self.lock:
            topic = await self.engine.create_topic(name, partitions, replication_factor, config)
            info = topic_info(topic)
            if self.topics is not None:
                self.topics[name] = info
            self._topic_created(info, self._now_ms(), "api")
            return topic

    async def delete_topic(self, name: str) -> None:
        """Delete a topic through the engine and announce it at once (``source: api``)."""
        async with self.lock:
            await self.engine.delete_topic(name)
            if self.topics is not None:
                self.topics.pop(name, None)
            self._topic_deleted(name, self._now_ms(), "api")

    # -- change detection ----------------------------------------------------------------

    def _detect_topics(self, state: ClusterState) -> None:
        current = self._topic_infos(state)
        known, self.topics = self.topics, current
        if known is None:
            return  # the first tick is the baseline
        at = state.taken_at_ms
        for name in sorted(known.keys() - current.keys()):
            self._topic_deleted(name, at, "detected")
        for name in sorted(current.keys() - known.keys()):
            self._topic_created(current[name], at, "detected")
        for name in sorted(current.keys() & known.keys()):
            before, after = known[name], current[name]
            if before is after:
                continue  # the cached definition: nothing changed
            changes = _topic_changes(before, after)
            if changes:
                self._topic_updated(after, changes, at)

    def _topic_created(self, info: TopicInfo, at: int, source: ChangeSource) -> None:
        self._event(TopicCreated, at, source, topic=info, source=source)

    def _topic_updated(self, info: TopicInfo, changes: list[str], at: int) -> None:
        self._event(TopicUpdated, at, "detected", topic=info, changes=changes, source="detected")

    def _topic_infos(self, state: ClusterState) -> dict[str, TopicInfo]:
        """Each topic's definition; a model is built only for a topic new or changed."""
        cache = self._infos
        current: dict[str, TopicInfo] = {}
        for topic in state.topics:
            key = (len(topic.partitions), topic.replication_factor, topic.config)
            cached = cache.get(topic.name)
            if cached is None or cached[0] != key:
                cached = cache[topic.name] = (key, topic_info(topic))
            current[topic.name] = cached[1]
        if len(cache) > len(current):
            for name in cache.keys() - current.keys():
                del cache[name]
        return current

    def _topic_deleted(self, name: str, at: int, source: ChangeSource) -> None:
        self._event(TopicDeleted, at, source, name=name, source=source)

    def _detect_groups(self, state: ClusterState) -> None:
        current = {g.group_id: _group_view(g) for g in state.groups}
        known, self.groups = self.groups, current
        if known is None:
            return
        at = state.taken_at_ms
        for group_id in sorted(known.keys() | current.keys()):
            before, after = known.get(group_id), current.get(group_id)
            if before is None and after is not None:
                self._group_event(group_id, "created", after, at)
                for member in sorted(after.members):
                    self._group_event(group_id, "member_joined", after, at, member=member)
                continue
            if after is None or before is None:
                self._group_event(group_id, "deleted", _GroupView("Dead", frozenset(), {}), at)
                continue
            for member in sorted(before.members - after.members):
                self._group_event(group_id, "member_left", after, at, member=member)
            for member in sorted(after.members - before.members):
                self._group_event(group_id, "member_joined", after, at, member=member)
            if before.state != after.state:
                self._group_event(group_id, "state_changed", after, at, previous=before.state)
            if _rewound(before.offsets, after.offsets):
                self._group_event(group_id, "offsets_reset", after, at)

    def _group_event(
        self,
        group_id: str,
        change: GroupChange,
        view: _GroupView,
        at: int,
        *,
        member: str | None = None,
        previous: GroupStateName | None = None,
    ) -> None:
        self._event(
            GroupUpdated,
            at,
            "detected",
            group_id=group_id,
            change=change,
            state=view.state,
            members=len(view.members),
            member_id=member,
            previous_state=previous,
        )

    # -- collector events ----------------------------------------------------------------

    def _status_events(self, state: ClusterState) -> None:
        for change in self.builder.status_changes:
            self._status_changed(change, state.taken_at_ms)

    def _status_changed(self, change: StatusChange, at: int) -> None:
        self._event(
            GroupStatusChanged,
            at,
            "collector",
            group_id=change.group_id,
            status=change.status,
            previous_status=change.previous,
            total_lag=change.total_lag,
            reason=change.reason,
        )

    def _health_event(self, state: ClusterState) -> None:
        health = self.builder.health
        if health is None:
            return
        previous, self.health = self.health, health.status
        if previous is None or previous == health.status:
            return
        self._event(
            ClusterHealthChanged,
            state.taken_at_ms,
            "collector",
            status=health.status,
            previous_status=previous,
            reasons=list(health.reasons),
            brokers_online=health.brokers_online,
            brokers_expected=health.brokers_expected,
        )

    def _event(self, model: type[BaseModel], at: int, origin: str, **fields: object) -> None:
        """Publish one event of type ``model`` on its channel, numbered as it is published.

        ``origin`` labels the events metric (api, detected, collector). ``fields`` are
        the event's own; one given as ``None`` is left out (no event field is
        nullable; optional ones are absent).
        """
        tag = get_args(model.model_fields["type"].annotation)[0]
        channel = get_args(model.model_fields["channel"].annotation)[0]
        given = {name: value for name, value in fields.items() if value is not None}

        def build(p: Position) -> BaseModel:
            return model.model_validate(
                {
                    "type": tag,
                    "channel": channel,
                    "epoch": p.epoch,
                    "seq": p.seq,
                    "timestamp_ms": at,
                    **given,
                }
            )

        history = self.hub.events[channel]
        numbered = history.last_seq
        self.hub.publish(channel, build)
        if history.last_seq > numbered:  # published (an invalid event is logged, not sent)
            self._events.labels(tag, origin).inc()

    def _now_ms(self) -> int:
        return int(self.clock() * 1000)
