"""Prometheus metrics of one hub: connections, frames, validation, queues and fan-out.

Every :class:`HubMetrics` registers its series in its own
:class:`~prometheus_client.CollectorRegistry` unless it is handed one, so several hubs
(and every test) can live in one process without sharing counts. Nothing here is
global: the process-wide ``prometheus_client.REGISTRY`` is never touched.

The methods are called on the hub's hot paths (each frame sent, each publish), so
each one is a dictionary lookup and an increment: the labelled child of a series is
looked up once per label value and kept. Label values come from the spec (message
tags, channel names, error codes) or from the fixed reason lists below, never from
what a peer sent, so these caches are as bounded as the series themselves.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal, TypeVar

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

__all__ = [
    "DISCONNECT_REASONS",
    "FANOUT_BUCKETS",
    "INVALID_FRAME",
    "OUTBOUND_INVALID",
    "QUEUE_DEPTH_BUCKETS",
    "REFUSAL_REASONS",
    "HubMetrics",
]

REFUSAL_REASONS = ("origin", "unauthorized", "limit")
"""Why a handshake was refused: a foreign ``Origin``, a missing or bad token, a full hub."""

DISCONNECT_REASONS = (
    "client",
    "slow_consumer",
    "policy",
    "too_big",
    "token_expired",
    "heartbeat",
    "shutdown",
    "error",
)
"""Why a connection ended; ``slow_consumer`` is an event queue overflow (close code 4000)."""

INVALID_FRAME = "invalid"
"""The ``type`` label of an inbound frame that did not decode to a message of the spec."""

OUTBOUND_INVALID = "outbound_invalid"
"""The ``code`` label of an outbound message the spec rejected (it never reached a socket)."""

QUEUE_DEPTH_BUCKETS = (0.0, 1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0)
"""Send queue depths, doubling: a queue that keeps filling shows up in the top buckets."""

FANOUT_BUCKETS = (
    0.00005,
    0.0001,
    0.00025,
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
)
"""Fan-out durations, 50 µs to 1 s; a slower publish lands in +Inf."""

_V = TypeVar("_V")


class _Children(dict[str, _V]):
    """Labelled children by label value, made on first use and kept."""

    __slots__ = ("_make",)

    def __init__(self, make: Callable[[str], _V], initial: tuple[str, ...] = ()) -> None:
        super().__init__((key, make(key)) for key in initial)
        self._make = make

    def __missing__(self, key: str) -> _V:
        child = self[key] = self._make(key)
        return child


@dataclass(frozen=True, slots=True)
class _ChannelSeries:
    """What one publish on a channel updates."""

    publishes: Counter
    deliveries: Counter
    fanout_seconds: Histogram


class HubMetrics:
    """Prometheus metrics of one hub, in their own CollectorRegistry.

    Several hubs can live in one process (tests do). ``namespace`` prefixes every
    name (``specwire_connections_open``); an empty namespace leaves the bare names.
    Two instances may share a ``registry`` only with different namespaces:
    prometheus_client refuses a second series of the same name.
    """

    registry: CollectorRegistry

    def __init__(
        self, registry: CollectorRegistry | None = None, namespace: str = "specwire"
    ) -> None:
        self.registry = CollectorRegistry() if registry is None else registry

        def counter(name: str, documentation: str, labels: tuple[str, ...] = ()) -> Counter:
            return Counter(name, documentation, labels, namespace, registry=self.registry)

        def gauge(name: str, documentation: str) -> Gauge:
            return Gauge(name, documentation, namespace=namespace, registry=self.registry)

        def histogram(
            name: str, documentation: str, buckets: tuple[float, ...], labels: tuple[str, ...] = ()
        ) -> Histogram:
            return Histogram(
                name, documentation, labels, namespace, registry=self.registry, buckets=buckets
            )

        self._connections_open = gauge("connections_open", "WebSocket connections open now.")
        self._connections_total = counter("connections_total", "WebSocket connections accepted.")
        refused = counter(
            "connections_refused_total",
            "Handshakes refused, by reason: origin, unauthorized, limit.",
            ("reason",),
        )
        disconnects = counter(
            "disconnects_total",
            "Connections closed, by reason: client, slow_consumer, policy, too_big,"
            " token_expired, heartbeat, shutdown, error.",
            ("reason",),
        )
        frames_in = counter(
            "frames_in_total",
            'Frames received, by message type; "invalid" for frames the spec rejected.',
            ("type",),
        )
        frames_out = counter(
            "frames_out_total", "Frames sent or queued, by message type.", ("type",)
        )
        validation_failures = counter(
            "validation_failures_total",
            "Messages that failed validation against the spec, by direction (in, out)"
            ' and error code ("outbound_invalid" for a message this side built).',
            ("direction", "code"),
        )
        self._queue_depth = histogram(
            "queue_depth",
            "Depth of a client's send queue, observed at each enqueue.",
            QUEUE_DEPTH_BUCKETS,
        )
        coalesced = counter(
            "snapshots_coalesced_total",
            "Snapshots replaced in a slow client's queue by a newer one, by channel.",
            ("channel",),
        )
        dropped = counter(
            "events_dropped_total",
            "Events not delivered because a client's queue overflowed, by channel.",
            ("channel",),
        )
        fanout = histogram(
            "fanout_seconds",
            "Time one publish takes to reach every subscriber's transport or queue, by channel.",
            FANOUT_BUCKETS,
            ("channel",),
        )
        publishes = counter("publish_total", "Messages published, by channel.", ("channel",))
        deliveries = counter(
            "deliveries_total",
            "Subscribers the publishes reached (one per subscriber per publish), by channel.",
            ("channel",),
        )
        self._collector_last_tick = gauge(
            "collector_last_tick_seconds", "Unix time of the collector's last tick."
        )
        self._heartbeats_missed = counter(
            "heartbeats_missed_total", "Heartbeats a client did not answer in time."
        )

        # Fixed label values are made up front: a series at 0 lets rate() and alerts see
        # the first event. An unknown reason is a bug in the hub, not a new series.
        self._refused = {reason: refused.labels(reason) for reason in REFUSAL_REASONS}
        self._disconnects = {reason: disconnects.labels(reason) for reason in DISCONNECT_REASONS}
        self._frames_in = _Children(frames_in.labels, initial=(INVALID_FRAME,))
        self._frames_out = _Children(frames_out.labels)
        self._validation_failures = {
            "in": _Children(_labelled(validation_failures, "in")),
            "out": _Children(_labelled(validation_failures, "out"), initial=(OUTBOUND_INVALID,)),
        }
        self._coalesced = _Children(coalesced.labels)
        self._dropped = _Children(dropped.labels)
        self._channels = _Children(
            lambda channel: _ChannelSeries(
                publishes.labels(channel), deliveries.labels(channel), fanout.labels(channel)
            )
        )

    def connection_opened(self) -> None:
        """A handshake was accepted."""
        self._connections_open.inc()
        self._connections_total.inc()

    def connection_refused(self, reason: str) -> None:
        """A handshake was refused; ``reason`` is one of :data:`REFUSAL_REASONS`."""
        try:
            child = self._refused[reason]
        except KeyError:
            raise ValueError(f"unknown refusal reason {reason!r}") from None
        child.inc()

    def connection_closed(self, reason: str) -> None:
        """An accepted connection ended; ``reason`` is one of :data:`DISCONNECT_REASONS`."""
        try:
            child = self._disconnects[reason]
        except KeyError:
            raise ValueError(f"unknown disconnect reason {reason!r}") from None
        child.inc()
        self._connections_open.dec()

    def frame_in(self, tag: str) -> None:
        """A frame arrived: ``tag`` is its message type, or :data:`INVALID_FRAME`."""
        self._frames_in[tag].inc()

    def frame_out(self, tag: str, count: int = 1) -> None:
        """``count`` frames of message type ``tag`` were sent or queued (one per subscriber)."""
        self._frames_out[tag].inc(count)

    def validation_failed(self, direction: Literal["in", "out"], code: str) -> None:
        """A message failed the spec: ``code`` is its error code, or :data:`OUTBOUND_INVALID`."""
        self._validation_failures[direction][code].inc()

    def enqueued(self, depth: int) -> None:
        """A frame joined a client's send queue, which then held ``depth`` frames."""
        self._queue_depth.observe(depth)

    def coalesced(self, channel: str) -> None:
        """A queued snapshot of ``channel`` was replaced by a newer one."""
        self._coalesced[channel].inc()

    def dropped(self, channel: str) -> None:
        """An event of ``channel`` was not delivered because a queue overflowed."""
        self._dropped[channel].inc()

    def published(self, channel: str, deliveries: int, seconds: float) -> None:
        """One publish on ``channel`` reached ``deliveries`` subscribers in ``seconds``."""
        series = self._channels[channel]
        series.publishes.inc()
        series.deliveries.inc(deliveries)
        series.fanout_seconds.observe(seconds)

    def collector_ticked(self, unix_time: float) -> None:
        """The collector ran at ``unix_time`` (seconds since the epoch)."""
        self._collector_last_tick.set(unix_time)

    def heartbeat_missed(self) -> None:
        """A client did not answer a heartbeat in time."""
        self._heartbeats_missed.inc()

    def render(self) -> tuple[bytes, str]:
        """The exposition text of this hub's registry, and its content type."""
        return generate_latest(self.registry), CONTENT_TYPE_LATEST


def _labelled(family: Counter, first: str) -> Callable[[str], Counter]:
    """A child factory with the first label value fixed."""
    return lambda second: family.labels(first, second)
