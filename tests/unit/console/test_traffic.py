"""specwire.console.traffic: seeded producers, consumer groups and their troubles."""

from __future__ import annotations

import asyncio
import logging

import pytest

from specwire.console.embedded import EmbeddedEngine
from specwire.console.engine import ClusterState, GroupState
from specwire.console.traffic import (
    ChurnPlan,
    ConsumerWorkload,
    ProducerWorkload,
    TrafficGenerator,
    TrafficPlan,
)

T0 = 1_700_000_000.0


class FakeClock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> float:
        return self.now


def make(
    plan: TrafficPlan | None = None, *, seed: int = 5, brokers: int = 3
) -> tuple[EmbeddedEngine, TrafficGenerator, FakeClock]:
    clock = FakeClock()
    engine = EmbeddedEngine(brokers=brokers, seed=seed, clock=clock)
    return engine, TrafficGenerator(engine, seed=seed, plan=plan), clock


def advance(
    generator: TrafficGenerator, clock: FakeClock, seconds: float, tick: float = 0.1
) -> None:
    """Step the generator and the engine's clock together, ``tick`` at a time."""
    for _ in range(round(seconds / tick)):
        clock.now += tick
        generator.step(tick)


def group_of(state: ClusterState, group_id: str) -> GroupState:
    return next(g for g in state.groups if g.group_id == group_id)


def lag(state: ClusterState, group_id: str) -> int:
    ends = {(t.name, p.partition): p.end_offset for t in state.topics for p in t.partitions}
    return sum(ends[key] - c.offset for key, c in group_of(state, group_id).offsets.items())


def one_topic_plan(consumer: ConsumerWorkload, *, churn: ChurnPlan | None = None) -> TrafficPlan:
    return TrafficPlan(
        producers=(ProducerWorkload("events", 2, 100.0, 200),),
        consumers=(consumer,),
        churn=churn,
        jitter=0.0,
    )


# ---------------------------------------------------------------------- plans


def test_default_plan() -> None:
    plan = TrafficPlan.default()
    topics = {p.topic: p for p in plan.producers}
    assert list(topics) == ["orders", "payments", "clickstream", "audit.log"]
    assert (topics["orders"].partitions, topics["payments"].partitions) == (6, 3)
    assert (topics["clickstream"].partitions, topics["audit.log"].partitions) == (12, 1)
    assert "retention.bytes" in topics["clickstream"].config
    groups = {c.group_id: c for c in plan.consumers}
    assert {g: c.behaviour for g, c in groups.items()} == {
        "order-service": "normal",
        "fraud-scoring": "slow",
        "analytics": "normal",
        "audit-archiver": "stalls",
        "reporting": "stops",
    }
    for consumer in plan.consumers:
        rate = sum(topics[t].rate for t in consumer.topics)
        assert (consumer.capacity < rate) == (consumer.behaviour == "slow")
    assert plan.churn is not None


def test_scaled_plan() -> None:
    plan = TrafficPlan.scaled(1_000, 6, 500)
    assert len(plan.producers) == 1_000
    assert len({p.topic for p in plan.producers}) == 1_000
    assert all(p.partitions == 6 for p in plan.producers)
    assert len(plan.consumers) == 500
    assert all(len(c.topics) == 3 for c in plan.consumers)
    topics = {p.topic for p in plan.producers}
    assert all(set(c.topics) <= topics for c in plan.consumers)
    tiny = TrafficPlan.scaled(2, 1, 3, topics_per_group=5)
    assert all(len(c.topics) == 2 for c in tiny.consumers)


async def test_scaled_plan_runs() -> None:
    engine, generator, clock = make(TrafficPlan.scaled(20, 6, 10))
    await generator.setup()
    advance(generator, clock, 3)
    state = await engine.state()
    assert len(state.topics) == 20
    assert len(state.groups) == 10
    assert all(g.state == "Stable" and len(g.members) == 2 for g in state.groups)
    assert all(len(g.offsets) == 18 for g in state.groups)
    assert state.counters.produce_messages == generator.produced_messages > 0


def test_tick_must_be_positive() -> None:
    with pytest.raises(ValueError, match="tick_s"):
        TrafficGenerator(EmbeddedEngine(), tick_s=0)


# ---------------------------------------------------------------------- setup and steps


