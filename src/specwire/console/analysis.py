"""What a ``metrics.snapshot`` says, computed from engine states.

Pure computations: every function takes immutable engine values
(:mod:`specwire.console.engine`) and returns the protocol's models. Nothing here
reads a clock, sleeps or does I/O; the collector passes the times in.

- :func:`throughput`, :func:`latency`, :func:`cluster_health` and
  :func:`topic_stats` are stateless.
- :class:`LagTracker` keeps the last few observations of every committed
  partition to rate consumer groups the way Burrow does (see ``LagStatus`` in
  the protocol: ``OK``, ``WARN``, ``STALL``, ``STOP``, ``REWIND``, ``ERR``).
- :class:`SnapshotBuilder` ties them together into one :class:`MetricsSnapshot`
  per collector tick.

Rates are always counter deltas over the measured interval, never averages since
the engine started; a counter that went backwards (an engine restart) counts as 0.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from console_live_updates import (
    ClusterHealth,
    ConsumerGroupStats,
    GroupState,
    HealthStatus,
    LagStatus,
    Latency,
    LatencyPercentiles,
    MetricsSnapshot,
    Throughput,
    TopicStats,
)
from pydantic_core import to_json

from specwire.console import engine

__all__ = [
    "DEFAULT_WINDOW",
    "LagTracker",
    "SnapshotBuilder",
    "StatusChange",
    "cluster_health",
    "group_state",
    "latency",
    "throughput",
    "topic_stats",
]

DEFAULT_WINDOW = 10
"""Snapshots in a Burrow window (20 s at the default 2 s tick)."""

MAX_REASON = 512
"""Longest reason the protocol accepts (``HealthReason``, ``GroupStatusChanged.reason``)."""

NAMED_PARTITIONS = 3
"""Partitions a health reason names before it says "…"."""

SEVERITY: Mapping[LagStatus, int] = {
    "OK": 0,
    "WARN": 1,
    "STALL": 2,
    "STOP": 3,
    "REWIND": 4,
    "ERR": 5,
}
"""How bad a lag status is; a group shows its worst partition's."""

_ZERO_TOPIC = engine.TopicCounters()


def _rate(previous: int, current: int, elapsed_s: float) -> float:
    """A cumulative counter's rate over ``elapsed_s``, never negative."""
    delta = current - previous
    return delta / elapsed_s if delta > 0 else 0.0


def _clip(text: str) -> str:
    return text if len(text) <= MAX_REASON else text[: MAX_REASON - 1] + "…"


def _plural(count: int, noun: str) -> str:
    return f"{count:,} {noun}" if count == 1 else f"{count:,} {noun}s"


# ---------------------------------------------------------------------------
# Throughput and latency
# ---------------------------------------------------------------------------


def throughput(
    previous: engine.TrafficCounters, current: engine.TrafficCounters, elapsed_s: float
) -> Throughput:
    """Cluster-wide client traffic per second between two counter readings.

    Each rate is the counter's delta over ``elapsed_s``; a counter that went
    backwards gives 0, and so does every rate when ``elapsed_s <= 0``.
    """
    if elapsed_s <= 0:
        return Throughput(
            produce_messages_per_s=0.0,
            produce_bytes_per_s=0.0,
            fetch_messages_per_s=0.0,
            fetch_bytes_per_s=0.0,
            requests_per_s=0.0,
        )
    return Throughput(
        produce_messages_per_s=_rate(
            previous.produce_messages, current.produce_messages, elapsed_s
        ),
        produce_bytes_per_s=_rate(previous.produce_bytes, current.produce_bytes, elapsed_s),
        fetch_messages_per_s=_rate(previous.fetch_messages, current.fetch_messages, elapsed_s),
        fetch_bytes_per_s=_rate(previous.fetch_bytes, current.fetch_bytes, elapsed_s),
        requests_per_s=_rate(previous.requests, current.requests, elapsed_s),
    )


def _ms(percentiles: Mapping[float, float], percentile: float) -> float | None:
    value = percentiles.get(percentile)
    return None if value is None else round(max(0.0, value) / 1000, 3)


