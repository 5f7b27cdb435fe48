"""The embedded cluster engine: an in-process model of a Kafka-like streaming cluster.

:class:`EmbeddedEngine` keeps brokers, topics, partitions, consumer groups and
traffic counters in memory and changes them synchronously: an async call never
awaits anything that yields, so one :meth:`EmbeddedEngine.state` is one instant.
Clients (the traffic generator, tests) drive it through the synchronous
operations :meth:`~EmbeddedEngine.produce`, :meth:`~EmbeddedEngine.fetch`,
:meth:`~EmbeddedEngine.commit`, group membership and broker stops and starts.

What it models, after Kafka:

* **Placement.** Replicas are placed round robin over the broker ids from a seeded
  random start index, the second replica shifted per round (Kafka's rack-unaware
  assignment). The leader is the first online replica; the ISR is the online
  replicas. Stopping a broker removes it from every ISR and moves leadership to the
  next in-sync replica, or leaves the partition offline (``leader=None``); starting
  it again puts it back in the ISR at once (it catches up instantly here) and gives
  offline partitions a leader.
* **Logs.** A partition's log is a deque of segments (end offset, bytes, first and
  last timestamp). A produce appends to the newest segment until it is a bounded
  slice of the retention budget old or large, then rolls a new one, so memory
  stays bounded for long runs. Retention deletes the oldest segments while
  ``retention.bytes`` is exceeded (never the active segment, as in Kafka) or when
  their newest message is older than ``retention.ms`` (7 days by default), moving
  the log start offset and the retained size.
* **Groups.** Members join with a subscription; every join and leave rebalances the
  group with Kafka's range assignor (per topic, members sorted by id, contiguous
  ranges, the first members taking one extra partition). Commits are stored even
  when the offset does not move: that is how a stalled consumer looks.

Latency model (microseconds, recorded into HDR histograms, one window at a time;
every sample comes from the engine's seeded :class:`random.Random`):

* **produce** (``acks=all``) = a network round trip (log-normal, median 500 µs)
  + the leader's append (log-normal around 80 µs + 5 µs per KB of batch)
  + the slowest in-sync follower's replication (for each follower in the ISR, a
  log-normal around 1.5 ms + its own append; the maximum is taken). More replicas
  therefore mean a slower produce and a shrunken ISR a faster one; a partition
  with no follower pays only the round trip and the append. With three replicas
  this gives a p50 of about 3 ms and a p99 of about 15 ms.
* **fetch** = a round trip + a read time growing with the bytes returned
  (log-normal around 600 µs + 3.3 µs per KB), a p50 of about 1.2 ms.
"""

from __future__ import annotations

import random
import re
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType

from hdrh.histogram import HdrHistogram  # type: ignore[import-untyped]

from specwire.console.engine import (
    BrokerNotFound,
    BrokerState,
    ClusterState,
    CommittedOffset,
    EngineError,
    GroupState,
    InvalidTopic,
    LatencyWindow,
    MemberState,
    PartitionState,
    TopicCounters,
    TopicExists,
    TopicNotFound,
    TopicState,
    TrafficCounters,
)

__all__ = [
    "DEFAULT_RETENTION_MS",
    "MAX_PARTITIONS",
    "PERCENTILES",
    "EmbeddedEngine",
    "GroupNotEmpty",
    "GroupNotFound",
    "PartitionOffline",
]

DEFAULT_RETENTION_MS = 7 * 24 * 3600 * 1000
"""Kafka's default ``retention.ms``: 7 days."""
MAX_PARTITIONS = 10_000
"""The most partitions one topic may have here."""
PERCENTILES: tuple[float, ...] = (50.0, 95.0, 99.0, 99.9)
"""The percentiles a latency window reports."""

_TOPIC_NAME = re.compile(r"[A-Za-z0-9._-]{1,249}")
_NUMERIC_CONFIGS = frozenset(
    {"retention.ms", "retention.bytes", "segment.bytes", "min.insync.replicas"}
)
_LOWEST_US = 1
_HIGHEST_US = 60_000_000
_SIGNIFICANT_DIGITS = 3

# Segment rolling: a segment covers at most a thousandth of the time retention (at
# least a second) and a sixty-fourth of the bytes retention, so retention acts with a
# fine grain while a partition holds a bounded number of segments.
_MIN_SEGMENT_MS = 1_000
_SEGMENT_MS_FOREVER = 3_600_000
_SEGMENT_BYTES_UNBOUNDED = 1 << 30