async def test_setup_creates_topics_and_joins_groups() -> None:
    engine, generator, _ = make()
    await engine.create_topic("orders", 2)  # an existing topic is kept as it is
    await generator.setup()
    await generator.setup()  # once only
    state = await engine.state()
    partitions = {t.name: len(t.partitions) for t in state.topics}
    assert partitions == {"audit.log": 1, "clickstream": 12, "orders": 2, "payments": 3}
    members = {g.group_id: len(g.members) for g in state.groups}
    assert members == {
        "analytics": 4,
        "audit-archiver": 1,
        "fraud-scoring": 2,
        "order-service": 3,
        "reporting": 2,
    }
    order_service = group_of(state, "order-service")
    assert order_service.state == "Stable"
    member = order_service.members[0]
    assert member.client_id.startswith("consumer-order-service-")
    assert member.member_id.startswith(member.client_id + "-")
    assert member.host.startswith("/10.")
    assigned = sorted(a for m in order_service.members for a in m.assignments)
    assert assigned == [("orders", 0), ("orders", 1)]


async def test_step_produces_at_the_plan_rate() -> None:
    plan = TrafficPlan(producers=(ProducerWorkload("events", 4, 250.0, 100),), jitter=0.0)
    engine, generator, clock = make(plan)
    await generator.setup()
    generator.step(0)  # nothing happens
    advance(generator, clock, 10)
    assert generator.simulated_s == pytest.approx(10)
    state = await engine.state()
    ends = [p.end_offset for p in state.topics[0].partitions]
    assert sum(ends) == generator.produced_messages
    assert abs(sum(ends) - 2_500) <= 1  # the fractions are carried over
    assert max(ends) - min(ends) <= 1  # spread evenly
    assert state.counters.produce_bytes == sum(ends) * 100


async def test_jitter_keeps_the_rate_on_average() -> None:
    plan = TrafficPlan(producers=(ProducerWorkload("events", 3, 40.0, 100),), jitter=0.1)
    _, generator, clock = make(plan)
    await generator.setup()
    advance(generator, clock, 60)
    assert 2_280 <= generator.produced_messages <= 2_520


async def test_same_seed_same_cluster() -> None:
    async def run(seed: int) -> tuple[ClusterState, float]:
        engine, generator, clock = make(seed=seed)
        await generator.setup()
        advance(generator, clock, 50)
        engine.stop_broker(2)
        advance(generator, clock, 30, tick=0.5)
        return await engine.state(), (await engine.take_latency()).produce[99]

    first, again, other = await run(42), await run(42), await run(43)
    assert first == again
    assert first != other


async def test_slow_group_lag_grows_while_a_normal_one_stays_bounded() -> None:
    engine, generator, clock = make()
    await generator.setup()
    slow: list[int] = []
    normal: list[int] = []
    for _ in range(6):
        advance(generator, clock, 10)
        state = await engine.state()
        slow.append(lag(state, "fraud-scoring"))
        normal.append(lag(state, "order-service"))
    assert slow == sorted(slow)
    assert slow[-1] - slow[0] > 500  # about 15 messages a second behind
    assert max(normal) < 100
    assert lag(state, "analytics") < 500


async def test_stalled_group_commits_without_moving() -> None:
    consumer = ConsumerWorkload(
        "archiver", ("events",), capacity=500.0, behaviour="stalls", healthy_s=5, episode_s=4
    )
    engine, generator, clock = make(one_topic_plan(consumer))
    await generator.setup()
    advance(generator, clock, 5.5)
    assert generator.in_episode("archiver")
    before = group_of(await engine.state(), "archiver").offsets
    advance(generator, clock, 2)
    during = group_of(await engine.state(), "archiver").offsets
    assert set(during) == set(before) == {("events", 0), ("events", 1)}
    for key, committed in during.items():
        assert committed.offset == before[key].offset  # no progress ...
        assert committed.committed_at_ms == before[key].committed_at_ms + 2_000  # ... yet commits
    assert lag(await engine.state(), "archiver") >= 190
    advance(generator, clock, 3)
    assert not generator.in_episode("archiver")
    assert lag(await engine.state(), "archiver") < 30  # recovered and caught up


async def test_stopped_group_does_not_commit() -> None:
    consumer = ConsumerWorkload(
        "reporting", ("events",), capacity=400.0, behaviour="stops", healthy_s=3, episode_s=5
    )
    engine, generator, clock = make(one_topic_plan(consumer))
    await generator.setup()
    advance(generator, clock, 3.5)  # stopped from 3 s to 8 s
    assert generator.in_episode("reporting")
    before = group_of(await engine.state(), "reporting").offsets
    advance(generator, clock, 4)
    assert group_of(await engine.state(), "reporting").offsets == before
    advance(generator, clock, 1)
    assert not generator.in_episode("reporting")
    assert lag(await engine.state(), "reporting") > 300
    advance(generator, clock, 2)
    state = await engine.state()
    assert lag(state, "reporting") < 30  # caught up
    assert all(
        c.committed_at_ms == state.taken_at_ms
        for c in group_of(state, "reporting").offsets.values()
    )
    # The episodes repeat: healthy for 3 s, from 8 s to 11 s.
    advance(generator, clock, 0.4)
    assert not generator.in_episode("reporting")
    advance(generator, clock, 0.2)
    assert generator.in_episode("reporting")


