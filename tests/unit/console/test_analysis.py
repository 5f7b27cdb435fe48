"""Tests for ``specwire.console.analysis``: rates, latency, health, topics, lag and Burrow status."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from importlib import resources

import pytest
from console_live_updates import (
    ConsumerGroupStats,
    LagStatus,
    MetricsSnapshot,
    PartitionLag,
    decode_server_message,
    encode,
)
from jsonschema import Draft7Validator

from specwire.console.analysis import (
    LagTracker,
    SnapshotBuilder,
    StatusChange,
    cluster_health,
    group_state,
    latency,
    throughput,
    topic_stats,
)
from specwire.console.engine import (
    BrokerState,
    ClusterState,
    CommittedOffset,
    GroupState,
    LatencyWindow,
    MemberState,
    PartitionState,
    TopicCounters,
    TopicState,
    TrafficCounters,
)

INTERVAL_MS = 2000

# ---------------------------------------------------------------------------
# Factories
# ---------------------------------------------------------------------------


def part(
    number: int,
    *,
    start: int = 0,
    end: int = 0,
    size: int = 0,
    leader: int | None = 1,
    replicas: tuple[int, ...] = (1, 2, 3),
    isr: tuple[int, ...] | None = None,
) -> PartitionState:
    return PartitionState(
        partition=number,
        leader=leader,
        replicas=replicas,
        isr=replicas if isr is None else isr,
        start_offset=start,
        end_offset=end,
        size_bytes=size,
    )


def topic(name: str, *partitions: PartitionState, rf: int = 3) -> TopicState:
    return TopicState(
        name=name,
        replication_factor=rf,
        config={},
        partitions=partitions or (part(0),),
    )


def brokers(count: int = 3, *, down: Sequence[int] = ()) -> tuple[BrokerState, ...]:
    return tuple(
        BrokerState(id=i, host=f"b{i}", port=9092, online=i not in down)
        for i in range(1, count + 1)
    )


def group(
    group_id: str,
    offsets: Mapping[tuple[str, int], tuple[int, int]] | None = None,
    *,
    assigned: Sequence[tuple[str, int]] = (),
    members: int = 1,
    state: str = "Stable",
) -> GroupState:
    """``offsets`` maps (topic, partition) to (committed offset, committed_at_ms)."""
    member_list = tuple(
        MemberState(
            member_id=f"m{i}",
            client_id="c",
            host="h",
            assignments=tuple(assigned) if i == 0 else (),
        )
        for i in range(members)
    )
    return GroupState(
        group_id=group_id,
        state=state,
        members=member_list,
        offsets={
            key: CommittedOffset(offset=offset, committed_at_ms=at_ms)
            for key, (offset, at_ms) in (offsets or {}).items()
        },
    )


def cluster(
    *,
    at_ms: int = 0,
    topics: Sequence[TopicState] = (),
    groups: Sequence[GroupState] = (),
    counters: TrafficCounters | None = None,
    broker_list: tuple[BrokerState, ...] | None = None,
    controller: int | None = 1,
) -> ClusterState:
    return ClusterState(
        taken_at_ms=at_ms,
        brokers=brokers() if broker_list is None else broker_list,
        controller_id=controller,
        topics=tuple(sorted(topics, key=lambda t: t.name)),
        groups=tuple(sorted(groups, key=lambda g: g.group_id)),
        counters=counters or TrafficCounters(),
    )


def produced(**per_partition: int) -> TrafficCounters:
    """Counters with per-partition produce totals: ``produced(orders_0=100)``."""
    partitions: dict[tuple[str, int], int] = {}
    for key, value in per_partition.items():
        name, _, number = key.rpartition("_")
        partitions[(name, int(number))] = value
    return TrafficCounters(partitions=partitions)


def window(
    produce: Mapping[float, float] | None = None, fetch: Mapping[float, float] | None = None
) -> LatencyWindow:
    return LatencyWindow(window_ms=INTERVAL_MS, produce=produce or {}, fetch=fetch or {})


# ---------------------------------------------------------------------------
# Throughput and latency
# ---------------------------------------------------------------------------


def test_throughput_is_deltas_over_elapsed_time() -> None:
    before = TrafficCounters(
        produce_messages=1000,
        produce_bytes=50_000,
        fetch_messages=800,
        fetch_bytes=40_000,
        requests=100,
    )
    after = TrafficCounters(
        produce_messages=1200,
        produce_bytes=60_000,
        fetch_messages=900,
        fetch_bytes=45_000,
        requests=140,
    )

    rates = throughput(before, after, 2.0)

    assert rates.produce_messages_per_s == 100.0
    assert rates.produce_bytes_per_s == 5000.0
    assert rates.fetch_messages_per_s == 50.0
    assert rates.fetch_bytes_per_s == 2500.0
    assert rates.requests_per_s == 20.0


def test_throughput_clamps_counters_that_went_backwards() -> None:
    before = TrafficCounters(produce_messages=1000, requests=100)
    after = TrafficCounters(produce_messages=10, requests=150)

    rates = throughput(before, after, 2.0)

    assert rates.produce_messages_per_s == 0.0
    assert rates.requests_per_s == 25.0


@pytest.mark.parametrize("elapsed_s", [0.0, -1.0])
def test_throughput_without_elapsed_time_is_zero(elapsed_s: float) -> None:
    rates = throughput(TrafficCounters(), TrafficCounters(produce_messages=5), elapsed_s)

    assert rates.model_dump() == {
        "produce_messages_per_s": 0.0,
        "produce_bytes_per_s": 0.0,
        "fetch_messages_per_s": 0.0,
        "fetch_bytes_per_s": 0.0,
        "requests_per_s": 0.0,
    }


def test_latency_converts_microseconds_to_milliseconds() -> None:
    result = latency(
        LatencyWindow(
            window_ms=5000,
            produce={50: 1234.5678, 95: 2000.0, 99: 15_000.4, 99.9: 120_000.0},
            fetch={},
            produce_count=10,
        )
    )

    assert result.window_ms == 5000
    assert result.produce.p50_ms == 1.235
    assert result.produce.p95_ms == 2.0
    assert result.produce.p99_ms == 15.0
    assert result.produce.p999_ms == 120.0
    assert result.fetch.model_dump() == {
        "p50_ms": None,
        "p95_ms": None,
        "p99_ms": None,
        "p999_ms": None,
    }


# ---------------------------------------------------------------------------
# Cluster health
# ---------------------------------------------------------------------------


def test_a_healthy_cluster_has_no_reason() -> None:
    health = cluster_health(cluster(topics=[topic("orders", part(0), part(1))]))

    assert health.status == "HEALTHY"
    assert health.reasons == []
    assert (health.brokers_online, health.brokers_expected) == (3, 3)
    assert health.controller_id == 1
    assert health.partitions_total == 2
    assert health.partitions_under_replicated == 0
    assert health.partitions_offline == 0


def test_a_broker_down_degrades_the_cluster() -> None:
    health = cluster_health(cluster(broker_list=brokers(3, down=[2]), topics=[topic("orders")]))

    assert health.status == "DEGRADED"
    assert health.reasons == ["broker 2 offline"]
    assert (health.brokers_online, health.brokers_expected) == (2, 3)


def test_under_replicated_partitions_degrade_the_cluster() -> None:
    health = cluster_health(
        cluster(
            topics=[
                topic("orders", part(0, isr=(1, 2)), part(1, isr=(1,)), part(2)),
                topic("payments", part(0, isr=(3,))),
            ]
        )
    )

    assert health.status == "DEGRADED"
    assert health.reasons == ["3 partitions under-replicated"]
    assert health.partitions_under_replicated == 3


def test_offline_partitions_make_the_cluster_unhealthy() -> None:
    health = cluster_health(
        cluster(
            broker_list=brokers(3, down=[3]),
            topics=[
                topic("orders", part(0), part(3, leader=None, isr=())),
                topic("payments", part(0, leader=None, isr=())),
            ],
        )
    )

    assert health.status == "UNHEALTHY"
    assert health.reasons == [
        "2 partitions offline (orders-3, payments-0)",
        "broker 3 offline",
        "2 partitions under-replicated",
    ]
    assert health.partitions_offline == 2


def test_one_offline_partition_is_singular() -> None:
    health = cluster_health(cluster(topics=[topic("orders", part(0, leader=None))]))

    assert health.reasons == ["1 partition offline (orders-0)"]


def test_many_offline_partitions_name_a_few() -> None:
    partitions = [part(i, leader=None) for i in range(5)]
    health = cluster_health(cluster(topics=[topic("orders", *partitions)]))

    assert health.reasons == ["5 partitions offline (orders-0, orders-1, orders-2, …)"]


def test_long_names_keep_a_health_reason_within_the_protocol_limit() -> None:
    long_topics = [topic(letter * 249, part(0, leader=None)) for letter in "abcd"]

    health = cluster_health(cluster(topics=long_topics))

    assert health.reasons == [f"4 partitions offline ({'a' * 249}-0, …)"]


def test_no_controller_makes_the_cluster_unhealthy() -> None:
    health = cluster_health(cluster(controller=None, topics=[topic("orders")]))

    assert health.status == "UNHEALTHY"
    assert health.reasons == ["no active controller"]
    assert health.controller_id is None


# ---------------------------------------------------------------------------
# Topic stats
# ---------------------------------------------------------------------------


def test_topic_stats_sums_partitions_and_rates_counter_deltas() -> None:
    topics = [
        topic("payments", part(0, start=0, end=10, size=100), rf=1),
        topic(
            "orders",
            part(0, start=100, end=150, size=1000),
            part(1, start=0, end=30, size=500, isr=(1,)),
        ),
        topic("fresh", part(0, end=4, size=40)),
        topic("quiet", part(0)),
    ]
    before = cluster(
        counters=TrafficCounters(
            topics={
                "orders": TopicCounters(100, 1000, 50, 500),
                "payments": TopicCounters(500, 5000, 0, 0),
            }
        )
    )
    now = cluster(
        topics=topics,
        counters=TrafficCounters(
            topics={
                "orders": TopicCounters(140, 1800, 60, 700),
                "payments": TopicCounters(10, 100, 0, 0),  # restarted: clamped
                "fresh": TopicCounters(4, 40, 2, 20),
            }
        ),
    )

    stats = topic_stats(before, now, 2.0)

    assert [s.name for s in stats] == ["fresh", "orders", "payments", "quiet"]
    fresh, orders, payments, quiet = stats
    assert (orders.partitions, orders.replication_factor) == (2, 3)
    assert orders.messages == 80
    assert orders.size_bytes == 1500
    assert orders.produce_messages_per_s == 20.0
    assert orders.produce_bytes_per_s == 400.0
    assert orders.fetch_messages_per_s == 5.0
    assert orders.fetch_bytes_per_s == 100.0
    assert orders.under_replicated_partitions == 1
    assert fresh.produce_messages_per_s == 2.0  # new topic: counted from 0
    assert fresh.fetch_bytes_per_s == 10.0
    assert payments.produce_messages_per_s == 0.0
    assert payments.replication_factor == 1
    assert quiet.produce_messages_per_s == 0.0  # no counters at all


def test_topic_stats_without_a_previous_state_has_no_rates() -> None:
    now = cluster(
        topics=[topic("orders", part(0, end=5))],
        counters=TrafficCounters(topics={"orders": TopicCounters(5, 50, 5, 50)}),
    )

    for previous, elapsed_s in [(None, 2.0), (now, 0.0)]:
        (orders,) = topic_stats(previous, now, elapsed_s)
        assert orders.messages == 5
        assert orders.produce_messages_per_s == 0.0
        assert orders.fetch_bytes_per_s == 0.0


# ---------------------------------------------------------------------------
# Lag arithmetic
# ---------------------------------------------------------------------------


def only(stats: list[ConsumerGroupStats]) -> ConsumerGroupStats:
    assert len(stats) == 1
    return stats[0]


def test_lag_per_partition_committed_or_only_assigned() -> None:
    state = cluster(
        topics=[
            topic("orders", part(0, start=10, end=100), part(1, start=50, end=80)),
            topic("payments", part(0, end=40), part(1, end=7)),
        ],
        groups=[
            group(
                "billing",
                {("payments", 1): (9, 0), ("orders", 0): (60, 0)},
                assigned=[("orders", 0), ("orders", 1)],
                members=2,
            )
        ],
    )

    stats = only(LagTracker().observe(state, 2.0, INTERVAL_MS))

    assert stats.group_id == "billing"
    assert stats.state == "Stable"
    assert stats.members == 2
    assert stats.topics == ["orders", "payments"]
    assert stats.partitions == [
        PartitionLag(
            topic="orders",
            partition=0,
            start_offset=10,
            end_offset=100,
            committed_offset=60,
            lag=40,
        ),
        PartitionLag(
            topic="orders",
            partition=1,
            start_offset=50,
            end_offset=80,
            committed_offset=None,
            lag=30,
        ),
        # Committed past the end (the log was truncated): lag clamps at 0.
        PartitionLag(
            topic="payments", partition=1, start_offset=0, end_offset=7, committed_offset=9, lag=0
        ),
    ]
    assert stats.total_lag == 70
    assert stats.max_lag == 40
    assert stats.status == "OK"


def test_partitions_of_deleted_topics_are_left_out() -> None:
    state = cluster(
        topics=[topic("orders", part(0, end=10))],
        groups=[
            group(
                "billing",
                {("orders", 0): (5, 0), ("gone", 0): (5, 0), ("orders", 9): (1, 0)},
                assigned=[("gone", 1)],
            )
        ],
    )

    stats = only(LagTracker().observe(state, 2.0, INTERVAL_MS))

    assert stats.topics == ["orders"]
    assert [(p.topic, p.partition) for p in stats.partitions] == [("orders", 0)]


def test_a_group_with_nothing_is_empty_and_ok() -> None:
    state = cluster(groups=[group("idle", members=0, state="Empty")])

    stats = only(LagTracker().observe(state, 2.0, INTERVAL_MS))

    assert stats.state == "Empty"
    assert (stats.members, stats.topics, stats.partitions) == (0, [], [])
    assert (stats.total_lag, stats.max_lag) == (0, 0)
    assert stats.lag_seconds is None
    assert stats.status == "OK"


@pytest.mark.parametrize(
    ("engine_state", "members", "expected"),
    [
        ("Stable", 1, "Stable"),
        ("PreparingRebalance", 1, "PreparingRebalance"),
        ("COMPLETING_REBALANCE", 1, "CompletingRebalance"),
        ("empty", 0, "Empty"),
        ("Dead", 0, "Dead"),
        ("Reconciling", 2, "CompletingRebalance"),
        ("Assigning", 2, "PreparingRebalance"),
        ("Unknown", 2, "Stable"),
        ("Unknown", 0, "Empty"),
    ],
)
def test_group_states_map_to_the_protocol(engine_state: str, members: int, expected: str) -> None:
    assert group_state(engine_state, members) == expected


def two_ticks(
    first: ClusterState, second: ClusterState, elapsed_s: float = 2.0
) -> ConsumerGroupStats:
    tracker = LagTracker()
    tracker.observe(first, elapsed_s, INTERVAL_MS)
    return only(tracker.observe(second, elapsed_s, INTERVAL_MS))


def test_lag_seconds_is_the_largest_lag_over_produce_rate() -> None:
    topics_before = [topic("orders", part(0, end=1000), part(1, end=1000), part(2, end=500))]
    topics_after = [topic("orders", part(0, end=1100), part(1, end=1200), part(2, end=500))]
    offsets = {("orders", 0): (1000, 0), ("orders", 1): (900, 0), ("orders", 2): (400, 0)}
    first = cluster(
        topics=topics_before,
        groups=[group("g", offsets)],
        counters=produced(orders_0=1000, orders_1=1000, orders_2=500),
    )
    second = cluster(
        at_ms=2000,
        topics=topics_after,
        groups=[group("g", offsets)],
        counters=produced(orders_0=1100, orders_1=1200, orders_2=500),
    )

    stats = two_ticks(first, second)

    # orders-0: lag 100 at 50/s = 2 s; orders-1: lag 300 at 100/s = 3 s;
    # orders-2: lag 100 with no production: cannot be estimated, left out.
    assert stats.lag_seconds == 3.0


def test_lag_seconds_of_a_caught_up_partition_is_zero() -> None:
    offsets = {("orders", 0): (100, 0), ("orders", 1): (200, 0)}
    first = cluster(
        topics=[topic("orders", part(0, end=100), part(1, end=200))],
        groups=[group("g", offsets)],
        counters=produced(orders_0=100, orders_1=100),
    )
    second = cluster(
        at_ms=2000,
        topics=[topic("orders", part(0, end=100), part(1, end=200))],
        groups=[group("g", offsets)],
        counters=produced(orders_0=100, orders_1=200),
    )

    assert two_ticks(first, second).lag_seconds == 0.0


def test_lag_seconds_needs_production_and_commits() -> None:
    offsets = {("orders", 0): (50, 0)}
    quiet = cluster(
        topics=[topic("orders", part(0, end=100))],
        groups=[group("g", offsets)],
        counters=produced(orders_0=100),
    )
    uncommitted = cluster(
        topics=[topic("orders", part(0, end=100))],
        groups=[group("g", assigned=[("orders", 0)])],
        counters=produced(orders_0=100),
    )
    uncommitted_later = cluster(
        at_ms=2000,
        topics=[topic("orders", part(0, end=200))],
        groups=[group("g", assigned=[("orders", 0)])],
        counters=produced(orders_0=200),
    )

    # First observation: no delta yet.
    assert only(LagTracker().observe(quiet, 2.0, INTERVAL_MS)).lag_seconds is None
    # No production between observations.
    assert two_ticks(quiet, quiet).lag_seconds is None
    # Production, but nothing committed.
    assert two_ticks(uncommitted, uncommitted_later).lag_seconds is None


def test_consumption_rate_sums_committed_offset_advances() -> None:
    topics = [topic("orders", part(0, end=1000), part(1, end=1000), part(2, end=1000))]
    first = cluster(
        topics=topics,
        groups=[
            group("g", {("orders", 0): (100, 0), ("orders", 1): (100, 0), ("orders", 2): (500, 0)})
        ],
    )
    second = cluster(
        at_ms=2000,
        topics=topics,
        groups=[
            group(
                "g",
                {
                    ("orders", 0): (200, 2000),
                    ("orders", 1): (150, 2000),
                    ("orders", 2): (400, 2000),  # moved back: not consumption
                },
            )
        ],
    )

    assert only(LagTracker().observe(first, 2.0, INTERVAL_MS)).consumption_messages_per_s == 0.0
    assert two_ticks(first, second).consumption_messages_per_s == 75.0
    assert two_ticks(first, second, elapsed_s=0.0).consumption_messages_per_s == 0.0


# ---------------------------------------------------------------------------
# Burrow-style status
# ---------------------------------------------------------------------------

Tick = tuple[int, int, int | None]
"""(log end offset, committed offset, committed_at_ms or None for "at this tick")."""


class Run:
    """Feeds one group with one partition ``orders-0`` through a tracker, tick by tick."""

    def __init__(self, *, start_offset: int = 0, window: int = 10) -> None:
        self.tracker = LagTracker(window)
        self.start_offset = start_offset
        self.tick = 0
        self.last: ConsumerGroupStats | None = None

    def step(self, end: int, committed: int, committed_at_ms: int | None = None) -> LagStatus:
        now_ms = self.tick * INTERVAL_MS
        self.tick += 1
        state = cluster(
            at_ms=now_ms,
            topics=[topic("orders", part(0, start=self.start_offset, end=end))],
            groups=[
                group(
                    "g",
                    {
                        ("orders", 0): (
                            committed,
                            now_ms if committed_at_ms is None else committed_at_ms,
                        )
                    },
                )
            ],
        )
        self.last = only(self.tracker.observe(state, INTERVAL_MS / 1000, INTERVAL_MS))
        return self.last.status

    def steps(self, ticks: Sequence[Tick]) -> list[LagStatus]:
        return [self.step(*tick) for tick in ticks]

    @property
    def reason(self) -> str:
        changes = self.tracker.changes
        assert len(changes) == 1
        return changes[0].reason


def test_steady_consumption_is_ok() -> None:
    run = Run()

    statuses = run.steps([(100 * i + 100, 100 * i + 50, None) for i in range(15)])

    assert set(statuses) == {"OK"}
    assert run.tracker.changes == []


def test_warn_after_a_full_window_of_growing_lag() -> None:
    run = Run()
    # Offsets advance by 50 while the log grows by 100: lag 60, 110, 160, ...
    ticks: list[Tick] = [(100 * i + 100, 50 * i + 40, None) for i in range(12)]

    statuses = run.steps(ticks[:9])
    assert set(statuses) == {"OK"}  # the window is not full yet

    assert run.step(*ticks[9]) == "WARN"
    assert run.tracker.changes == [
        StatusChange(
            group_id="g",
            previous="OK",
            status="WARN",
            total_lag=510,
            reason="lag grew at each of the last 10 snapshots on orders-0 (lag 510)",
        )
    ]
    assert run.steps(ticks[10:]) == ["WARN", "WARN"]
    assert run.tracker.changes == []  # no change, nothing to report

    # The consumers catch up part of the way: lag shrinks once, back to OK.
    assert run.step(1300, 1250) == "OK"
    assert run.tracker.changes == [
        StatusChange(
            group_id="g",
            previous="WARN",
            status="OK",
            total_lag=50,
            reason="lag not growing (total lag 50)",
        )
    ]


def test_no_warn_when_lag_was_zero_in_the_window() -> None:
    run = Run()
    # Lag 0, 50, 100, ...: growing at every step but zero at the first.
    statuses = run.steps([(100 * i, 50 * i, None) for i in range(11)])

    assert statuses[:10] == ["OK"] * 10
    assert statuses[10] == "WARN"  # the zero left the window


def test_no_warn_when_offsets_do_not_advance() -> None:
    run = Run()
    # Lag grows, but the group neither moves nor commits (not yet long enough for STOP).
    statuses = run.steps([(100 + 10 * i, 50, -1000) for i in range(10)])

    assert set(statuses) == {"OK"}


def test_err_when_committed_below_the_log_start() -> None:
    run = Run(start_offset=500)

    assert run.step(1000, 400) == "ERR"
    assert run.reason == "committed offset 400 below log start offset 500 on orders-0"
    assert run.tracker.changes[0].previous == "OK"


def test_stop_when_no_commit_for_longer_than_the_window() -> None:
    run = Run()
    # Committed once at 0 ms, then silence while lag stays at 100.
    statuses = run.steps([(200, 100, 0)] * 12)

    # At 20 s the commit is exactly one window old: not yet.
    assert statuses[:11] == ["OK"] * 11
    assert statuses[11] == "STOP"
    assert run.reason == "no commit for 22 s on orders-0 with lag 100"


def test_no_stop_without_lag() -> None:
    run = Run()

    statuses = run.steps([(100, 100, 0)] * 15)

    assert set(statuses) == {"OK"}


def test_stall_when_commits_arrive_but_the_offset_does_not_move() -> None:
    run = Run()

    statuses = run.steps([(200, 100, None)] * 10)

    assert statuses[:9] == ["OK"] * 9
    assert statuses[9] == "STALL"
    assert run.reason == (
        "commits arrive but offset 100 did not move over the last 10 snapshots on orders-0 (lag 100)"
    )


def test_rewind_while_the_backward_step_is_in_the_window() -> None:
    run = Run()
    run.steps([(1000 + 10 * i, 900 + 10 * i, None) for i in range(3)])

    assert run.step(1030, 100) == "REWIND"
    assert run.reason == "committed offset moved back from 920 to 100 on orders-0"
    # It stays in the window for 9 more observations (window - 1 in all).
    statuses = run.steps([(1040 + 10 * i, 110 + 10 * i, None) for i in range(9)])
    assert statuses == ["REWIND"] * 8 + ["OK"]


def test_err_wins_over_rewind() -> None:
    run = Run(start_offset=500)
    run.step(1000, 900)

    assert run.step(1000, 100) == "ERR"


def test_rewind_wins_over_stop() -> None:
    run = Run()
    run.step(1000, 900, -60_000)

    assert run.step(1000, 100, -60_000) == "REWIND"


def test_stop_wins_over_stall() -> None:
    run = Run()
    # Commits did arrive (commit time advanced) but the last is older than the window.
    statuses = run.steps([(200, 100, -30_000 + 100 * i) for i in range(10)])

    # At the tenth snapshot STALL's conditions hold too (a full window, commit time
    # advancing, offset still), but the last commit is older than the window.
    assert statuses == ["STOP"] * 10


def test_a_zero_lag_in_the_window_holds_off_stop() -> None:
    run = Run()
    # Caught up and idle (no commits), then new messages arrive.
    run.steps([(100, 100, 0)] * 11)

    assert run.step(105, 100, 0) == "OK"


def test_a_group_shows_its_worst_partition() -> None:
    tracker = LagTracker()
    state = cluster(
        topics=[topic("orders", part(0, start=50, end=100), part(1, start=50, end=100), part(2))],
        groups=[
            group("a", {("orders", 0): (10, 0), ("orders", 1): (20, 0), ("orders", 2): (0, 0)}),
            group("b", {("orders", 2): (0, 0)}, assigned=[("orders", 0)]),
        ],
    )

    a, b = tracker.observe(state, 2.0, INTERVAL_MS)

    assert (a.group_id, a.status) == ("a", "ERR")
    assert (b.group_id, b.status) == ("b", "OK")  # the uncommitted partition is not evaluated
    assert tracker.status("a") == "ERR"
    assert tracker.changes == [
        StatusChange(
            group_id="a",
            previous="OK",
            status="ERR",
            total_lag=170,
            reason="committed offset 10 below log start offset 50 on orders-0 and 1 more partition",
        )
    ]


def test_severity_orders_partitions_of_one_group() -> None:
    tracker = LagTracker()
    topics = [topic("orders", part(0, end=1000), part(1, end=1000), part(2, start=10, end=1000))]
    offsets = {("orders", 0): (500, 0), ("orders", 1): (500, 0), ("orders", 2): (500, 0)}
    tracker.observe(cluster(topics=topics, groups=[group("g", offsets)]), 2.0, INTERVAL_MS)

    # orders-0 rewinds, orders-1 went silent long ago, orders-2 falls below the log start.
    offsets = {("orders", 0): (400, 0), ("orders", 1): (500, 0), ("orders", 2): (500, 0)}
    topics = [topic("orders", part(0, end=1000), part(1, end=1000), part(2, start=600, end=1000))]
    (stats,) = tracker.observe(
        cluster(at_ms=60_000, topics=topics, groups=[group("g", offsets)]), 2.0, INTERVAL_MS
    )
    assert stats.status == "ERR"

    topics = [topic("orders", part(0, end=1000), part(1, end=1000), part(2, start=0, end=1000))]
    (stats,) = tracker.observe(
        cluster(at_ms=62_000, topics=topics, groups=[group("g", offsets)]), 2.0, INTERVAL_MS
    )
    assert stats.status == "REWIND"
    assert tracker.changes[0].reason == "committed offset moved back from 500 to 400 on orders-0"


def test_first_sight_is_reported_only_when_not_ok() -> None:
    tracker = LagTracker()
    topics = [topic("orders", part(0, start=10, end=100))]

    tracker.observe(
        cluster(topics=topics, groups=[group("fine", {("orders", 0): (50, 0)})]),
        2.0,
        INTERVAL_MS,
    )
    assert tracker.changes == []

    tracker.observe(
        cluster(
            topics=topics,
            groups=[
                group("fine", {("orders", 0): (50, 0)}),
                group("broken", {("orders", 0): (5, 0)}),
            ],
        ),
        2.0,
        INTERVAL_MS,
    )
    assert [(c.group_id, c.previous, c.status) for c in tracker.changes] == [
        ("broken", "OK", "ERR")
    ]


def test_groups_that_disappear_are_forgotten() -> None:
    tracker = LagTracker()
    topics = [topic("orders", part(0, start=10, end=100))]
    broken = cluster(topics=topics, groups=[group("broken", {("orders", 0): (5, 0)})])

    tracker.observe(broken, 2.0, INTERVAL_MS)
    assert tracker.status("broken") == "ERR"

    assert tracker.observe(cluster(topics=topics), 2.0, INTERVAL_MS) == []
    assert tracker.status("broken") is None
    assert tracker.changes == []  # leaving is not a status change

    # Back again: a first sight, reported again from OK.
    tracker.observe(broken, 2.0, INTERVAL_MS)
    assert [(c.previous, c.status) for c in tracker.changes] == [("OK", "ERR")]


def test_history_of_a_partition_no_longer_committed_is_dropped() -> None:
    tracker = LagTracker()
    topics = [topic("orders", part(0, end=100))]
    tracker.observe(
        cluster(topics=topics, groups=[group("g", {("orders", 0): (90, 0)})]), 2.0, INTERVAL_MS
    )
    tracker.observe(
        cluster(topics=topics, groups=[group("g", assigned=[("orders", 0)])]), 2.0, INTERVAL_MS
    )

    # Committed again lower: no rewind, the old position was forgotten.
    (stats,) = tracker.observe(
        cluster(topics=topics, groups=[group("g", {("orders", 0): (10, 4000)})]),
        2.0,
        INTERVAL_MS,
    )
    assert stats.status == "OK"


def test_a_window_needs_two_snapshots() -> None:
    with pytest.raises(ValueError, match="at least 2"):
        LagTracker(1)


def test_a_shorter_window() -> None:
    run = Run(window=3)

    statuses = run.steps([(100 * i + 100, 50 * i + 40, None) for i in range(3)])

    assert statuses == ["OK", "OK", "WARN"]
    assert run.reason == "lag grew at each of the last 3 snapshots on orders-0 (lag 160)"


# ---------------------------------------------------------------------------
# The snapshot
# ---------------------------------------------------------------------------

SCHEMA = json.loads(
    (
        resources.files("console_live_updates") / "schemas" / "messages" / "metricsSnapshot.json"
    ).read_text()
)


def busy_cluster(at_ms: int, step: int) -> ClusterState:
    return cluster(
        at_ms=at_ms,
        broker_list=brokers(3, down=[3]),
        topics=[
            topic(
                "orders",
                part(0, end=1000 + 100 * step, size=10_000, isr=(1, 2)),
                part(1, end=500 + 100 * step, size=5_000),
            ),
            topic("payments", part(0, start=10, end=20, size=100, replicas=(1,)), rf=1),
        ],
        groups=[
            group(
                "billing",
                {("orders", 0): (900 + 60 * step, at_ms), ("orders", 1): (500, at_ms)},
                assigned=[("orders", 0), ("orders", 1), ("payments", 0)],
            ),
            group("reports", {("payments", 0): (5, 0)}, members=0, state="Empty"),
        ],
        counters=TrafficCounters(
            produce_messages=1500 + 200 * step,
            produce_bytes=150_000 + 20_000 * step,
            fetch_messages=1000 + 60 * step,
            fetch_bytes=100_000 + 6_000 * step,
            requests=300 + 40 * step,
            topics={"orders": TopicCounters(1500 + 200 * step, 150_000 + 20_000 * step)},
            partitions={("orders", 0): 1000 + 100 * step, ("orders", 1): 500 + 100 * step},
        ),
    )


def test_snapshot_builder_first_and_second_build() -> None:
    builder = SnapshotBuilder()
    lat = window(produce={50: 800.0, 95: 1500.0, 99: 3000.0, 99.9: 9000.0})

    first = builder.build(busy_cluster(10_000, 0), lat, epoch="run-1", seq=1)

    assert first.interval_ms == INTERVAL_MS  # the latency window, for lack of a previous state
    assert first.timestamp_ms == 10_000
    assert first.throughput.produce_messages_per_s == 0.0  # nothing to take a delta from
    assert first.latency.produce.p99_ms == 3.0
    assert first.cluster.status == "DEGRADED"
    assert builder.health == first.cluster
    assert [g.group_id for g in first.groups] == ["billing", "reports"]
    assert [(c.group_id, c.status) for c in builder.status_changes] == [("reports", "ERR")]

    second = builder.build(busy_cluster(12_500, 1), lat, epoch="run-1", seq=2)

    assert second.interval_ms == 2500
    assert second.throughput.produce_messages_per_s == 80.0
    assert second.throughput.requests_per_s == 16.0
    orders = second.topics[0]
    assert orders.name == "orders"
    assert orders.produce_messages_per_s == 80.0
    billing = second.groups[0]
    assert billing.consumption_messages_per_s == 24.0
    # orders-0: lag 140 at 40/s = 3.5 s; orders-1: lag 100 at 40/s = 2.5 s.
    assert billing.lag_seconds == 3.5
    assert builder.status_changes == []

    third = builder.build(busy_cluster(14_500, 2), lat, epoch="run-1", seq=3, interval_ms=0)
    assert third.interval_ms == 1  # never below 1 ms


def test_the_built_snapshot_round_trips_and_matches_the_json_schema() -> None:
    builder = SnapshotBuilder()
    lat = window(produce={50: 800.0, 95: 1500.0, 99: 3000.0, 99.9: 9000.0})
    builder.build(busy_cluster(10_000, 0), lat, epoch="run-1", seq=1)
    snapshot = builder.build(busy_cluster(12_000, 1), lat, epoch="run-1", seq=2)

    frame = encode(snapshot)
    decoded = decode_server_message(frame)

    assert isinstance(decoded, MetricsSnapshot)
    assert decoded == snapshot
    errors = sorted(Draft7Validator(SCHEMA).iter_errors(json.loads(frame)), key=str)
    assert not errors, errors[0].message