def _percentiles(percentiles: Mapping[float, float]) -> LatencyPercentiles:
    return LatencyPercentiles(
        p50_ms=_ms(percentiles, 50),
        p95_ms=_ms(percentiles, 95),
        p99_ms=_ms(percentiles, 99),
        p999_ms=_ms(percentiles, 99.9),
    )


def latency(window: engine.LatencyWindow) -> Latency:
    """The window's percentiles in milliseconds (3 decimals); all ``None`` for a kind
    with no request in the window."""
    return Latency(
        window_ms=max(1, window.window_ms),
        produce=_percentiles(window.produce),
        fetch=_percentiles(window.fetch),
    )


# ---------------------------------------------------------------------------
# Cluster health and topics
# ---------------------------------------------------------------------------


def _count_with_names(count: int, what: str, names: list[str]) -> str:
    """``"2 partitions offline (orders-3, payments-0)"``: a few names, then "…"."""
    head = _plural(count, "partition") + f" {what}"
    shown: list[str] = []
    for name in names[:NAMED_PARTITIONS]:
        candidate = ", ".join([*shown, name])
        if len(head) + len(candidate) + 6 > MAX_REASON:
            break
        shown.append(name)
    if len(shown) < count:
        shown.append("…")
    return f"{head} ({', '.join(shown)})"


def cluster_health(state: engine.ClusterState) -> ClusterHealth:
    """Brokers, controller and partition availability, with the status they give.

    ``UNHEALTHY`` when a partition has no leader or there is no controller;
    ``DEGRADED`` when a broker is down or a partition has fewer in-sync replicas
    than replicas; ``HEALTHY`` otherwise. ``reasons`` has one entry per cause, the
    worst first: no controller, offline partitions, each offline broker (by id),
    under-replicated partitions.
    """
    offline: list[str] = []
    under_replicated = 0
    total = 0
    for topic in state.topics:
        for partition in topic.partitions:
            total += 1
            if partition.leader is None:
                offline.append(f"{topic.name}-{partition.partition}")
            if len(partition.isr) < len(partition.replicas):  # under-replicated
                under_replicated += 1
    brokers_down = sorted(broker.id for broker in state.brokers if not broker.online)

    reasons: list[str] = []
    if state.controller_id is None:
        reasons.append("no active controller")
    if offline:
        reasons.append(_count_with_names(len(offline), "offline", offline))
    reasons.extend(f"broker {broker_id} offline" for broker_id in brokers_down)
    if under_replicated:
        reasons.append(_plural(under_replicated, "partition") + " under-replicated")

    status: HealthStatus
    if state.controller_id is None or offline:
        status = "UNHEALTHY"
    elif brokers_down or under_replicated:
        status = "DEGRADED"
    else:
        status = "HEALTHY"
    return ClusterHealth(
        status=status,
        reasons=[_clip(reason) for reason in reasons],
        brokers_online=len(state.brokers) - len(brokers_down),
        brokers_expected=len(state.brokers),
        controller_id=state.controller_id,
        partitions_total=total,
        partitions_under_replicated=under_replicated,
        partitions_offline=len(offline),
    )


def topic_stats(
    previous: engine.ClusterState | None, current: engine.ClusterState, elapsed_s: float
) -> list[TopicStats]:
    """One :class:`TopicStats` per topic, sorted by name (see :func:`topic_rows`)."""
    return [TopicStats.model_validate(row) for row in topic_rows(previous, current, elapsed_s)]