# The latency model's parameters, microseconds (see the module docstring).
_RTT_MEDIAN_US = 500.0
_RTT_SIGMA = 0.35
_APPEND_BASE_US = 80.0
_APPEND_BYTES_PER_US = 200.0
_APPEND_SIGMA = 0.6
_REPLICATION_MEDIAN_US = 1_500.0
_REPLICATION_SIGMA = 0.9
_READ_BASE_US = 600.0
_READ_BYTES_PER_US = 300.0
_READ_SIGMA = 0.6


class PartitionOffline(EngineError):
    """Producing to or fetching from a partition that has no leader."""


class GroupNotFound(EngineError):
    """Naming a consumer group the cluster does not know."""


class GroupNotEmpty(EngineError):
    """Deleting a consumer group that still has members (Kafka's NON_EMPTY_GROUP)."""


class _Histogram:
    """A typed wrapper around one HDR histogram of microsecond values."""

    __slots__ = ("_histogram",)

    def __init__(self) -> None:
        self._histogram = HdrHistogram(_LOWEST_US, _HIGHEST_US, _SIGNIFICANT_DIGITS)

    def record(self, value_us: float) -> None:
        self._histogram.record_value(min(max(int(value_us), _LOWEST_US), _HIGHEST_US))

    @property
    def count(self) -> int:
        return int(self._histogram.get_total_count())

    def percentiles(self) -> dict[float, float]:
        if self.count == 0:
            return {}
        # One pass over the counts for all of them (one pass each would cost 4x).
        values = self._histogram.get_percentile_to_value_dict(list(PERCENTILES))
        return {p: float(values[p]) for p in PERCENTILES}

    def reset(self) -> None:
        # A new histogram: its counts come zeroed from C, where reset() zeroes them in
        # a Python loop (10x slower).
        self._histogram = HdrHistogram(_LOWEST_US, _HIGHEST_US, _SIGNIFICANT_DIGITS)


@dataclass(slots=True, eq=False)
class _Segment:
    end_offset: int
    size_bytes: int
    first_ms: int
    last_ms: int


@dataclass(slots=True, eq=False)
class _Partition:
    index: int
    replicas: tuple[int, ...]
    leader: int | None
    isr: tuple[int, ...]
    start_offset: int = 0
    end_offset: int = 0
    size_bytes: int = 0
    segments: deque[_Segment] = field(default_factory=deque)
    frozen: PartitionState | None = None
    """The immutable value of this partition, dropped on every change."""

    def freeze(self) -> PartitionState:
        value = self.frozen
        if value is None:
            # Positional arguments: this runs for every changed partition of every state.
            value = self.frozen = PartitionState(
                self.index,
                self.leader,
                self.replicas,
                self.isr,
                self.start_offset,
                self.end_offset,
                self.size_bytes,
            )
        return value


@dataclass(slots=True, eq=False)
class _Topic:
    name: str
    replication_factor: int
    config: Mapping[str, str]
    partitions: list[_Partition]
    retention_ms: int
    retention_bytes: int
    segment_ms: int
    segment_bytes: int
    frozen: TopicState | None = None

    def freeze(self) -> TopicState:
        value = self.frozen
        if value is None:
            partitions = []
            for p in self.partitions:
                frozen = p.frozen
                partitions.append(frozen if frozen is not None else p.freeze())
            value = self.frozen = TopicState(
                self.name, self.replication_factor, self.config, tuple(partitions)
            )
        return value


@dataclass(slots=True, eq=False)
class _Member:
    member_id: str
    client_id: str
    host: str
    topics: tuple[str, ...]
    assignments: tuple[tuple[str, int], ...] = ()


@dataclass(slots=True, eq=False)
class _Group:
    group_id: str
    members: dict[str, _Member] = field(default_factory=dict)
    offsets: dict[tuple[str, int], CommittedOffset] = field(default_factory=dict)
    subscribed: frozenset[str] = frozenset()
    assigned: tuple[tuple[str, int], ...] = ()
    frozen: GroupState | None = None
    """The immutable value of this group, dropped on every change."""
    frozen_members: tuple[MemberState, ...] | None = None
    """The members' immutable values, dropped on every rebalance."""

    def freeze(self) -> GroupState:
        value = self.frozen
        if value is None:
            members = self.frozen_members
            if members is None:
                members = self.frozen_members = tuple(
                    MemberState(m.member_id, m.client_id, m.host, m.assignments)
                    for m in sorted(self.members.values(), key=lambda m: m.member_id)
                )
            value = self.frozen = GroupState(
                self.group_id,
                "Stable" if self.members else "Empty",
                members,
                MappingProxyType(dict(self.offsets)),
            )
        return value


