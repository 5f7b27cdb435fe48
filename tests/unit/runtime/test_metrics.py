"""specwire.runtime.metrics: what a scrape of one hub shows after each hub event."""

from __future__ import annotations

import pytest
from prometheus_client import REGISTRY, CollectorRegistry
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.parser import text_string_to_metric_families

from specwire.runtime.metrics import (
    DISCONNECT_REASONS,
    FANOUT_BUCKETS,
    QUEUE_DEPTH_BUCKETS,
    REFUSAL_REASONS,
    HubMetrics,
)


@pytest.fixture
def metrics() -> HubMetrics:
    return HubMetrics()


def value(metrics: HubMetrics, name: str, **labels: str) -> float | None:
    return metrics.registry.get_sample_value(f"specwire_{name}", labels)


def exposition(metrics: HubMetrics) -> str:
    text, content_type = metrics.render()
    assert content_type == CONTENT_TYPE_LATEST
    return text.decode()


def test_a_new_hub_shows_its_fixed_series_at_zero(metrics: HubMetrics) -> None:
    assert value(metrics, "connections_open") == 0
    assert value(metrics, "connections_total") == 0
    for reason in REFUSAL_REASONS:
        assert value(metrics, "connections_refused_total", reason=reason) == 0
    for reason in DISCONNECT_REASONS:
        assert value(metrics, "disconnects_total", reason=reason) == 0
    assert value(metrics, "frames_in_total", type="invalid") == 0
    assert (
        value(metrics, "validation_failures_total", direction="out", code="outbound_invalid") == 0
    )
    assert value(metrics, "queue_depth_count") == 0
    assert value(metrics, "collector_last_tick_seconds") == 0
    assert value(metrics, "heartbeats_missed_total") == 0
    # Series labelled by tag or channel only appear once the hub sees one.
    assert value(metrics, "frames_out_total", type="pong") is None
    assert value(metrics, "publish_total", channel="metrics") is None


def test_connections_open_and_close(metrics: HubMetrics) -> None:
    metrics.connection_opened()
    metrics.connection_opened()
    metrics.connection_closed("client")

    assert value(metrics, "connections_open") == 1
    assert value(metrics, "connections_total") == 2
    assert value(metrics, "disconnects_total", reason="client") == 1


@pytest.mark.parametrize("reason", DISCONNECT_REASONS)
def test_each_disconnect_reason_has_its_series(metrics: HubMetrics, reason: str) -> None:
    metrics.connection_opened()
    metrics.connection_closed(reason)

    assert value(metrics, "disconnects_total", reason=reason) == 1
    others = [other for other in DISCONNECT_REASONS if other != reason]
    assert all(value(metrics, "disconnects_total", reason=other) == 0 for other in others)
    assert value(metrics, "connections_open") == 0


@pytest.mark.parametrize("reason", REFUSAL_REASONS)
def test_refused_handshakes_are_not_connections(metrics: HubMetrics, reason: str) -> None:
    metrics.connection_refused(reason)

    assert value(metrics, "connections_refused_total", reason=reason) == 1
    assert value(metrics, "connections_open") == 0
    assert value(metrics, "connections_total") == 0


def test_an_unknown_reason_is_a_bug_not_a_new_series(metrics: HubMetrics) -> None:
    metrics.connection_opened()

    with pytest.raises(ValueError, match="unknown refusal reason 'banned'"):
        metrics.connection_refused("banned")
    with pytest.raises(ValueError, match="unknown disconnect reason 'normal'"):
        metrics.connection_closed("normal")

    assert value(metrics, "connections_refused_total", reason="banned") is None
    assert value(metrics, "disconnects_total", reason="normal") is None
    assert value(metrics, "connections_open") == 1


def test_frames_in_by_tag_and_invalid(metrics: HubMetrics) -> None:
    metrics.frame_in("subscribe")
    metrics.frame_in("subscribe")
    metrics.frame_in("ping")
    metrics.frame_in("invalid")

    assert value(metrics, "frames_in_total", type="subscribe") == 2
    assert value(metrics, "frames_in_total", type="ping") == 1
    assert value(metrics, "frames_in_total", type="invalid") == 1


def test_frames_out_counts_one_frame_per_subscriber(metrics: HubMetrics) -> None:
    metrics.frame_out("welcome")
    metrics.frame_out("metrics.snapshot", count=25)
    metrics.frame_out("metrics.snapshot", count=0)
    metrics.frame_out("metrics.snapshot")

    assert value(metrics, "frames_out_total", type="welcome") == 1
    assert value(metrics, "frames_out_total", type="metrics.snapshot") == 26


