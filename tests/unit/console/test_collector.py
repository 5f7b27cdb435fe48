"""The collector on a real embedded engine and a real hub (no sockets): what it publishes."""

from __future__ import annotations

from typing import Any

import pytest
from console_live_updates import MetricsSnapshot, TopicInfo
from pydantic import BaseModel

from specwire.console.collector import Collector, _topic_changes
from specwire.console.embedded import EmbeddedEngine
from specwire.runtime.console import create_console_hub
from specwire.runtime.hub import Hub, HubConfig


class Clock:
    def __init__(self) -> None:
        self.now = 1_750_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def engine(clock: Clock) -> EmbeddedEngine:
    return EmbeddedEngine(brokers=3, seed=1, clock=clock)


@pytest.fixture
def hub() -> Hub:
    return create_console_hub(config=HubConfig(debug=True))


@pytest.fixture
def collector(hub: Hub, engine: EmbeddedEngine, clock: Clock) -> Collector:
    return Collector(hub, engine, interval_s=2.0, clock=clock)


def published(hub: Hub, channel: str) -> list[dict[str, Any]]:
    history = hub.events[channel]
    replay = history.since(history.epoch, 0, hub.now_ms())
    items = [entry.item for entry in replay.entries]
    return [i.model_dump(mode="json") for i in items if isinstance(i, BaseModel)]


async def tick(collector: Collector, clock: Clock) -> None:
    clock.now += 2.0
    await collector.tick()


async def test_the_first_tick_is_the_baseline(
    collector: Collector, engine: EmbeddedEngine, hub: Hub, clock: Clock
) -> None:
    await engine.create_topic("orders", 3)
    engine.join_group("billing", "m-1", "billing-app", "10.0.0.1", ["orders"])
    snapshot = MetricsSnapshot.model_validate_json(await collector.tick())
    assert [t.name for t in snapshot.topics] == ["orders"]
    assert published(hub, "topics") == published(hub, "groups") == []
    assert hub.snapshots["metrics"].latest is not None


async def test_group_changes_are_detected(
    collector: Collector, engine: EmbeddedEngine, hub: Hub, clock: Clock
) -> None:
    await engine.create_topic("orders", 2)
    await tick(collector, clock)
    engine.join_group("billing", "m-1", "billing-app", "10.0.0.1", ["orders"])
    await tick(collector, clock)
    engine.join_group("billing", "m-2", "billing-app", "10.0.0.2", ["orders"])
    engine.commit("billing", "orders", 0, 0)
    await tick(collector, clock)
    engine.produce("orders", 0, 10, 1000)
    engine.commit("billing", "orders", 0, 8)
    await tick(collector, clock)
    engine.reset_offsets("billing", "orders", 0, 2)
    await tick(collector, clock)
    engine.leave_group("billing", "m-1")
    engine.leave_group("billing", "m-2")
    await tick(collector, clock)
    engine.delete_group("billing")
    await tick(collector, clock)
    events = [
        (e["change"], e.get("member_id"), e["state"], e["members"], e.get("previous_state"))
        for e in published(hub, "groups")
        if e["type"] == "group.updated"
    ]
    assert events == [
        ("created", None, "Stable", 1, None),
        ("member_joined", "m-1", "Stable", 1, None),
        ("member_joined", "m-2", "Stable", 2, None),
        ("offsets_reset", None, "Stable", 2, None),
        ("member_left", "m-1", "Empty", 0, None),
        ("member_left", "m-2", "Empty", 0, None),
        ("state_changed", None, "Empty", 0, "Stable"),
        ("deleted", None, "Dead", 0, None),
    ]
    seqs = [e["seq"] for e in published(hub, "groups")]
    assert seqs == list(range(1, len(seqs) + 1))


async def test_api_changes_are_announced_once(
    collector: Collector, engine: EmbeddedEngine, hub: Hub, clock: Clock
) -> None:
    await tick(collector, clock)
    await collector.create_topic("invoices", 6, 2, {"cleanup.policy": "compact"})
    await tick(collector, clock)
    await collector.delete_topic("invoices")
    await tick(collector, clock)
    await engine.create_topic("elsewhere", 1)
    await tick(collector, clock)
    await tick(collector, clock)
    events = [
        (e["type"], e.get("name") or e["topic"]["name"], e["source"])
        for e in published(hub, "topics")
    ]
    assert events == [
        ("topic.created", "invoices", "api"),
        ("topic.deleted", "invoices", "api"),
        ("topic.created", "elsewhere", "detected"),
    ]

    def counted(tag: str, source: str) -> float | None:
        labels = {"type": tag, "source": source}
        return hub.metrics.registry.get_sample_value("specwire_collector_events_total", labels)

    assert counted("topic.created", "api") == counted("topic.deleted", "api") == 1
    assert counted("topic.created", "detected") == 1


async def test_api_changes_before_the_first_tick_are_announced(
    collector: Collector, hub: Hub, clock: Clock
) -> None:
    await collector.create_topic("early", 1)
    await tick(collector, clock)
    assert [e["topic"]["name"] for e in published(hub, "topics")] == ["early"]


def test_topic_changes_are_described_one_per_property() -> None:
    old = TopicInfo(
        name="t", partitions=6, replication_factor=3, config={"retention.ms": "1000", "a": "1"}
    )
    new = TopicInfo(
        name="t", partitions=12, replication_factor=2, config={"retention.ms": "2000", "b": "2"}
    )
    assert _topic_changes(old, new) == [
        "partitions: 6 -> 12",
        "replication_factor: 3 -> 2",
        "config a: 1 -> (default)",
        "config b: (default) -> 2",
        "config retention.ms: 1000 -> 2000",
    ]
    assert _topic_changes(old, old) == []


async def test_health_transitions_are_events(
    collector: Collector, engine: EmbeddedEngine, hub: Hub, clock: Clock
) -> None:
    await engine.create_topic("orders", 3, 2)
    await tick(collector, clock)
    engine.stop_broker(1)
    engine.stop_broker(2)
    await tick(collector, clock)
    engine.start_broker(1)
    engine.start_broker(2)
    await tick(collector, clock)
    changes = [(e["previous_status"], e["status"]) for e in published(hub, "cluster")]
    assert changes == [("HEALTHY", "UNHEALTHY"), ("UNHEALTHY", "HEALTHY")]
    (unhealthy, _) = published(hub, "cluster")
    assert unhealthy["brokers_online"] == 1
    assert any("offline" in reason for reason in unhealthy["reasons"])


async def test_the_loop_survives_a_failing_engine(
    collector: Collector, engine: EmbeddedEngine, hub: Hub
) -> None:
    async def broken() -> Any:
        raise ConnectionError("the cluster is unreachable")

    real = engine.state
    engine.state = broken  # type: ignore[method-assign]
    assert await collector.tick_supervised() is False
    assert (collector.failures, collector.fresh()) == (1, False)
    engine.state = real  # type: ignore[method-assign]
    assert await collector.tick_supervised() is True
    assert collector.fresh()
    failed = hub.metrics.registry.get_sample_value(
        "specwire_collector_ticks_total", {"result": "failed"}
    )
    assert failed == 1


def test_interval_must_be_positive(hub: Hub, engine: EmbeddedEngine) -> None:
    with pytest.raises(ValueError, match="positive"):
        Collector(hub, engine, interval_s=0)
