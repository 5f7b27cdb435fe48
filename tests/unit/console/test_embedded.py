"""specwire.console.embedded: the in-process cluster model behind the console server."""

from __future__ import annotations

from collections import Counter

import pytest

from specwire.console.embedded import (
    DEFAULT_RETENTION_MS,
    PERCENTILES,
    EmbeddedEngine,
    GroupNotEmpty,
    GroupNotFound,
    PartitionOffline,
)
from specwire.console.engine import (
    BrokerNotFound,
    ClusterEngine,
    ClusterState,
    CommittedOffset,
    EngineError,
    GroupState,
    InvalidTopic,
    TopicExists,
    TopicNotFound,
    TopicState,
)

T0 = 1_700_000_000.0


class FakeClock:
    """Unix seconds that move only when a test says so."""

    def __init__(self, now: float = T0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def engine(clock: FakeClock) -> EmbeddedEngine:
    return EmbeddedEngine(brokers=3, seed=7, clock=clock)


def topic_of(state: ClusterState, name: str) -> TopicState:
    return next(t for t in state.topics if t.name == name)


def group_of(state: ClusterState, group_id: str) -> GroupState:
    return next(g for g in state.groups if g.group_id == group_id)


def test_is_a_cluster_engine(engine: EmbeddedEngine) -> None:
    as_protocol: ClusterEngine = engine
    assert as_protocol.name == "embedded"


async def test_fresh_cluster(engine: EmbeddedEngine, clock: FakeClock) -> None:
    state = await engine.state()
    assert state.taken_at_ms == int(T0 * 1000)
    assert [(b.id, b.online) for b in state.brokers] == [(1, True), (2, True), (3, True)]
    assert state.controller_id == 1
    assert state.topics == ()
    assert state.groups == ()
    assert state.counters.produce_messages == 0
    assert state.counters.requests == 0
    with pytest.raises(ValueError, match="at least one broker"):
        EmbeddedEngine(brokers=0)
    await engine.close()


# ---------------------------------------------------------------------- topics and placement


async def test_create_topic_places_replicas_round_robin(engine: EmbeddedEngine) -> None:
    topic = await engine.create_topic("orders", 6)
    assert topic.replication_factor == 3
    assert topic.config == {}
    assert [p.partition for p in topic.partitions] == list(range(6))
    for p in topic.partitions:
        assert sorted(p.replicas) == [1, 2, 3]
        assert p.leader == p.replicas[0]
        assert p.isr == p.replicas
        assert (p.start_offset, p.end_offset, p.size_bytes) == (0, 0, 0)
    # Round robin: leadership is spread evenly over the brokers.
    assert Counter(p.leader for p in topic.partitions) == {1: 2, 2: 2, 3: 2}
    assert engine.topic_exists("orders")
    assert engine.partition_count("orders") == 6
    assert engine.log_offsets("orders", 5) == (0, 0)


async def test_replication_factor_defaults_to_at_most_three(clock: FakeClock) -> None:
    small = EmbeddedEngine(brokers=1, seed=1, clock=clock)
    assert (await small.create_topic("a", 2)).replication_factor == 1
    large = EmbeddedEngine(brokers=5, seed=1, clock=clock)
    topic = await large.create_topic("a", 10, 2)
    assert topic.replication_factor == 2
    assert all(len(set(p.replicas)) == 2 for p in topic.partitions)
    assert (await large.create_topic("b", 10)).replication_factor == 3
    assert Counter(p.leader for p in topic.partitions) == dict.fromkeys(range(1, 6), 2)


async def test_placement_is_seeded(clock: FakeClock) -> None:
    def replicas(seed: int) -> list[tuple[int, ...]]:
        engine = EmbeddedEngine(brokers=5, seed=seed, clock=clock)
        created = [engine.create_topic_sync(f"t{i}", 4, 3) for i in range(5)]
        return [p.replicas for t in created for p in t.partitions]

    assert replicas(11) == replicas(11)
    assert len({replicas(s)[0] for s in range(20)}) > 1


@pytest.mark.parametrize(
    ("kwargs", "field", "message"),
    [
        ({"name": ""}, "name", "illegal"),
        ({"name": "."}, "name", "illegal"),
        ({"name": ".."}, "name", "illegal"),
        ({"name": "a" * 250}, "name", "illegal"),
        ({"name": "has space"}, "name", "illegal"),
        ({"name": "bad/slash"}, "name", "illegal"),
        ({"partitions": 0}, "partitions", "larger than 0"),
        ({"partitions": 10_001}, "partitions", "at most 10000"),
        ({"partitions": True}, "partitions", "larger than 0"),
        ({"replication_factor": 0}, "replication_factor", "larger than 0"),
        (
            {"replication_factor": 4},
            "replication_factor",
            "Replication factor: 4 larger than available brokers: 3",
        ),
        ({"config": {"": "1"}}, "config", "non-empty"),
        ({"config": {1: "1"}}, "config", "non-empty"),
        ({"config": {"retention.ms": 1000}}, "config", "must be a string"),
        ({"config": {"retention.ms": "soon"}}, "config", "retention.ms"),
        ({"config": {"retention.bytes": "-2"}}, "config", "retention.bytes"),
        ({"config": {"segment.bytes": "1.5"}}, "config", "segment.bytes"),
        ({"config": {"min.insync.replicas": ""}}, "config", "min.insync.replicas"),
        ({"config": [("retention.ms", "1")]}, "config", "mapping"),
    ],
)
async def test_create_topic_validation(
    engine: EmbeddedEngine, kwargs: dict[str, object], field: str, message: str
) -> None:
    args: dict[str, object] = {"name": "orders", "partitions": 3, **kwargs}
    with pytest.raises(InvalidTopic, match=message) as raised:
        await engine.create_topic(**args)  # type: ignore[arg-type]
    assert raised.value.field == field
    assert (await engine.state()).topics == ()


async def test_create_topic_accepts_kafka_names_and_configs(engine: EmbeddedEngine) -> None:
    name = "A-z_0.9" + "x" * 242
    assert len(name) == 249
    config = {"retention.ms": "-1", "cleanup.policy": "compact", "min.insync.replicas": "2"}
    topic = await engine.create_topic(name, 1, 1, config)
    assert topic.config == config
    config["cleanup.policy"] = "delete"
    assert topic.config["cleanup.policy"] == "compact"
    with pytest.raises(TypeError):
        topic.config["x"] = "y"  # type: ignore[index]


async def test_replication_factor_counts_registered_brokers(engine: EmbeddedEngine) -> None:
    engine.stop_broker(3)
    topic = await engine.create_topic("orders", 3, 3)
    for p in topic.partitions:
        assert 3 in p.replicas
        assert p.isr == tuple(r for r in p.replicas if r != 3)
        assert p.leader == p.isr[0]
    engine.stop_broker(1)
    engine.stop_broker(2)
    offline = await engine.create_topic("offline", 2, 1)
    assert all(p.leader is None and p.isr == () for p in offline.partitions)


async def test_topic_exists(engine: EmbeddedEngine) -> None:
    await engine.create_topic("orders", 3)
    with pytest.raises(TopicExists) as raised:
        await engine.create_topic("orders", 6)
    assert raised.value.field == "name"
    assert len(topic_of(await engine.state(), "orders").partitions) == 3


async def test_topics_are_sorted_by_name(engine: EmbeddedEngine) -> None:
    for name in ["payments", "audit.log", "orders", "clickstream"]:
        await engine.create_topic(name, 1)
    state = await engine.state()
    assert [t.name for t in state.topics] == ["audit.log", "clickstream", "orders", "payments"]


async def test_delete_topic_removes_offsets_assignments_and_counters(
    engine: EmbeddedEngine,
) -> None:
    await engine.create_topic("orders", 2)
    await engine.create_topic("payments", 2)
    engine.join_group("billing", "m1", "c1", "/10.0.0.1", ["orders", "payments"])
    for topic in ("orders", "payments"):
        engine.produce(topic, 0, 10, 1000)
        engine.commit("billing", topic, 0, 4)
    await engine.delete_topic("orders")
    state = await engine.state()
    assert [t.name for t in state.topics] == ["payments"]
    billing = group_of(state, "billing")
    assert set(billing.offsets) == {("payments", 0)}
    assert billing.members[0].assignments == (("payments", 0), ("payments", 1))
    assert set(state.counters.topics) == {"payments"}
    assert set(state.counters.partitions) == {("payments", 0), ("payments", 1)}
    assert state.counters.produce_messages == 20  # totals keep what was produced
    assert engine.assignment("billing") == (("payments", 0), ("payments", 1))
    with pytest.raises(TopicNotFound) as raised:
        await engine.delete_topic("orders")
    assert raised.value.field == "topic"
    # The name is free again, with fresh offsets.
    again = await engine.create_topic("orders", 1)
    assert again.partitions[0].end_offset == 0
    assert engine.assignment("billing") == (("orders", 0), ("payments", 0), ("payments", 1))


# ---------------------------------------------------------------------- produce and fetch


async def test_produce_and_fetch_move_offsets_and_counters(engine: EmbeddedEngine) -> None:
    await engine.create_topic("orders", 3)
    assert engine.produce("orders", 1, 10, 6_000) == 0
    assert engine.produce("orders", 1, 5, 3_000) == 10
    assert engine.produce("orders", 2, 1, 100) == 0
    state = await engine.state()
    p1 = topic_of(state, "orders").partitions[1]
    assert (p1.start_offset, p1.end_offset, p1.size_bytes) == (0, 15, 9_000)
    assert engine.fetch("orders", 1, 0, 4) == (4, 2_400)
    assert engine.fetch("orders", 1, 12, 100) == (3, 1_800)
    assert engine.fetch("orders", 1, 15, 100) == (0, 0)
    assert engine.fetch("orders", 1, 99, 100) == (0, 0)  # clamped to the end
    assert engine.fetch("orders", 1, -5, 1) == (1, 600)  # clamped to the start
    assert engine.fetch("orders", 0, 0, 10) == (0, 0)  # an empty log
    counters = (await engine.state()).counters
    assert (counters.produce_messages, counters.produce_bytes) == (16, 9_100)
    assert (counters.fetch_messages, counters.fetch_bytes) == (8, 4_800)
    assert counters.requests == 3 + 6
    orders = counters.topics["orders"]
    assert (orders.produce_messages, orders.produce_bytes) == (16, 9_100)
    assert (orders.fetch_messages, orders.fetch_bytes) == (8, 4_800)
    assert dict(counters.partitions) == {("orders", 0): 0, ("orders", 1): 15, ("orders", 2): 1}


async def test_produce_and_fetch_errors(engine: EmbeddedEngine) -> None:
    await engine.create_topic("orders", 2)
    with pytest.raises(TopicNotFound):
        engine.produce("nope", 0, 1, 1)
    with pytest.raises(EngineError, match="no partition 2") as raised:
        engine.produce("orders", 2, 1, 1)
    assert raised.value.field == "partition"
    with pytest.raises(EngineError, match="no partition -1"):
        engine.fetch("orders", -1, 0, 1)
    with pytest.raises(EngineError) as raised:
        engine.produce("orders", 0, 0, 1)
    assert raised.value.field == "messages"
    with pytest.raises(EngineError) as raised:
        engine.produce("orders", 0, 1, -1)
    assert raised.value.field == "size_bytes"
    with pytest.raises(EngineError) as raised:
        engine.fetch("orders", 0, 0, -1)
    assert raised.value.field == "max_messages"
    with pytest.raises(TopicNotFound):
        engine.fetch("nope", 0, 0, 1)
    assert (await engine.state()).counters.requests == 0


# ---------------------------------------------------------------------- retention


async def test_retention_bytes_moves_the_start_offset(engine: EmbeddedEngine) -> None:
    await engine.create_topic("clicks", 1, config={"retention.bytes": "6400"})
    for _ in range(20):
        engine.produce("clicks", 0, 10, 1_000)
    p = topic_of(await engine.state(), "clicks").partitions[0]
    assert p.end_offset == 200
    assert p.start_offset > 0
    assert p.size_bytes <= 6_400
    # What is retained is what lies between the offsets (100 bytes a message here).
    assert p.size_bytes == (p.end_offset - p.start_offset) * 100
    assert engine.fetch("clicks", 0, 0, 1_000) == (p.end_offset - p.start_offset, p.size_bytes)


async def test_retention_bytes_keeps_the_active_segment(engine: EmbeddedEngine) -> None:
    await engine.create_topic("big", 1, config={"retention.bytes": "0"})
    engine.produce("big", 0, 5, 5_000)
    engine.produce("big", 0, 3, 3_000)
    p = topic_of(await engine.state(), "big").partitions[0]
    assert (p.start_offset, p.end_offset, p.size_bytes) == (5, 8, 3_000)


async def test_retention_ms_applies_on_produce_and_in_state(
    engine: EmbeddedEngine, clock: FakeClock
) -> None:
    await engine.create_topic("short", 2, config={"retention.ms": "60000"})
    engine.produce("short", 0, 10, 1_000)
    engine.produce("short", 1, 4, 400)
    clock.advance(30)
    engine.produce("short", 0, 10, 1_000)
    clock.advance(31)
    # On produce: the first batch is older than a minute now.
    engine.produce("short", 0, 1, 100)
    p0 = topic_of(await engine.state(), "short").partitions[0]
    assert (p0.start_offset, p0.end_offset, p0.size_bytes) == (10, 21, 1_100)
    # In state(): partition 1 got nothing new, yet its old batch is gone.
    p1 = topic_of(await engine.state(), "short").partitions[1]
    assert (p1.start_offset, p1.end_offset, p1.size_bytes) == (4, 4, 0)
    clock.advance(120)
    p0 = topic_of(await engine.state(), "short").partitions[0]
    assert (p0.start_offset, p0.end_offset, p0.size_bytes) == (21, 21, 0)


async def test_default_retention_is_seven_days(engine: EmbeddedEngine, clock: FakeClock) -> None:
    await engine.create_topic("orders", 1)
    await engine.create_topic("forever", 1, config={"retention.ms": "-1"})
    engine.produce("orders", 0, 10, 1_000)
    engine.produce("forever", 0, 10, 1_000)
    clock.advance(DEFAULT_RETENTION_MS / 1000 - 1)
    assert topic_of(await engine.state(), "orders").partitions[0].start_offset == 0
    clock.advance(2)
    state = await engine.state()
    assert topic_of(state, "orders").partitions[0].start_offset == 10
    assert topic_of(state, "forever").partitions[0].start_offset == 0


async def test_segments_roll_so_memory_stays_bounded(
    engine: EmbeddedEngine, clock: FakeClock
) -> None:
    await engine.create_topic("clicks", 1, config={"retention.bytes": "64000"})
    for _ in range(10_000):
        engine.produce("clicks", 0, 1, 100)
        clock.advance(0.001)
    p = topic_of(await engine.state(), "clicks").partitions[0]
    assert p.end_offset == 10_000
    assert 63_000 <= p.size_bytes <= 64_000
    assert p.size_bytes == (p.end_offset - p.start_offset) * 100


# ---------------------------------------------------------------------- groups


async def test_commit_stores_offsets_even_when_unchanged(
    engine: EmbeddedEngine, clock: FakeClock
) -> None:
    await engine.create_topic("orders", 2)
    engine.produce("orders", 0, 100, 10_000)
    engine.commit("billing", "orders", 0, 40)
    first = group_of(await engine.state(), "billing")
    assert first.state == "Empty"
    assert first.members == ()
    assert first.offsets == {("orders", 0): CommittedOffset(40, int(T0 * 1000))}
    clock.advance(5)
    engine.commit("billing", "orders", 0, 40)
    again = group_of(await engine.state(), "billing")
    assert again.offsets[("orders", 0)] == CommittedOffset(40, int(T0 * 1000) + 5_000)
    assert engine.committed_offset("billing", "orders", 0) == 40
    assert engine.committed_offset("billing", "orders", 1) is None
    assert engine.committed_offset("nobody", "orders", 0) is None
    # The inputs of lag: end offset minus committed offset.
    state = await engine.state()
    end = topic_of(state, "orders").partitions[0].end_offset
    assert end - group_of(state, "billing").offsets[("orders", 0)].offset == 60
    assert state.counters.requests == 3
    with pytest.raises(TopicNotFound):
        engine.commit("billing", "nope", 0, 1)
    with pytest.raises(EngineError, match="no partition 2"):
        engine.commit("billing", "orders", 2, 1)


async def test_range_assignment_on_join_and_leave(engine: EmbeddedEngine) -> None:
    await engine.create_topic("orders", 7)
    await engine.create_topic("payments", 2)
    engine.join_group("billing", "m-b", "client-b", "/10.0.0.2", ["orders", "payments"])
    engine.join_group("billing", "m-a", "client-a", "/10.0.0.1", ["orders", "payments"])
    engine.join_group("billing", "m-c", "client-c", "/10.0.0.3", ["orders"])
    group = group_of(await engine.state(), "billing")
    assert group.state == "Stable"
    assignments = {m.member_id: m.assignments for m in group.members}
    assert [m.member_id for m in group.members] == ["m-a", "m-b", "m-c"]
    assert assignments == {
        "m-a": (("orders", 0), ("orders", 1), ("orders", 2), ("payments", 0)),
        "m-b": (("orders", 3), ("orders", 4), ("payments", 1)),
        "m-c": (("orders", 5), ("orders", 6)),
    }
    assert group.members[0].client_id == "client-a"
    assert group.members[0].host == "/10.0.0.1"
    engine.leave_group("billing", "m-a")
    group = group_of(await engine.state(), "billing")
    assert {m.member_id: m.assignments for m in group.members} == {
        "m-b": (
            ("orders", 0),
            ("orders", 1),
            ("orders", 2),
            ("orders", 3),
            ("payments", 0),
            ("payments", 1),
        ),
        "m-c": (("orders", 4), ("orders", 5), ("orders", 6)),
    }
    engine.leave_group("billing", "m-unknown")  # ignored
    engine.leave_group("billing", "m-b")
    engine.leave_group("billing", "m-c")
    group = group_of(await engine.state(), "billing")
    assert (group.state, group.members) == ("Empty", ())
    assert engine.assignment("billing") == ()
    assert engine.assignment("nobody") == ()
    with pytest.raises(GroupNotFound):
        engine.leave_group("nobody", "m")


async def test_rejoin_updates_the_subscription(engine: EmbeddedEngine) -> None:
    await engine.create_topic("orders", 2)
    await engine.create_topic("payments", 1)
    engine.join_group("g", "m", "c", "/h", ["orders"])
    engine.join_group("g", "m", "c2", "/h2", ["payments", "later"])
    member = group_of(await engine.state(), "g").members[0]
    assert (member.client_id, member.host, member.assignments) == ("c2", "/h2", (("payments", 0),))
    # A subscribed topic created later is assigned at once.
    await engine.create_topic("later", 2)
    member = group_of(await engine.state(), "g").members[0]
    assert member.assignments == (("later", 0), ("later", 1), ("payments", 0))


async def test_delete_group(engine: EmbeddedEngine) -> None:
    await engine.create_topic("orders", 1)
    engine.join_group("g", "m", "c", "/h", ["orders"])
    engine.commit("g", "orders", 0, 0)
    with pytest.raises(GroupNotEmpty) as raised:
        engine.delete_group("g")
    assert raised.value.field == "group_id"
    engine.leave_group("g", "m")
    engine.delete_group("g")
    assert (await engine.state()).groups == ()
    with pytest.raises(GroupNotFound):
        engine.delete_group("g")


async def test_reset_offsets_clamps_to_the_log(engine: EmbeddedEngine, clock: FakeClock) -> None:
    await engine.create_topic("orders", 1, config={"retention.bytes": "500"})
    for _ in range(10):
        engine.produce("orders", 0, 1, 100)
    start, end = engine.log_offsets("orders", 0)
    assert (start, end) == (5, 10)
    assert engine.reset_offsets("ops", "orders", 0, 7) == 7
    assert engine.reset_offsets("ops", "orders", 0, 0) == 5
    clock.advance(1)
    assert engine.reset_offsets("ops", "orders", 0, 99) == 10
    offsets = group_of(await engine.state(), "ops").offsets
    assert offsets[("orders", 0)] == CommittedOffset(10, int(T0 * 1000) + 1_000)
    with pytest.raises(TopicNotFound):
        engine.reset_offsets("ops", "nope", 0, 0)


async def test_groups_are_sorted_by_id(engine: EmbeddedEngine) -> None:
    await engine.create_topic("orders", 1)
    for group_id in ["reporting", "analytics", "order-service"]:
        engine.commit(group_id, "orders", 0, 0)
    ids = [g.group_id for g in (await engine.state()).groups]
    assert ids == ["analytics", "order-service", "reporting"]


# ---------------------------------------------------------------------- brokers


async def test_stop_broker_shrinks_isr_moves_leaders_and_controller(
    engine: EmbeddedEngine,
) -> None:
    before = await engine.create_topic("orders", 6)
    engine.stop_broker(1)
    engine.stop_broker(1)  # idempotent
    state = await engine.state()
    assert [(b.id, b.online) for b in state.brokers] == [(1, False), (2, True), (3, True)]
    assert state.controller_id == 2
    after = topic_of(state, "orders")
    for old, new in zip(before.partitions, after.partitions, strict=True):
        assert new.replicas == old.replicas
        assert new.isr == tuple(r for r in old.replicas if r != 1)
        if old.leader == 1:
            assert new.leader == new.isr[0]
        else:
            assert new.leader == old.leader
    assert all(p.leader != 1 for p in after.partitions)
    # A shrunken ISR still takes writes.
    assert engine.produce("orders", 0, 1, 10) == 0
    with pytest.raises(BrokerNotFound) as raised:
        engine.stop_broker(9)
    assert raised.value.field == "broker_id"
    with pytest.raises(BrokerNotFound):
        engine.start_broker(0)


async def test_stopping_every_replica_takes_the_partition_offline(
    engine: EmbeddedEngine,
) -> None:
    topic = await engine.create_topic("audit.log", 3, 2)
    await engine.create_topic("all", 1, 3)
    engine.produce("audit.log", 0, 5, 500)
    gone = topic.partitions[0].replicas
    for broker in gone:
        engine.stop_broker(broker)
    state = await engine.state()
    p0 = topic_of(state, "audit.log").partitions[0]
    assert (p0.leader, p0.isr) == (None, ())
    with pytest.raises(PartitionOffline) as raised:
        engine.produce("audit.log", 0, 1, 100)
    assert raised.value.field == "partition"
    with pytest.raises(PartitionOffline):
        engine.fetch("audit.log", 0, 0, 1)
    # Partitions with a surviving replica are still led by it.
    survivor = next(b for b in (1, 2, 3) if b not in gone)
    assert topic_of(state, "all").partitions[0].leader == survivor
    assert state.controller_id == survivor
    engine.stop_broker(survivor)
    assert (await engine.state()).controller_id is None
    # Starting a replica again brings the partition back, data intact.
    engine.start_broker(gone[1])
    engine.start_broker(gone[1])  # idempotent
    state = await engine.state()
    assert state.controller_id == gone[1]
    p0 = topic_of(state, "audit.log").partitions[0]
    assert (p0.leader, p0.isr, p0.end_offset) == (gone[1], (gone[1],), 5)
    assert engine.produce("audit.log", 0, 1, 100) == 5
    for broker in (1, 2, 3):
        engine.start_broker(broker)
    state = await engine.state()
    assert state.controller_id == gone[1]
    for t in state.topics:
        for p in t.partitions:
            assert p.isr == p.replicas
            assert p.leader is not None


async def test_start_broker_restores_isr_in_replica_order(engine: EmbeddedEngine) -> None:
    topic = await engine.create_topic("orders", 3)
    engine.stop_broker(2)
    engine.start_broker(2)
    again = topic_of(await engine.state(), "orders")
    for old, new in zip(topic.partitions, again.partitions, strict=True):
        assert new.isr == old.replicas
        assert new.leader is not None


# ---------------------------------------------------------------------- latency


async def test_take_latency_windows(engine: EmbeddedEngine, clock: FakeClock) -> None:
    await engine.create_topic("orders", 3)
    clock.advance(2)
    for i in range(200):
        engine.produce("orders", i % 3, 10, 6_000)
        engine.fetch("orders", i % 3, 0, 10)
    window = await engine.take_latency()
    assert window.window_ms == 2_000
    assert (window.produce_count, window.fetch_count) == (200, 200)
    assert tuple(window.produce) == PERCENTILES
    assert tuple(window.fetch) == PERCENTILES
    values = [window.produce[p] for p in PERCENTILES]
    assert values == sorted(values)
    # The documented magnitudes, in microseconds.
    assert 1_500 <= window.produce[50] <= 6_000
    assert 6_000 <= window.produce[99] <= 40_000
    assert 500 <= window.fetch[50] <= 2_500
    fresh = await engine.take_latency()
    assert fresh.window_ms == 1
    assert (fresh.produce, fresh.fetch) == ({}, {})
    assert (fresh.produce_count, fresh.fetch_count) == (0, 0)
    # The old window is a value: the reset did not reach it.
    assert window.produce_count == 200
    assert window.produce[50] == values[0]


async def test_produce_latency_follows_the_isr(clock: FakeClock) -> None:
    async def p50(replication_factor: int, followers_stopped: int = 0) -> float:
        engine = EmbeddedEngine(brokers=3, seed=3, clock=clock)
        topic = await engine.create_topic("t", 1, replication_factor)
        for broker in topic.partitions[0].replicas[1 : 1 + followers_stopped]:
            engine.stop_broker(broker)
        for _ in range(500):
            engine.produce("t", 0, 1, 500)
        return (await engine.take_latency()).produce[50]

    single, two, three = await p50(1), await p50(2), await p50(3)
    assert single < two < three
    # A shrunken ISR waits for fewer followers.
    assert await p50(3, followers_stopped=1) < three
    assert await p50(3, followers_stopped=2) < two


async def test_latency_is_recorded_within_the_histogram_range(engine: EmbeddedEngine) -> None:
    await engine.create_topic("huge", 1, 3)
    engine.produce("huge", 0, 1, 50_000_000_000)  # a 50 GB batch: clamped to 60 s
    window = await engine.take_latency()
    assert 59_000_000 <= window.produce[99.9] <= 60_100_000


# ---------------------------------------------------------------------- values


async def test_state_values_do_not_change_afterwards(
    engine: EmbeddedEngine, clock: FakeClock
) -> None:
    await engine.create_topic("orders", 2)
    engine.join_group("g", "m1", "c", "/h", ["orders"])
    engine.produce("orders", 0, 10, 1_000)
    engine.commit("g", "orders", 0, 3)
    old = await engine.state()
    old_orders = topic_of(old, "orders")
    old_group = group_of(old, "g")
    old_counters = old.counters

    clock.advance(1)
    engine.produce("orders", 0, 10, 1_000)
    engine.commit("g", "orders", 0, 8)
    engine.commit("g", "orders", 1, 0)
    engine.join_group("g", "m2", "c", "/h", ["orders"])
    engine.stop_broker(1)
    await engine.create_topic("payments", 1)
    await engine.delete_topic("orders")
    new = await engine.state()

    assert old.taken_at_ms == int(T0 * 1000)
    assert [t.name for t in old.topics] == ["orders"]
    assert old_orders.partitions[0].end_offset == 10
    assert all(p.isr == p.replicas for p in old_orders.partitions)
    assert [b.online for b in old.brokers] == [True, True, True]
    assert old.controller_id == 1
    assert dict(old_group.offsets) == {("orders", 0): CommittedOffset(3, int(T0 * 1000))}
    assert [m.member_id for m in old_group.members] == ["m1"]
    assert old_counters.produce_messages == 10
    assert dict(old_counters.topics)["orders"].produce_messages == 10
    assert dict(old_counters.partitions) == {("orders", 0): 10, ("orders", 1): 0}
    assert new.counters.produce_messages == 20
    assert "orders" not in new.counters.topics
    for mapping in (old_group.offsets, old_counters.topics, old_counters.partitions):
        with pytest.raises(TypeError):
            mapping["x"] = 1  # type: ignore[index]


async def test_unchanged_parts_are_shared_between_states(engine: EmbeddedEngine) -> None:
    await engine.create_topic("orders", 2)
    await engine.create_topic("payments", 2)
    engine.commit("g", "orders", 0, 0)
    engine.commit("h", "orders", 0, 0)
    first = await engine.state()
    engine.produce("orders", 1, 1, 10)
    engine.commit("h", "orders", 0, 0)
    second = await engine.state()
    assert second.brokers is first.brokers
    assert topic_of(second, "payments") is topic_of(first, "payments")
    orders_first, orders_second = topic_of(first, "orders"), topic_of(second, "orders")
    assert orders_second is not orders_first
    assert orders_second.partitions[0] is orders_first.partitions[0]
    assert orders_second.partitions[1].end_offset == 1
    assert group_of(second, "g") is group_of(first, "g")
    assert group_of(second, "h") is not group_of(first, "h")