def _validated_config(config: Mapping[str, str] | None) -> dict[str, str]:
    if config is None:
        return {}
    if not isinstance(config, Mapping):
        raise InvalidTopic("Config must be a mapping of strings to strings", field="config")
    checked: dict[str, str] = {}
    for key, value in config.items():
        if not isinstance(key, str) or not key:
            raise InvalidTopic(f"Config key {key!r} must be a non-empty string", field="config")
        if not isinstance(value, str):
            raise InvalidTopic(f"Config value for {key!r} must be a string", field="config")
        if key in _NUMERIC_CONFIGS:
            try:
                number = int(value)
            except ValueError:
                number = None
            if number is None or number < -1:
                raise InvalidTopic(
                    f"Invalid value {value!r} for configuration {key}: must be an integer >= -1",
                    field="config",
                )
        checked[key] = value
    return checked


class EmbeddedEngine:
    """An in-process cluster: the :class:`~specwire.console.engine.ClusterEngine` of the demo.

    ``brokers`` are numbered 1..n and all start online; ``seed`` makes placement and
    latency samples reproducible; ``clock`` returns Unix seconds (every ``*_ms`` is
    ``int(clock() * 1000)``).
    """

    name = "embedded"

    def __init__(
        self,
        *,
        brokers: int = 3,
        seed: int | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if brokers < 1:
            raise ValueError("an embedded cluster needs at least one broker")
        self._clock = clock
        self._rng = random.Random(seed)  # noqa: S311 - a seeded model, not cryptography
        self._online: dict[int, bool] = dict.fromkeys(range(1, brokers + 1), True)
        self._controller: int | None = 1
        self._brokers_frozen: tuple[BrokerState, ...] | None = None
        self._topics: dict[str, _Topic] = {}
        self._topic_order: tuple[str, ...] | None = ()
        self._groups: dict[str, _Group] = {}
        self._group_order: tuple[str, ...] | None = ()
        # Traffic counters: totals, per topic (replaced on change), per partition.
        self._produce_messages = 0
        self._produce_bytes = 0
        self._fetch_messages = 0
        self._fetch_bytes = 0
        self._requests = 0
        self._topic_counters: dict[str, TopicCounters] = {}
        self._topic_counters_frozen: Mapping[str, TopicCounters] | None = None
        self._partition_produced: dict[tuple[str, int], int] = {}
        self._partition_produced_frozen: Mapping[tuple[str, int], int] | None = None
        # A lower bound of the time the next segment expires by retention.ms.
        self._next_expiry_ms: float = float("inf")
        self._produce_latency = _Histogram()
        self._fetch_latency = _Histogram()
        self._window_started_ms = self._now_ms()

    # ------------------------------------------------------------------ ClusterEngine

    async def state(self) -> ClusterState:
        """Brokers, topics, groups and counters, all at one instant."""
        return self.snapshot()

    async def take_latency(self) -> LatencyWindow:
        """The latencies recorded since the previous take; starts a new window."""
        return self.take_latency_sync()

    async def create_topic(
        self,
        name: str,
        partitions: int,
        replication_factor: int | None = None,
        config: Mapping[str, str] | None = None,
    ) -> TopicState:
        """Create a topic; raises :class:`TopicExists` or :class:`InvalidTopic`."""
        return self.create_topic_sync(name, partitions, replication_factor, config)

    async def delete_topic(self, name: str) -> None:
        """Delete a topic, its committed offsets and assignments; raises :class:`TopicNotFound`."""
        self.delete_topic_sync(name)

    async def close(self) -> None:
        """Nothing to release: the model lives in memory."""

    # ------------------------------------------------------------------ reading

    def snapshot(self) -> ClusterState:
        """The synchronous body of :meth:`state`."""
        now = self._now_ms()
        if now >= self._next_expiry_ms:
            self._expire_all(now)
        if self._brokers_frozen is None:
            self._brokers_frozen = tuple(
                BrokerState(id=b, host=f"broker-{b}", port=9092, online=online)
                for b, online in sorted(self._online.items())
            )
        if self._topic_order is None:
            self._topic_order = tuple(sorted(self._topics))
        if self._group_order is None:
            self._group_order = tuple(sorted(self._groups))
        if self._topic_counters_frozen is None:
            self._topic_counters_frozen = MappingProxyType(dict(self._topic_counters))
        if self._partition_produced_frozen is None:
            self._partition_produced_frozen = MappingProxyType(dict(self._partition_produced))
        topics = self._topics
        groups = self._groups
        return ClusterState(
            taken_at_ms=now,
            brokers=self._brokers_frozen,
            controller_id=self._controller,
            topics=tuple(topics[n].freeze() for n in self._topic_order),
            groups=tuple(groups[g].freeze() for g in self._group_order),
            counters=TrafficCounters(
                produce_messages=self._produce_messages,
                produce_bytes=self._produce_bytes,
                fetch_messages=self._fetch_messages,
                fetch_bytes=self._fetch_bytes,
                requests=self._requests,
                topics=self._topic_counters_frozen,
                partitions=self._partition_produced_frozen,
            ),
        )

    def take_latency_sync(self) -> LatencyWindow:
        """The synchronous body of :meth:`take_latency`."""
        now = self._now_ms()
        window = LatencyWindow(
            window_ms=max(1, now - self._window_started_ms),
            produce=MappingProxyType(self._produce_latency.percentiles()),
            fetch=MappingProxyType(self._fetch_latency.percentiles()),
            produce_count=self._produce_latency.count,
            fetch_count=self._fetch_latency.count,
        )
        self._produce_latency.reset()
        self._fetch_latency.reset()
        self._window_started_ms = now
        return window

    def topic_exists(self, name: str) -> bool:
        return name in self._topics

    def partition_count(self, topic: str) -> int:
        """How many partitions ``topic`` has; raises :class:`TopicNotFound`."""
        return len(self._topic(topic).partitions)

    def log_offsets(self, topic: str, partition: int) -> tuple[int, int]:
        """(start offset, end offset) of one partition's log."""
        p = self._partition(self._topic(topic), partition)
        return p.start_offset, p.end_offset

    def committed_offset(self, group_id: str, topic: str, partition: int) -> int | None:
        """The group's committed offset of one partition, ``None`` when it has none."""
        group = self._groups.get(group_id)
        if group is None:
            return None
        committed = group.offsets.get((topic, partition))
        return None if committed is None else committed.offset

    def assignment(self, group_id: str) -> tuple[tuple[str, int], ...]:
        """Every (topic, partition) assigned to some member of the group, sorted."""
        group = self._groups.get(group_id)
        return () if group is None else group.assigned

    # ------------------------------------------------------------------ topics

    def create_topic_sync(
        self,
        name: str,
        partitions: int,
        replication_factor: int | None = None,
        config: Mapping[str, str] | None = None,
    ) -> TopicState:
        """The synchronous body of :meth:`create_topic`."""
        if not isinstance(name, str) or not _TOPIC_NAME.fullmatch(name) or name in {".", ".."}:
            raise InvalidTopic(
                f"Topic name {name!r} is illegal: it must be 1 to 249 characters of "
                "ASCII alphanumerics, '.', '_' and '-', and not '.' or '..'",
                field="name",
            )
        if name in self._topics:
            raise TopicExists(f"Topic '{name}' already exists.", field="name")
        if isinstance(partitions, bool) or not isinstance(partitions, int) or partitions < 1:
            raise InvalidTopic("Number of partitions must be larger than 0.", field="partitions")
        if partitions > MAX_PARTITIONS:
            raise InvalidTopic(
                f"Number of partitions must be at most {MAX_PARTITIONS}.", field="partitions"
            )
        brokers = len(self._online)
        rf = min(3, brokers) if replication_factor is None else replication_factor
        if isinstance(rf, bool) or not isinstance(rf, int) or rf < 1:
            raise InvalidTopic(
                "Replication factor must be larger than 0.", field="replication_factor"
            )
        if rf > brokers:
            raise InvalidTopic(
                f"Replication factor: {rf} larger than available brokers: {brokers}.",
                field="replication_factor",
            )
        checked = _validated_config(config)
        retention_ms = int(checked.get("retention.ms", DEFAULT_RETENTION_MS))
        retention_bytes = int(checked.get("retention.bytes", -1))
        topic = _Topic(
            name=name,
            replication_factor=rf,
            config=MappingProxyType(checked),
            partitions=[
                self._new_partition(i, replicas)
                for i, replicas in enumerate(self._place(partitions, rf))
            ],
            retention_ms=retention_ms,
            retention_bytes=retention_bytes,
            segment_ms=(
                max(_MIN_SEGMENT_MS, retention_ms // 1000)
                if retention_ms >= 0
                else _SEGMENT_MS_FOREVER
            ),
            segment_bytes=(
                max(1, retention_bytes // 64) if retention_bytes >= 0 else _SEGMENT_BYTES_UNBOUNDED
            ),
        )
        self._topics[name] = topic
        self._topic_order = None
        self._topic_counters[name] = TopicCounters()
        self._topic_counters_frozen = None
        for i in range(partitions):
            self._partition_produced[(name, i)] = 0
        self._partition_produced_frozen = None
        for group in self._groups.values():
            if name in group.subscribed:
                self._rebalance(group)
        return topic.freeze()

    def delete_topic_sync(self, name: str) -> None:
        """The synchronous body of :meth:`delete_topic`."""
        topic = self._topic(name)
        del self._topics[name]
        self._topic_order = None
        del self._topic_counters[name]
        self._topic_counters_frozen = None
        for i in range(len(topic.partitions)):
            del self._partition_produced[(name, i)]
        self._partition_produced_frozen = None
        for group in self._groups.values():
            if any(key[0] == name for key in group.offsets):
                group.offsets = {k: v for k, v in group.offsets.items() if k[0] != name}
                group.frozen = None
            if name in group.subscribed:
                self._rebalance(group)

    def _place(self, partitions: int, replication_factor: int) -> list[tuple[int, ...]]:
        """Kafka's rack-unaware replica assignment from a seeded random start."""
        ids = sorted(self._online)
        n = len(ids)
        start = self._rng.randrange(n)
        shift = self._rng.randrange(n)
        placement: list[tuple[int, ...]] = []
        for p in range(partitions):
            if p > 0 and p % n == 0:
                shift += 1
            first = (p + start) % n
            replicas = [ids[first]]
            for j in range(replication_factor - 1):
                replicas.append(ids[(first + 1 + (shift + j) % (n - 1)) % n])
            placement.append(tuple(replicas))
        return placement

    def _new_partition(self, index: int, replicas: tuple[int, ...]) -> _Partition:
        isr = tuple(r for r in replicas if self._online[r])
        return _Partition(index=index, replicas=replicas, leader=isr[0] if isr else None, isr=isr)

    # ------------------------------------------------------------------ traffic

    def produce(self, topic: str, partition: int, messages: int, size_bytes: int) -> int:
        """Append ``messages`` messages of ``size_bytes`` in all; returns the base offset."""
        t = self._topic(topic)
        p = self._partition(t, partition)
        if messages < 1:
            raise EngineError("A produce needs at least one message", field="messages")
        if size_bytes < 0:
            raise EngineError("A batch size cannot be negative", field="size_bytes")
        if p.leader is None:
            raise PartitionOffline(
                f"Partition {topic}-{partition} has no leader", field="partition"
            )
        now = self._now_ms()
        base = p.end_offset
        p.end_offset = end = base + messages
        p.size_bytes += size_bytes
        segments = p.segments
        last = segments[-1] if segments else None
        if (
            last is not None
            and now - last.first_ms < t.segment_ms
            and last.size_bytes + size_bytes <= t.segment_bytes
        ):
            last.end_offset = end
            last.size_bytes += size_bytes
            last.last_ms = now
        else:
            segments.append(_Segment(end, size_bytes, now, now))
            if t.retention_ms >= 0 and len(segments) == 1:
                self._next_expiry_ms = min(self._next_expiry_ms, now + t.retention_ms)
        self._retain(t, p, now)
        p.frozen = None
        t.frozen = None
        self._produce_messages += messages
        self._produce_bytes += size_bytes
        self._requests += 1
        c = self._topic_counters[topic]
        self._topic_counters[topic] = TopicCounters(
            c.produce_messages + messages,
            c.produce_bytes + size_bytes,
            c.fetch_messages,
            c.fetch_bytes,
        )
        self._topic_counters_frozen = None
        key = (topic, partition)
        self._partition_produced[key] += messages
        self._partition_produced_frozen = None
        self._produce_latency.record(self._produce_latency_us(size_bytes, len(p.isr) - 1))
        return base

    def fetch(self, topic: str, partition: int, offset: int, max_messages: int) -> tuple[int, int]:
        """Read up to ``max_messages`` from ``offset``; returns (messages, bytes)."""
        t = self._topic(topic)
        p = self._partition(t, partition)
        if max_messages < 0:
            raise EngineError("max_messages cannot be negative", field="max_messages")
        if p.leader is None:
            raise PartitionOffline(
                f"Partition {topic}-{partition} has no leader", field="partition"
            )
        start = min(max(offset, p.start_offset), p.end_offset)
        messages = min(max_messages, p.end_offset - start)
        retained = p.end_offset - p.start_offset
        size = messages * p.size_bytes // retained if retained else 0
        self._fetch_messages += messages
        self._fetch_bytes += size
        self._requests += 1
        if messages:
            c = self._topic_counters[topic]
            self._topic_counters[topic] = TopicCounters(
                c.produce_messages,
                c.produce_bytes,
                c.fetch_messages + messages,
                c.fetch_bytes + size,
            )
            self._topic_counters_frozen = None
        self._fetch_latency.record(self._fetch_latency_us(size))
        return messages, size

    def _retain(self, t: _Topic, p: _Partition, now: int) -> None:
        segments = p.segments
        changed = False
        if t.retention_ms >= 0:
            cutoff = now - t.retention_ms
            while segments and segments[0].last_ms < cutoff:
                gone = segments.popleft()
                p.start_offset = gone.end_offset
                p.size_bytes -= gone.size_bytes
                changed = True
        if t.retention_bytes >= 0:
            while len(segments) > 1 and p.size_bytes > t.retention_bytes:
                gone = segments.popleft()
                p.start_offset = gone.end_offset
                p.size_bytes -= gone.size_bytes
                changed = True
        if changed:
            p.frozen = None
            t.frozen = None

    def _expire_all(self, now: int) -> None:
        """Apply time retention everywhere; recompute when the next segment expires."""
        next_expiry = float("inf")
        for t in self._topics.values():
            if t.retention_ms < 0:
                continue
            for p in t.partitions:
                if p.segments:
                    self._retain(t, p, now)
                    if p.segments:
                        next_expiry = min(next_expiry, p.segments[0].last_ms + t.retention_ms)
        self._next_expiry_ms = next_expiry

    def _produce_latency_us(self, size_bytes: int, followers: int) -> float:
        rng = self._rng
        rtt = _RTT_MEDIAN_US * rng.lognormvariate(0.0, _RTT_SIGMA)
        append_us = _APPEND_BASE_US + size_bytes / _APPEND_BYTES_PER_US
        append = append_us * rng.lognormvariate(0.0, _APPEND_SIGMA)
        replication = 0.0
        for _ in range(followers):
            follower = _REPLICATION_MEDIAN_US * rng.lognormvariate(0.0, _REPLICATION_SIGMA)
            follower += append_us * rng.lognormvariate(0.0, _APPEND_SIGMA)
            replication = max(replication, follower)
        return rtt + append + replication

    def _fetch_latency_us(self, size_bytes: int) -> float:
        rng = self._rng
        rtt = _RTT_MEDIAN_US * rng.lognormvariate(0.0, _RTT_SIGMA)
        read_us = _READ_BASE_US + size_bytes / _READ_BYTES_PER_US
        return rtt + read_us * rng.lognormvariate(0.0, _READ_SIGMA)

    # ------------------------------------------------------------------ groups

    def commit(self, group_id: str, topic: str, partition: int, offset: int) -> None:
        """Store the group's offset of one partition, even when it did not move."""
        self._partition(self._topic(topic), partition)
        group = self._group_or_new(group_id)
        group.offsets[(topic, partition)] = CommittedOffset(offset, self._now_ms())
        group.frozen = None
        self._requests += 1

    def reset_offsets(self, group_id: str, topic: str, partition: int, offset: int) -> int:
        """Set the group's offset of one partition, clamped to the log; returns it."""
        p = self._partition(self._topic(topic), partition)
        group = self._group_or_new(group_id)
        clamped = min(max(offset, p.start_offset), p.end_offset)
        group.offsets[(topic, partition)] = CommittedOffset(clamped, self._now_ms())
        group.frozen = None
        return clamped

    def join_group(
        self,
        group_id: str,
        member_id: str,
        client_id: str,
        host: str,
        topics: Sequence[str],
    ) -> None:
        """Add (or update) a member subscribed to ``topics``, then rebalance."""
        group = self._group_or_new(group_id)
        group.members[member_id] = _Member(member_id, client_id, host, tuple(topics))
        self._requests += 1
        self._rebalance(group)

    def leave_group(self, group_id: str, member_id: str) -> None:
        """Remove a member, then rebalance; unknown members are ignored."""
        group = self._groups.get(group_id)
        if group is None:
            raise GroupNotFound(f"Group '{group_id}' does not exist", field="group_id")
        self._requests += 1
        if group.members.pop(member_id, None) is not None:
            self._rebalance(group)

    def delete_group(self, group_id: str) -> None:
        """Delete an empty group and its offsets."""
        group = self._groups.get(group_id)
        if group is None:
            raise GroupNotFound(f"Group '{group_id}' does not exist", field="group_id")
        if group.members:
            raise GroupNotEmpty(
                f"Group '{group_id}' is not empty: it has {len(group.members)} member(s)",
                field="group_id",
            )
        del self._groups[group_id]
        self._group_order = None

    def _group_or_new(self, group_id: str) -> _Group:
        group = self._groups.get(group_id)
        if group is None:
            group = self._groups[group_id] = _Group(group_id)
            self._group_order = None
        return group

    def _rebalance(self, group: _Group) -> None:
        """Kafka's range assignor over the members' subscriptions."""
        subscribed = frozenset(t for m in group.members.values() for t in m.topics)
        per_member: dict[str, list[tuple[str, int]]] = {m: [] for m in group.members}
        for topic in sorted(subscribed):
            t = self._topics.get(topic)
            if t is None:
                continue
            consumers = sorted(m.member_id for m in group.members.values() if topic in m.topics)
            share, extra = divmod(len(t.partitions), len(consumers))
            first = 0
            for i, member_id in enumerate(consumers):
                count = share + (1 if i < extra else 0)
                per_member[member_id].extend((topic, p) for p in range(first, first + count))
                first += count
        for member_id, member in group.members.items():
            member.assignments = tuple(per_member[member_id])
        group.subscribed = subscribed
        group.assigned = tuple(sorted(a for owned in per_member.values() for a in owned))
        group.frozen = None
        group.frozen_members = None

    # ------------------------------------------------------------------ brokers

    def stop_broker(self, broker_id: int) -> None:
        """Take a broker offline: out of every ISR; its partitions elect a leader or go offline."""
        self._broker(broker_id)
        if not self._online[broker_id]:
            return
        self._online[broker_id] = False
        self._brokers_frozen = None
        for t in self._topics.values():
            for p in t.partitions:
                if broker_id not in p.replicas:
                    continue
                p.isr = tuple(r for r in p.isr if r != broker_id)
                if p.leader == broker_id:
                    p.leader = p.isr[0] if p.isr else None
                p.frozen = None
                t.frozen = None
        if self._controller == broker_id:
            online = [b for b, up in self._online.items() if up]
            self._controller = min(online) if online else None

    def start_broker(self, broker_id: int) -> None:
        """Bring a broker back: into the ISR of its partitions, leading offline ones."""
        self._broker(broker_id)
        if self._online[broker_id]:
            return
        self._online[broker_id] = True
        self._brokers_frozen = None
        for t in self._topics.values():
            for p in t.partitions:
                if broker_id not in p.replicas:
                    continue
                in_sync = set(p.isr)
                in_sync.add(broker_id)
                p.isr = tuple(r for r in p.replicas if r in in_sync)
                if p.leader is None:
                    p.leader = p.isr[0]
                p.frozen = None
                t.frozen = None
        if self._controller is None:
            self._controller = broker_id

    # ------------------------------------------------------------------ helpers

    def _now_ms(self) -> int:
        return int(self._clock() * 1000)

    def _topic(self, name: str) -> _Topic:
        topic = self._topics.get(name)
        if topic is None:
            raise TopicNotFound(f"Topic '{name}' does not exist", field="topic")
        return topic

    @staticmethod
    def _partition(topic: _Topic, partition: int) -> _Partition:
        if not 0 <= partition < len(topic.partitions):
            raise EngineError(
                f"Topic '{topic.name}' has no partition {partition}", field="partition"
            )
        return topic.partitions[partition]

    def _broker(self, broker_id: int) -> None:
        if broker_id not in self._online:
            raise BrokerNotFound(f"Broker {broker_id} does not exist", field="broker_id")