async def test_commit_interval() -> None:
    consumer = ConsumerWorkload("batchy", ("events",), capacity=500.0, commit_interval_s=1.0)
    engine, generator, clock = make(one_topic_plan(consumer))
    await generator.setup()
    advance(generator, clock, 0.5)
    assert group_of(await engine.state(), "batchy").offsets == {}
    advance(generator, clock, 0.5)
    offsets = group_of(await engine.state(), "batchy").offsets
    assert {c.committed_at_ms for c in offsets.values()} == {int(clock.now * 1000)}
    assert sum(c.offset for c in offsets.values()) > 0


async def test_churn_creates_and_deletes_temporary_topics() -> None:
    churn = ChurnPlan(first_after_s=2.0, every_s=5.0, lifetime_s=3.0, partitions=2, rate=50.0)
    consumer = ConsumerWorkload("c", ("events",), capacity=500.0)
    engine, generator, clock = make(one_topic_plan(consumer, churn=churn))
    await generator.setup()
    seen: dict[str, list[float]] = {}
    for _ in range(130):
        clock.now += 0.1
        generator.step(0.1)
        state = await engine.state()
        for t in state.topics:
            if t.name.startswith("tmp."):
                seen.setdefault(t.name, []).append(round(generator.simulated_s, 1))
        assert set(generator.temporary_topics) == {
            t.name for t in state.topics if t.name.startswith("tmp.")
        }
    assert list(seen) == ["tmp.reprocess-1", "tmp.reprocess-2", "tmp.reprocess-3"]
    assert (seen["tmp.reprocess-1"][0], seen["tmp.reprocess-1"][-1]) == (2.0, 4.9)
    assert (seen["tmp.reprocess-2"][0], seen["tmp.reprocess-2"][-1]) == (7.0, 9.9)
    assert seen["tmp.reprocess-3"][0] == 12.0
    tmp = next(t for t in state.topics if t.name == "tmp.reprocess-3")
    assert len(tmp.partitions) == 2
    assert sum(p.end_offset for p in tmp.partitions) > 0  # produced to while it lives


async def test_churn_survives_outside_changes(caplog: pytest.LogCaptureFixture) -> None:
    churn = ChurnPlan(first_after_s=1.0, every_s=2.0, lifetime_s=1.5)
    engine, generator, clock = make(TrafficPlan(producers=(), churn=churn, jitter=0.0), brokers=1)
    await engine.create_topic("tmp.reprocess-2", 1)  # taken by somebody else
    advance(generator, clock, 1.0)
    assert generator.temporary_topics == ("tmp.reprocess-1",)
    await engine.delete_topic("tmp.reprocess-1")  # deleted by somebody else
    with caplog.at_level(logging.WARNING, logger="specwire.console.traffic"):
        advance(generator, clock, 2.0)
    assert "could not create tmp.reprocess-2" in caplog.text
    assert len(generator.temporary_topics) == 0
    assert engine.topic_exists("tmp.reprocess-2")  # left alone
    advance(generator, clock, 2.0)
    assert generator.temporary_topics == ("tmp.reprocess-3",)


async def test_offline_partitions_and_deleted_topics_refuse_messages() -> None:
    plan = TrafficPlan(producers=(ProducerWorkload("events", 3, 100.0, 100, 1),), jitter=0.0)
    engine, generator, clock = make(plan)
    await generator.setup()
    offline = (await engine.state()).topics[0].partitions[0]
    assert offline.leader is not None
    engine.stop_broker(offline.leader)
    advance(generator, clock, 3)
    assert 90 <= generator.refused_messages <= 110  # a third of 300
    assert generator.produced_messages + generator.refused_messages == 300
    await engine.delete_topic("events")
    advance(generator, clock, 1)
    assert generator.produced_messages + generator.refused_messages == 400


