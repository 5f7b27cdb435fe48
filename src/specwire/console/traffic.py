"""Seeded client traffic for the embedded engine: producers, consumer groups and their troubles.

A :class:`TrafficPlan` lists producer workloads (a topic and its message rate) and
consumer workloads (a group, its topics, members and capacity), with how each group
behaves:

* ``normal``: fetches up to its capacity and commits every ``commit_interval_s``;
* ``slow``: the same, but its capacity is below the produce rate, so its lag grows;
* ``stalls``: now and then keeps committing the same offsets without fetching (the
  look of a consumer stuck on one record), then recovers;
* ``stops``: now and then neither fetches nor commits (a consumer that hangs), then
  recovers and catches up.

A plan may also churn topics: a temporary ``tmp.reprocess-<n>`` topic is created now
and then, produced to, and deleted a while later.

:class:`TrafficGenerator` drives an :class:`~specwire.console.embedded.EmbeddedEngine`
with a plan. :meth:`TrafficGenerator.step` is one synchronous tick of simulated time,
deterministic for a seed; :meth:`TrafficGenerator.run` steps it on the event loop's
clock. Periods are seconds of simulated time, so tests drive ``step`` directly.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import random
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from specwire.console.embedded import EmbeddedEngine
from specwire.console.engine import EngineError, TopicExists, TopicNotFound

__all__ = [
    "Behaviour",
    "ChurnPlan",
    "ConsumerWorkload",
    "ProducerWorkload",
    "TrafficGenerator",
    "TrafficPlan",
]

logger = logging.getLogger("specwire.console.traffic")

Behaviour = Literal["normal", "slow", "stalls", "stops"]

_EPSILON_S = 1e-6
"""Slack in comparing simulated times: a sum of steps of 0.1 s drifts from the exact value."""


@dataclass(frozen=True, slots=True)
class ProducerWorkload:
    """Messages produced to one topic, spread over its partitions."""

    topic: str
    partitions: int
    rate: float
    """Messages per second."""
    message_bytes: int
    """Bytes per message."""
    replication_factor: int | None = None
    """``None``: the engine's default."""
    config: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ConsumerWorkload:
    """A consumer group reading ``topics`` with ``members`` members."""

    group_id: str
    topics: tuple[str, ...]
    capacity: float
    """Messages per second the whole group can process."""
    members: int = 1
    behaviour: Behaviour = "normal"
    healthy_s: float = 30.0
    """For ``stalls`` and ``stops``: how long the group runs well before each episode."""
    episode_s: float = 20.0
    """For ``stalls`` and ``stops``: how long an episode lasts."""
    commit_interval_s: float = 0.0
    """Seconds between commits; 0 commits every step."""


@dataclass(frozen=True, slots=True)
class ChurnPlan:
    """Temporary topics created now and then and deleted a while later."""

    first_after_s: float = 20.0
    every_s: float = 60.0
    lifetime_s: float = 45.0
    partitions: int = 3
    replication_factor: int | None = None
    rate: float = 100.0
    """Messages per second produced to a temporary topic while it exists."""
    message_bytes: int = 800
    prefix: str = "tmp.reprocess-"


@dataclass(frozen=True, slots=True)
class TrafficPlan:
    """What the generator produces and consumes."""

    producers: tuple[ProducerWorkload, ...]
    consumers: tuple[ConsumerWorkload, ...] = ()
    churn: ChurnPlan | None = None
    jitter: float = 0.1
    """Relative seeded jitter of rates and periods (0.1 is ±10 %)."""

    @classmethod
    def default(cls) -> TrafficPlan:
        """A small shop: orders, payments, clickstream and an audit log, five groups."""
        return cls(
            producers=(
                ProducerWorkload("orders", 6, 200.0, 600, config={"min.insync.replicas": "2"}),
                ProducerWorkload("payments", 3, 60.0, 400, config={"min.insync.replicas": "2"}),
                ProducerWorkload(
                    "clickstream",
                    12,
                    1_500.0,
                    250,
                    config={"retention.bytes": "524288", "retention.ms": "3600000"},
                ),
                ProducerWorkload("audit.log", 1, 5.0, 1_200, config={"retention.ms": "-1"}),
            ),
            consumers=(
                ConsumerWorkload("order-service", ("orders",), capacity=600.0, members=3),
                ConsumerWorkload(
                    "fraud-scoring", ("payments",), capacity=45.0, members=2, behaviour="slow"
                ),
                ConsumerWorkload("analytics", ("clickstream",), capacity=3_000.0, members=4),
                ConsumerWorkload(
                    "audit-archiver",
                    ("audit.log",),
                    capacity=20.0,
                    behaviour="stalls",
                    healthy_s=30.0,
                    episode_s=25.0,
                ),
                ConsumerWorkload(
                    "reporting",
                    ("orders",),
                    capacity=400.0,
                    members=2,
                    behaviour="stops",
                    healthy_s=45.0,
                    episode_s=30.0,
                ),
            ),
            churn=ChurnPlan(),
        )

    @classmethod
    def scaled(
        cls,
        topics: int,
        partitions: int,
        groups: int,
        *,
        rate: float = 20.0,
        message_bytes: int = 500,
        topics_per_group: int = 3,
    ) -> TrafficPlan:
        """A large plan for benchmarks: ``topics`` topics, ``groups`` groups on a few each."""
        producers = tuple(
            ProducerWorkload(f"bench.events-{i:05d}", partitions, rate, message_bytes)
            for i in range(topics)
        )
        per_group = min(topics_per_group, topics)
        consumers = tuple(
            ConsumerWorkload(
                f"bench.consumer-{g:05d}",
                tuple(producers[(g * per_group + j) % topics].topic for j in range(per_group)),
                capacity=2 * rate * per_group,
                members=2,
                commit_interval_s=1.0,
            )
            for g in range(groups)
        )
        return cls(producers=producers, consumers=consumers, churn=None)