def topic_rows(
    previous: engine.ClusterState | None, current: engine.ClusterState, elapsed_s: float
) -> list[dict[str, Any]]:
    """:func:`topic_stats` as plain data, in the shape of ``TopicStats``, sorted by name.

    Rates are deltas of ``counters.topics`` since ``previous`` over ``elapsed_s``;
    a topic new since ``previous`` counts from 0. Without ``previous`` (the first
    snapshot), or when ``elapsed_s <= 0``, every rate is 0.
    """
    counters = current.counters.topics
    before = previous.counters.topics if previous is not None else None
    stats: list[dict[str, Any]] = []
    for topic in sorted(current.topics, key=lambda topic: topic.name):
        now = counters.get(topic.name)
        if before is None or now is None or elapsed_s <= 0:
            rates = (0.0, 0.0, 0.0, 0.0)
        else:
            then = before.get(topic.name, _ZERO_TOPIC)
            rates = (
                _rate(then.produce_messages, now.produce_messages, elapsed_s),
                _rate(then.produce_bytes, now.produce_bytes, elapsed_s),
                _rate(then.fetch_messages, now.fetch_messages, elapsed_s),
                _rate(then.fetch_bytes, now.fetch_bytes, elapsed_s),
            )
        messages = 0
        size = 0
        under_replicated = 0
        for partition in topic.partitions:
            messages += max(0, partition.end_offset - partition.start_offset)
            size += partition.size_bytes
            if len(partition.isr) < len(partition.replicas):  # under-replicated
                under_replicated += 1
        stats.append(
            {
                "name": topic.name,
                "partitions": len(topic.partitions),
                "replication_factor": topic.replication_factor,
                "messages": messages,
                "size_bytes": size,
                "produce_messages_per_s": rates[0],
                "produce_bytes_per_s": rates[1],
                "fetch_messages_per_s": rates[2],
                "fetch_bytes_per_s": rates[3],
                "under_replicated_partitions": under_replicated,
            }
        )
    return stats


# ---------------------------------------------------------------------------
# Consumer groups: lag and Burrow-style status
# ---------------------------------------------------------------------------

_GROUP_STATES: Mapping[str, GroupState] = {
    "stable": "Stable",
    "preparingrebalance": "PreparingRebalance",
    "completingrebalance": "CompletingRebalance",
    "empty": "Empty",
    "dead": "Dead",
    # KIP-848 consumer groups.
    "assigning": "PreparingRebalance",
    "reconciling": "CompletingRebalance",
}


def group_state(state: str, members: int) -> GroupState:
    """The protocol's group state for an engine's state string.

    Kafka's names in any case and with or without underscores
    (``PreparingRebalance``, ``PREPARING_REBALANCE``); the consumer-protocol states
    ``Assigning`` and ``Reconciling`` read as the two rebalance phases. Anything
    else reads as ``Empty`` without members and ``Stable`` with some.
    """
    key = state.replace("_", "").replace(" ", "").lower()
    known = _GROUP_STATES.get(key)
    if known is not None:
        return known
    return "Stable" if members else "Empty"


@dataclass(frozen=True, slots=True)
class StatusChange:
    """A consumer group's lag status changed at the last observation."""

    group_id: str
    previous: LagStatus
    status: LagStatus
    total_lag: int
    reason: str


_Track = tuple[int, int, int, int, int, int, int, int, int, int, int, "tuple[int, int] | None"]
"""One committed partition's last observation and the running counts that make each
evaluation O(1), as one tuple (made once per partition per observation):

``(offset, lag, committed_at_ms, observed_at_ms, growing, still, positive,
rewind_age, commit_age, seen, produced, rewound)``:

- ``growing``: consecutive observations, ending with the last, over which lag
  strictly grew; ``still``: with the same committed offset; ``positive``: with lag
  above zero;
- ``rewind_age``: observations since the committed offset last moved backwards,
  ``commit_age``: since the commit time last advanced (both at most the window);
- ``seen``: observations so far, at most the window;
- ``produced``: the partition's cumulative produce counter at the last observation;
- ``rewound``: the last backward move, ``(from, to)``, or ``None``.

Within a window without a backward move, offsets only grow, so "the offset did not
move over the window" is ``still >= window`` and "the commit time advanced over the
window" is ``commit_age <= window - 2``: no history of the window is kept.
"""


def _describe(track: _Track, status: LagStatus, name: str, start_offset: int, window: int) -> str:
    offset, lag, committed_at_ms, observed_at_ms = track[:4]
    if status == "ERR":
        return f"committed offset {offset:,} below log start offset {start_offset:,} on {name}"
    rewound = track[11]
    if status == "REWIND" and rewound is not None:
        was, now = rewound
        return f"committed offset moved back from {was:,} to {now:,} on {name}"
    if status == "STOP":
        age_s = (observed_at_ms - committed_at_ms) / 1000
        return f"no commit for {age_s:,.0f} s on {name} with lag {lag:,}"
    if status == "STALL":
        return (
            f"commits arrive but offset {offset:,} did not move over the last "
            f"{window} snapshots on {name} (lag {lag:,})"
        )
    return f"lag grew at each of the last {window} snapshots on {name} (lag {lag:,})"