def test_validation_failures_by_direction_and_code(metrics: HubMetrics) -> None:
    metrics.validation_failed("in", "invalid_message")
    metrics.validation_failed("in", "invalid_message")
    metrics.validation_failed("in", "unknown_channel")
    metrics.validation_failed("out", "outbound_invalid")

    failures = "validation_failures_total"
    assert value(metrics, failures, direction="in", code="invalid_message") == 2
    assert value(metrics, failures, direction="in", code="unknown_channel") == 1
    assert value(metrics, failures, direction="out", code="outbound_invalid") == 1
    assert value(metrics, failures, direction="out", code="invalid_message") is None


def test_queue_depth_lands_in_doubling_buckets(metrics: HubMetrics) -> None:
    for depth in (0, 1, 3, 512, 1000):
        metrics.enqueued(depth)

    def at_most(bound: str) -> float | None:
        return value(metrics, "queue_depth_bucket", le=bound)

    assert at_most("0.0") == 1
    assert at_most("1.0") == 2
    assert at_most("2.0") == 2
    assert at_most("4.0") == 3
    assert at_most("256.0") == 3
    assert at_most("512.0") == 4
    assert at_most("+Inf") == 5
    assert value(metrics, "queue_depth_count") == 5
    assert value(metrics, "queue_depth_sum") == 1516


def test_coalesced_snapshots_and_dropped_events_by_channel(metrics: HubMetrics) -> None:
    metrics.coalesced("metrics")
    metrics.coalesced("metrics")
    metrics.coalesced("cluster")
    metrics.dropped("topics")

    assert value(metrics, "snapshots_coalesced_total", channel="metrics") == 2
    assert value(metrics, "snapshots_coalesced_total", channel="cluster") == 1
    assert value(metrics, "events_dropped_total", channel="topics") == 1
    assert value(metrics, "events_dropped_total", channel="metrics") is None


def test_a_publish_counts_itself_its_deliveries_and_its_fanout_time(metrics: HubMetrics) -> None:
    metrics.published("metrics", deliveries=40, seconds=0.0003)
    metrics.published("metrics", deliveries=2, seconds=0.00004)
    metrics.published("topics", deliveries=0, seconds=2.5)

    assert value(metrics, "publish_total", channel="metrics") == 2
    assert value(metrics, "deliveries_total", channel="metrics") == 42
    assert value(metrics, "fanout_seconds_count", channel="metrics") == 2
    assert value(metrics, "fanout_seconds_sum", channel="metrics") == pytest.approx(0.00034)
    assert value(metrics, "fanout_seconds_bucket", channel="metrics", le="5e-05") == 1
    assert value(metrics, "fanout_seconds_bucket", channel="metrics", le="0.00025") == 1
    assert value(metrics, "fanout_seconds_bucket", channel="metrics", le="0.0005") == 2

    assert value(metrics, "publish_total", channel="topics") == 1
    assert value(metrics, "deliveries_total", channel="topics") == 0
    assert value(metrics, "fanout_seconds_bucket", channel="topics", le="1.0") == 0
    assert value(metrics, "fanout_seconds_bucket", channel="topics", le="+Inf") == 1


def test_collector_tick_holds_the_last_time(metrics: HubMetrics) -> None:
    metrics.collector_ticked(1_767_225_600.0)
    metrics.collector_ticked(1_767_225_602.5)

    assert value(metrics, "collector_last_tick_seconds") == 1_767_225_602.5


def test_missed_heartbeats(metrics: HubMetrics) -> None:
    metrics.heartbeat_missed()
    metrics.heartbeat_missed()

    assert value(metrics, "heartbeats_missed_total") == 2


def test_buckets_are_the_documented_ones() -> None:
    assert QUEUE_DEPTH_BUCKETS == (0, 1, 2, 4, 8, 16, 32, 64, 128, 256, 512)
    assert FANOUT_BUCKETS[0] == 0.00005
    assert FANOUT_BUCKETS[-1] == 1.0
    assert list(FANOUT_BUCKETS) == sorted(FANOUT_BUCKETS)