@dataclass(slots=True, eq=False)
class _Producing:
    topic: str
    rate: float
    message_bytes: int
    carry: float = 0.0
    next_partition: int = 0


@dataclass(slots=True, eq=False)
class _Consuming:
    workload: ConsumerWorkload
    carry: float = 0.0
    since_commit_s: float = 0.0
    in_episode: bool = False
    next_switch_s: float = math.inf
    positions: dict[tuple[str, int], int] = field(default_factory=dict)
    last_committed: dict[tuple[str, int], int] = field(default_factory=dict)


class TrafficGenerator:
    """Drives an embedded engine with a plan's traffic, tick by tick."""

    def __init__(
        self,
        engine: EmbeddedEngine,
        *,
        seed: int | None = None,
        plan: TrafficPlan | None = None,
        tick_s: float = 0.1,
    ) -> None:
        if tick_s <= 0:
            raise ValueError("tick_s must be positive")
        self.engine = engine
        self.plan = TrafficPlan.default() if plan is None else plan
        self.tick_s = tick_s
        self.max_step_s = max(1.0, 10 * tick_s)
        """The longest step :meth:`run` takes at once (after a suspended process, say)."""
        self.produced_messages = 0
        self.refused_messages = 0
        """Messages a producer could not write (offline partition, deleted topic)."""
        self.fetched_messages = 0
        self._rng = random.Random(seed)  # noqa: S311 - seeded traffic, not cryptography
        self._clock_s = 0.0
        self._set_up = False
        self._producing = [
            _Producing(w.topic, w.rate, w.message_bytes) for w in self.plan.producers
        ]
        self._consuming = [_Consuming(w) for w in self.plan.consumers]
        for c in self._consuming:
            if c.workload.behaviour in ("stalls", "stops"):
                c.next_switch_s = c.workload.healthy_s * self._jitter()
        churn = self.plan.churn
        self._next_churn_s = math.inf if churn is None else churn.first_after_s
        self._churn_count = 0
        self._temporary: dict[str, tuple[float, _Producing]] = {}

    @property
    def simulated_s(self) -> float:
        """Seconds of traffic simulated so far (the sum of the steps)."""
        return self._clock_s

    @property
    def temporary_topics(self) -> tuple[str, ...]:
        """The churned topics that exist now."""
        return tuple(self._temporary)

    def in_episode(self, group_id: str) -> bool:
        """Whether the group is stalled or stopped right now."""
        return any(c.in_episode for c in self._consuming if c.workload.group_id == group_id)

    async def setup(self) -> None:
        """Create the plan's topics (keeping existing ones) and join its groups' members."""
        if self._set_up:
            return
        self._set_up = True
        for w in self.plan.producers:
            with contextlib.suppress(TopicExists):
                await self.engine.create_topic(
                    w.topic, w.partitions, w.replication_factor, dict(w.config)
                )
        rng = self._rng
        for c in self.plan.consumers:
            for i in range(c.members):
                client_id = f"consumer-{c.group_id}-{i + 1}"
                member_id = f"{client_id}-{uuid.UUID(int=rng.getrandbits(128), version=4)}"
                host = f"/10.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(1, 255)}"
                self.engine.join_group(c.group_id, member_id, client_id, host, c.topics)

    def step(self, elapsed_s: float) -> None:
        """One tick: churn, produce, then let every group fetch and commit."""
        if elapsed_s <= 0:
            return
        self._clock_s += elapsed_s
        self._churn()
        for p in self._producing:
            self._produce(p, elapsed_s)
        for _, p in self._temporary.values():
            self._produce(p, elapsed_s)
        for c in self._consuming:
            self._consume(c, elapsed_s)

    async def run(self, stop: asyncio.Event | None = None) -> None:
        """Step every ``tick_s`` on the loop's clock until cancelled or ``stop`` is set."""
        loop = asyncio.get_running_loop()
        last = loop.time()
        while stop is None or not stop.is_set():
            if stop is None:
                await asyncio.sleep(self.tick_s)
            else:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), self.tick_s)
                if stop.is_set():
                    break
            now = loop.time()
            elapsed = min(now - last, self.max_step_s)
            last = now
            try:
                self.step(elapsed)
            except Exception:
                logger.exception("traffic step failed; going on")

    # ------------------------------------------------------------------ the parts of a step

    def _jitter(self) -> float:
        return 1.0 + self._rng.uniform(-self.plan.jitter, self.plan.jitter)

    def _churn(self) -> None:
        churn = self.plan.churn
        if churn is None:
            return
        engine = self.engine
        while self._clock_s + _EPSILON_S >= self._next_churn_s:
            created_at = self._next_churn_s
            self._next_churn_s = created_at + churn.every_s * self._jitter()
            self._churn_count += 1
            name = f"{churn.prefix}{self._churn_count}"
            try:
                engine.create_topic_sync(name, churn.partitions, churn.replication_factor)
            except EngineError as exc:
                logger.warning("churn could not create %s: %s", name, exc)
                continue
            delete_at = created_at + churn.lifetime_s * self._jitter()
            self._temporary[name] = (
                delete_at,
                _Producing(name, churn.rate, churn.message_bytes),
            )
        for name, (delete_at, _) in list(self._temporary.items()):
            if self._clock_s + _EPSILON_S >= delete_at:
                del self._temporary[name]
                with contextlib.suppress(TopicNotFound):
                    engine.delete_topic_sync(name)

    def _produce(self, p: _Producing, elapsed_s: float) -> None:
        wanted = p.rate * elapsed_s * self._jitter() + p.carry
        count = int(wanted)
        p.carry = wanted - count
        if count <= 0:
            return
        engine = self.engine
        try:
            partitions = engine.partition_count(p.topic)
        except TopicNotFound:
            self.refused_messages += count
            return
        share, extra = divmod(count, partitions)
        first = p.next_partition % partitions
        for i in range(partitions if share else extra):
            messages = share + (1 if i < extra else 0)
            try:
                engine.produce(
                    p.topic, (first + i) % partitions, messages, messages * p.message_bytes
                )
            except EngineError:
                self.refused_messages += messages
            else:
                self.produced_messages += messages
        p.next_partition = first + extra

    def _consume(self, c: _Consuming, elapsed_s: float) -> None:
        w = c.workload
        while self._clock_s + _EPSILON_S >= c.next_switch_s:
            c.in_episode = not c.in_episode
            period = w.episode_s if c.in_episode else w.healthy_s
            c.next_switch_s += period * self._jitter()
        if c.in_episode and w.behaviour == "stops":
            c.carry = 0.0
            return
        engine = self.engine
        group_id = w.group_id
        assigned = engine.assignment(group_id)
        positions = c.positions
        last_committed = c.last_committed
        if len(positions) != len(assigned) or any(key not in positions for key in assigned):
            kept = set(assigned)
            for key in [k for k in positions if k not in kept]:
                del positions[key]
                last_committed.pop(key, None)
        for key in assigned:
            committed = engine.committed_offset(group_id, *key)
            if key not in positions or committed != last_committed.get(key):
                # First sight, or the offset was reset from outside: resume from the
                # committed offset, or from the earliest retained one.
                positions[key] = committed if committed is not None else engine.log_offsets(*key)[0]
                if committed is not None:
                    last_committed[key] = committed
        if not (c.in_episode and w.behaviour == "stalls"):
            self._fetch(c, assigned, elapsed_s)
        c.since_commit_s += elapsed_s
        if c.since_commit_s + _EPSILON_S >= w.commit_interval_s:
            c.since_commit_s = 0.0
            for key in assigned:
                offset = positions[key]
                engine.commit(group_id, key[0], key[1], offset)
                last_committed[key] = offset

    def _fetch(
        self, c: _Consuming, assigned: tuple[tuple[str, int], ...], elapsed_s: float
    ) -> None:
        """Fetch the group's budget over its partitions, the fullest share to the laggiest."""
        engine = self.engine
        positions = c.positions
        budget = c.workload.capacity * elapsed_s * self._jitter() + c.carry
        total = int(budget)
        lagging: list[tuple[int, tuple[str, int], int]] = []
        for key in assigned:
            start, end = engine.log_offsets(*key)
            position = max(positions[key], start)
            positions[key] = position
            if end > position:
                lagging.append((end - position, key, position))
        lagging.sort()
        remaining = total
        for i, (lag, key, position) in enumerate(lagging):
            if remaining <= 0:
                break
            share = -(-remaining // (len(lagging) - i))
            try:
                messages, _ = engine.fetch(key[0], key[1], position, min(lag, share))
            except EngineError:
                continue
            positions[key] = position + messages
            remaining -= messages
            self.fetched_messages += messages
        # Unused capacity is idle time, not a credit for later.
        c.carry = budget - total if remaining <= 0 else 0.0