def _group_id(group: engine.GroupState) -> str:
    return group.group_id


class _Group:
    __slots__ = ("partitions", "status")

    def __init__(self) -> None:
        self.partitions: dict[tuple[str, int], _Track] = {}
        self.status: LagStatus = "OK"


class LagTracker:
    """Consumer-group lag, consumption rate and Burrow-style status, tick after tick.

    Call :meth:`observe` once per snapshot. It remembers the last ``window``
    observations of every partition a group has committed (offset, lag, commit
    time, observation time) and forgets groups, and partitions, that are gone.

    Status per committed partition, the first rule that applies:

    - ``ERR``: the committed offset is below the partition's log start offset.
    - ``REWIND``: the committed offset moved backwards within the window.
    - ``OK``: lag was zero at some observation of the window (Burrow's first rule:
      it overrides the three below).
    - ``STOP``: no commit for longer than the window (``window × interval_ms``).
    - ``STALL``: over a full window, commits arrived (commit time advanced) but
      the offset did not move.
    - ``WARN``: over a full window, the offset advanced but lag grew at every step.
    - ``OK`` otherwise.

    A group has its worst partition's status (``OK`` when nothing is committed).
    After each observation, :attr:`changes` lists the groups whose status changed;
    a group seen for the first time counts as coming from ``OK``.
    """

    def __init__(self, window: int = DEFAULT_WINDOW) -> None:
        if window < 2:
            raise ValueError(f"a lag window needs at least 2 snapshots, not {window}")
        self.window = window
        self.changes: list[StatusChange] = []
        """Status changes found by the last :meth:`observe`, in group order."""
        self._groups: dict[str, _Group] = {}

    def status(self, group_id: str) -> LagStatus | None:
        """The group's status at the last observation, ``None`` for a group not seen."""
        group = self._groups.get(group_id)
        return None if group is None else group.status

    def observe(
        self, current: engine.ClusterState, elapsed_s: float, interval_ms: int
    ) -> list[ConsumerGroupStats]:
        """Every group's lag and status in ``current``, sorted by group id (see :meth:`rows`)."""
        return [
            ConsumerGroupStats.model_validate(row)
            for row in self.rows(current, elapsed_s, interval_ms)
        ]

    def rows(
        self, current: engine.ClusterState, elapsed_s: float, interval_ms: int
    ) -> list[dict[str, Any]]:
        """:meth:`observe`'s groups as plain data, in the shape of ``ConsumerGroupStats``.

        Every group's lag and status in ``current``, sorted by group id.

        ``elapsed_s`` is the time since the previous observation (for rates),
        ``interval_ms`` the snapshot interval (the window lasts ``window`` of them).

        Per group: ``partitions`` covers every partition of an existing topic the
        group has committed or is assigned; ``consumption_messages_per_s`` sums the
        forward moves of committed offsets since the previous observation;
        ``lag_seconds`` is the largest lag over produce rate among committed
        partitions (a caught-up one counts 0, one without production is left out),
        ``None`` when no committed partition saw production since the previous
        observation.
        """
        window = self.window
        window_ms = window * interval_ms
        now_ms = current.taken_at_ms
        logs: dict[tuple[str, int], engine.PartitionState] = {
            (topic.name, partition.partition): partition
            for topic in current.topics
            for partition in topic.partitions
        }
        produced_get = current.counters.partitions.get
        rates = elapsed_s > 0
        # The loop below runs once per (group, partition): 9,000 times a tick at 500
        # groups on 3 topics of 6 partitions. Everything it calls is looked up once.
        logs_get = logs.get
        severity = SEVERITY
        previous_groups_get = self._groups.get
        no_tracks: dict[tuple[str, int], _Track] = {}
        stats: list[dict[str, Any]] = []
        changes: list[StatusChange] = []
        groups: dict[str, _Group] = {}
        for group in sorted(current.groups, key=_group_id):
            group_id = group.group_id
            known = previous_groups_get(group_id)
            memory = _Group()
            if known is not None:
                memory.status = known.status
            groups[group_id] = memory
            old_tracks_get = (known.partitions if known is not None else no_tracks).get
            tracks = memory.partitions
            offsets = group.offsets
            offsets_get = offsets.get
            keys = set(offsets)
            for member in group.members:
                keys.update(member.assignments)

            rows: list[dict[str, object]] = []
            topics: list[str] = []
            last_topic = None
            total_lag = max_lag = 0
            consumed = 0
            lag_seconds: float | None = None
            any_production = False
            worst: LagStatus = "OK"
            worst_key: tuple[str, int] | None = None
            worst_count = 0
            for key in sorted(keys):
                log = logs_get(key)
                if log is None:
                    continue
                topic, number = key
                if topic != last_topic:
                    topics.append(topic)  # keys are sorted: each topic comes once, in order
                    last_topic = topic
                start = log.start_offset
                end = log.end_offset
                committed = offsets_get(key)
                if committed is None or committed.offset < 0:
                    # Nothing committed: everything retained is unread.
                    offset: int | None = None
                    lag = end - start if end > start else 0
                else:
                    offset, committed_at_ms = committed
                    lag = end - offset if end > offset else 0
                total_lag += lag
                if lag > max_lag:  # noqa: PLR1730 (no call: this runs once per row)
                    max_lag = lag
                rows.append(
                    {
                        "topic": topic,
                        "partition": number,
                        "start_offset": start,
                        "end_offset": end,
                        "committed_offset": offset,
                        "lag": lag,
                    }
                )
                if offset is None:
                    continue
                produced_now = produced_get(key, 0)

                # Record the observation and update the running counts.
                track = old_tracks_get(key)
                if track is None:
                    growing = still = seen = 1
                    rewind_age = commit_age = window
                    positive = 1 if lag > 0 else 0
                    rewound = None
                else:
                    (
                        last_offset,
                        last_lag,
                        last_committed_at_ms,
                        _,
                        growing,
                        still,
                        positive,
                        rewind_age,
                        commit_age,
                        seen,
                        produced_before,
                        rewound,
                    ) = track
                    growing = growing + 1 if lag > last_lag else 1
                    if offset == last_offset:
                        still += 1
                        rewind_age += 1
                    elif offset > last_offset:
                        consumed += offset - last_offset
                        still = 1
                        rewind_age += 1
                    else:
                        still = 1
                        rewind_age = 0
                        rewound = (last_offset, offset)
                    commit_age = 0 if committed_at_ms > last_committed_at_ms else commit_age + 1
                    positive = positive + 1 if lag > 0 else 0
                    if seen < window:
                        seen += 1
                    if rates:
                        delta = produced_now - produced_before
                        if delta > 0:
                            any_production = True
                            behind = lag * elapsed_s / delta
                            if lag_seconds is None or behind > lag_seconds:
                                lag_seconds = behind
                if lag == 0 and lag_seconds is None:
                    lag_seconds = 0.0
                tracks[key] = (
                    offset,
                    lag,
                    committed_at_ms,
                    now_ms,
                    growing,
                    still,
                    positive,
                    rewind_age if rewind_age < window else window,
                    commit_age if commit_age < window else window,
                    seen,
                    produced_now,
                    rewound,
                )

                # Evaluate the window (see the class docstring for the rules).
                if offset < start:
                    status: LagStatus = "ERR"
                elif rewind_age <= window - 2:
                    # The backward step is between two observations still in the window.
                    status = "REWIND"
                elif positive < seen:
                    # Lag was zero at some point of the window, or is now.
                    continue
                elif now_ms - committed_at_ms > window_ms:
                    status = "STOP"
                elif seen < window:
                    continue
                elif still >= window and commit_age <= window - 2:
                    status = "STALL"  # commits arrived, the offset did not move
                elif growing >= window and still < window:
                    status = "WARN"  # the offset moved, and lag grew at every step
                else:
                    continue
                if severity[status] > severity[worst]:
                    worst, worst_key, worst_count = status, key, 1
                elif status == worst:
                    worst_count += 1

            previous = memory.status
            memory.status = worst
            if worst != previous:
                if worst_key is None:
                    reason = f"lag not growing (total lag {total_lag:,})"
                else:
                    topic, number = worst_key
                    reason = _describe(
                        tracks[worst_key],
                        worst,
                        f"{topic}-{number}",
                        logs[worst_key].start_offset,
                        window,
                    )
                    if worst_count > 1:
                        reason += f" and {_plural(worst_count - 1, 'more partition')}"
                changes.append(
                    StatusChange(
                        group_id=group_id,
                        previous=previous,
                        status=worst,
                        total_lag=total_lag,
                        reason=_clip(reason),
                    )
                )
            members = len(group.members)
            stats.append(
                {
                    "group_id": group_id,
                    "state": group_state(group.state, members),
                    "members": members,
                    "topics": topics,
                    "total_lag": total_lag,
                    "max_lag": max_lag,
                    "consumption_messages_per_s": consumed / elapsed_s if rates else 0.0,
                    "lag_seconds": lag_seconds if any_production else None,
                    "status": worst,
                    "partitions": rows,
                }
            )
        self._groups = groups
        self.changes = changes
        return stats