def test_exposition_names_labels_and_help(metrics: HubMetrics) -> None:
    metrics.connection_opened()
    metrics.frame_in("subscribe")
    metrics.frame_out("metrics.snapshot", count=3)
    metrics.validation_failed("in", "invalid_message")
    metrics.enqueued(5)
    metrics.coalesced("metrics")
    metrics.dropped("topics")
    metrics.published("metrics", deliveries=3, seconds=0.001)
    metrics.collector_ticked(1_767_225_600.0)
    metrics.heartbeat_missed()

    text = exposition(metrics)

    assert "# HELP specwire_connections_open WebSocket connections open now.\n" in text
    assert "# TYPE specwire_connections_open gauge\n" in text
    assert "# TYPE specwire_connections_total counter\n" in text
    assert "specwire_connections_total 1.0\n" in text
    assert 'specwire_connections_refused_total{reason="unauthorized"} 0.0\n' in text
    assert 'specwire_disconnects_total{reason="slow_consumer"} 0.0\n' in text
    assert 'specwire_frames_in_total{type="subscribe"} 1.0\n' in text
    assert 'specwire_frames_out_total{type="metrics.snapshot"} 3.0\n' in text
    assert 'specwire_validation_failures_total{code="invalid_message",direction="in"} 1.0\n' in text
    assert "# TYPE specwire_queue_depth histogram\n" in text
    assert 'specwire_queue_depth_bucket{le="8.0"} 1.0\n' in text
    assert 'specwire_snapshots_coalesced_total{channel="metrics"} 1.0\n' in text
    assert 'specwire_events_dropped_total{channel="topics"} 1.0\n' in text
    assert 'specwire_fanout_seconds_bucket{channel="metrics",le="0.001"} 1.0\n' in text
    assert 'specwire_publish_total{channel="metrics"} 1.0\n' in text
    assert 'specwire_deliveries_total{channel="metrics"} 3.0\n' in text
    assert "specwire_collector_last_tick_seconds 1.7672256e+09\n" in text
    assert "specwire_heartbeats_missed_total 1.0\n" in text

    families = {family.name: family for family in text_string_to_metric_families(text)}
    expected = {
        "specwire_connections_open": "gauge",
        "specwire_connections": "counter",
        "specwire_connections_refused": "counter",
        "specwire_disconnects": "counter",
        "specwire_frames_in": "counter",
        "specwire_frames_out": "counter",
        "specwire_validation_failures": "counter",
        "specwire_queue_depth": "histogram",
        "specwire_snapshots_coalesced": "counter",
        "specwire_events_dropped": "counter",
        "specwire_fanout_seconds": "histogram",
        "specwire_publish": "counter",
        "specwire_deliveries": "counter",
        "specwire_collector_last_tick_seconds": "gauge",
        "specwire_heartbeats_missed": "counter",
    }
    for name, kind in expected.items():
        assert families[name].type == kind, name
        assert families[name].documentation, name


def test_two_hubs_do_not_share_values() -> None:
    first, second = HubMetrics(), HubMetrics()

    first.connection_opened()
    first.frame_out("welcome")
    first.published("metrics", deliveries=1, seconds=0.001)

    assert first.registry is not second.registry
    assert value(first, "connections_total") == 1
    assert value(second, "connections_total") == 0
    assert value(second, "frames_out_total", type="welcome") is None
    assert value(second, "publish_total", channel="metrics") is None
    assert "welcome" not in exposition(second)


def test_the_process_registry_is_left_alone(metrics: HubMetrics) -> None:
    metrics.connection_opened()

    assert REGISTRY.get_sample_value("specwire_connections_total") is None


def test_a_given_registry_holds_the_series_under_the_namespace() -> None:
    registry = CollectorRegistry()
    east = HubMetrics(registry, namespace="east")
    west = HubMetrics(registry=registry, namespace="west")

    east.heartbeat_missed()

    assert east.registry is registry
    assert registry.get_sample_value("east_heartbeats_missed_total") == 1
    assert registry.get_sample_value("west_heartbeats_missed_total") == 0
    shared = exposition(west)
    assert "east_heartbeats_missed_total 1.0\n" in shared
    assert "west_heartbeats_missed_total 0.0\n" in shared


def test_one_namespace_cannot_register_twice_in_one_registry() -> None:
    registry = CollectorRegistry()
    HubMetrics(registry)

    with pytest.raises(ValueError, match="Duplicated timeseries"):
        HubMetrics(registry)


def test_an_empty_namespace_leaves_bare_names() -> None:
    metrics = HubMetrics(namespace="")

    metrics.connection_opened()

    assert metrics.registry.get_sample_value("connections_open") == 1
    assert "\nconnections_open 1.0\n" in exposition(metrics)