async def test_consumers_skip_offline_partitions_and_follow_resets() -> None:
    consumer = ConsumerWorkload("c", ("events",), capacity=300.0)
    engine, generator, clock = make(
        TrafficPlan(
            producers=(ProducerWorkload("events", 2, 100.0, 100, 1),),
            consumers=(consumer,),
            jitter=0.0,
        )
    )
    await generator.setup()
    advance(generator, clock, 2)
    assert lag(await engine.state(), "c") == 0
    # An outside reset (the REST API) is where the group reads next.
    assert engine.reset_offsets("c", "events", 0, 0) == 0
    advance(generator, clock, 0.1)
    end = engine.log_offsets("events", 0)[1]
    assert 0 < (engine.committed_offset("c", "events", 0) or 0) <= end - 50
    # An offline partition is skipped; the other one is still read.
    leader = (await engine.state()).topics[0].partitions[0].leader
    assert leader is not None
    engine.stop_broker(leader)
    advance(generator, clock, 1)
    state = await engine.state()
    offsets = group_of(state, "c").offsets
    ends = [p.end_offset for p in state.topics[0].partitions]
    assert offsets[("events", 1)].offset == ends[1]


async def test_consumers_follow_deleted_topics_and_small_budgets() -> None:
    plan = TrafficPlan(
        producers=(
            ProducerWorkload("a", 4, 100.0, 100),
            ProducerWorkload("b", 2, 100.0, 100),
        ),
        consumers=(ConsumerWorkload("g", ("a", "b"), capacity=15.0),),
        jitter=0.0,
    )
    engine, generator, clock = make(plan)
    await generator.setup()
    advance(generator, clock, 1)
    # 1.5 messages a tick over six lagging partitions: a few get one each.
    assert 14 <= generator.fetched_messages <= 15
    await engine.delete_topic("b")
    advance(generator, clock, 1)
    offsets = group_of(await engine.state(), "g").offsets
    assert set(offsets) == {("a", 0), ("a", 1), ("a", 2), ("a", 3)}


async def test_retention_moves_offsets_under_consumers() -> None:
    engine, generator, clock = make()
    await generator.setup()
    advance(generator, clock, 40, tick=0.25)
    state = await engine.state()
    clickstream = next(t for t in state.topics if t.name == "clickstream")
    assert all(p.start_offset > 0 for p in clickstream.partitions)
    assert all(p.size_bytes <= 524_288 for p in clickstream.partitions)
    assert lag(state, "analytics") < 500


async def test_two_minutes_of_default_traffic_show_the_troubles() -> None:
    engine, generator, clock = make()
    await generator.setup()
    stalled = stopped = False
    churned: set[str] = set()
    deleted: set[str] = set()
    fraud_lag: list[int] = []
    for _ in range(120):
        advance(generator, clock, 1.0, tick=0.25)
        stalled |= generator.in_episode("audit-archiver")
        stopped |= generator.in_episode("reporting")
        now = set(generator.temporary_topics)
        deleted |= churned - now
        churned |= now
        fraud_lag.append(lag(await engine.state(), "fraud-scoring"))
    assert stalled
    assert stopped
    assert churned
    assert deleted
    assert fraud_lag[-1] > fraud_lag[10] + 1_000


# ---------------------------------------------------------------------- run


async def test_run_steps_until_stopped_and_survives_errors(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = EmbeddedEngine(seed=1)
    generator = TrafficGenerator(engine, seed=1, tick_s=0.001)
    stop = asyncio.Event()
    elapsed: list[float] = []

    def step(elapsed_s: float) -> None:
        elapsed.append(elapsed_s)
        if len(elapsed) == 1:
            raise RuntimeError("boom")
        if len(elapsed) == 3:
            stop.set()

    monkeypatch.setattr(generator, "step", step)
    with caplog.at_level(logging.ERROR, logger="specwire.console.traffic"):
        await asyncio.wait_for(generator.run(stop), timeout=10)
    assert len(elapsed) == 3
    assert all(0 < e <= generator.max_step_s for e in elapsed)
    assert "traffic step failed" in caplog.text
    assert "boom" in caplog.text


async def test_run_until_cancelled(monkeypatch: pytest.MonkeyPatch) -> None:
    generator = TrafficGenerator(EmbeddedEngine(seed=1), seed=1, tick_s=0.001)
    stepped = asyncio.Event()
    calls: list[float] = []

    def step(elapsed_s: float) -> None:
        calls.append(elapsed_s)
        if len(calls) == 2:
            stepped.set()

    monkeypatch.setattr(generator, "step", step)
    task = asyncio.create_task(generator.run())
    await asyncio.wait_for(stepped.wait(), timeout=10)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert len(calls) >= 2


async def test_run_returns_at_once_when_already_stopped() -> None:
    generator = TrafficGenerator(EmbeddedEngine(seed=1), seed=1)
    stop = asyncio.Event()
    stop.set()
    await generator.run(stop)
    assert generator.simulated_s == 0