# ---------------------------------------------------------------------------
# The snapshot
# ---------------------------------------------------------------------------


class SnapshotBuilder:
    """Builds one ``metrics.snapshot`` per collector tick from the engine's state.

    It keeps the previous state (for rates) and a :class:`LagTracker` (for group
    status); :attr:`status_changes` and :attr:`health` tell the collector what to
    announce on the ``groups`` and ``cluster`` channels.
    """

    def __init__(self, window: int = DEFAULT_WINDOW) -> None:
        self.tracker = LagTracker(window)
        self.health: ClusterHealth | None = None
        """The cluster health of the last snapshot built."""
        self.groups: dict[str, dict[str, Any]] = {}
        """The last snapshot's groups by id, as plain data (``ConsumerGroupStats``'s shape)."""
        self._previous: engine.ClusterState | None = None

    @property
    def status_changes(self) -> list[StatusChange]:
        """Group status changes found by the last :meth:`build`."""
        return self.tracker.changes

    def build(
        self,
        state: engine.ClusterState,
        latency_window: engine.LatencyWindow,
        *,
        epoch: str,
        seq: int,
        interval_ms: int | None = None,
    ) -> MetricsSnapshot:
        """The snapshot of ``state`` as a model (see :meth:`build_json`)."""
        return MetricsSnapshot.model_validate_json(
            self.build_json(state, latency_window, epoch=epoch, seq=seq, interval_ms=interval_ms)
        )

    def build_json(
        self,
        state: engine.ClusterState,
        latency_window: engine.LatencyWindow,
        *,
        epoch: str,
        seq: int,
        interval_ms: int | None = None,
    ) -> bytes:
        """The snapshot of ``state``, encoded, with rates over the time since the previous build.

        ``interval_ms`` defaults to the time between the two states' ``taken_at_ms``
        (at least 1), or the latency window for the first build, whose rates are
        all 0 (there is nothing to take a delta from).

        The snapshot is assembled as plain data and encoded straight to JSON: no
        model is built for its thousands of rows here, because whoever sends it
        validates the encoded bytes against the spec once (the hub's ``publish``
        does), and validating twice would double the cost of the largest message.
        """
        previous = self._previous
        if interval_ms is None:
            if previous is None:
                interval_ms = latency_window.window_ms
            else:
                interval_ms = state.taken_at_ms - previous.taken_at_ms
        interval_ms = max(1, interval_ms)
        elapsed_s = interval_ms / 1000
        before = state.counters if previous is None else previous.counters

        health = cluster_health(state)
        groups = self.tracker.rows(state, elapsed_s, interval_ms)
        snapshot = {
            "type": "metrics.snapshot",
            "channel": "metrics",
            "epoch": epoch,
            "seq": seq,
            "timestamp_ms": state.taken_at_ms,
            "interval_ms": interval_ms,
            "cluster": health.model_dump(mode="json"),
            "throughput": throughput(before, state.counters, elapsed_s).model_dump(mode="json"),
            "latency": latency(latency_window).model_dump(mode="json"),
            "topics": topic_rows(previous, state, elapsed_s),
            "groups": groups,
        }
        self.health = health
        self.groups = {row["group_id"]: row for row in groups}
        self._previous = state
        return to_json(snapshot)
