"""The cluster engine interface: what the console server reads and changes.

An engine is one streaming cluster seen through a small async interface: its
brokers, topics with partitions (leaders, replicas, in-sync replicas, offsets,
sizes), consumer groups (members, assignments, committed offsets), cumulative
traffic counters and request latencies. The collector reads it every tick, the
REST API changes it. The embedded engine (:mod:`specwire.console.embedded`) is
an in-process model; other engines plug in behind the same interface.

Everything an engine returns is an immutable value taken at one instant, so the
collector can diff two of them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import NamedTuple, Protocol

__all__ = [
    "BrokerNotFound",
    "BrokerState",
    "ClusterEngine",
    "ClusterState",
    "CommittedOffset",
    "EngineError",
    "GroupState",
    "InvalidTopic",
    "LatencyWindow",
    "MemberState",
    "PartitionState",
    "TopicCounters",
    "TopicExists",
    "TopicNotFound",
    "TopicState",
    "TrafficCounters",
]


class EngineError(Exception):
    """A request the cluster refused; ``field`` names the input at fault, if one is."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class TopicExists(EngineError):
    """Creating a topic whose name is taken."""


class TopicNotFound(EngineError):
    """Naming a topic that does not exist."""


class InvalidTopic(EngineError):
    """A topic name, partition count, replication factor or config the cluster refuses."""


class BrokerNotFound(EngineError):
    """Naming a broker id the cluster does not have."""


@dataclass(frozen=True, slots=True)
class BrokerState:
    id: int
    host: str
    port: int
    online: bool
    rack: str | None = None


class PartitionState(NamedTuple):
    """One partition at one instant.

    A named tuple rather than a frozen dataclass, as :class:`CommittedOffset`:
    thousands are made for every state taken, and a frozen dataclass costs three
    times as much to create (it sets each field through ``object.__setattr__``).
    """

    partition: int
    leader: int | None
    """Broker id of the leader; ``None`` when the partition is offline."""
    replicas: tuple[int, ...]
    isr: tuple[int, ...]
    """In-sync replicas (a subset of ``replicas``; the leader is one of them)."""
    start_offset: int
    """Log start offset: the oldest retained message."""
    end_offset: int
    """Log end offset: the offset the next produced message gets."""
    size_bytes: int
    """Bytes retained, one replica."""


@dataclass(frozen=True, slots=True)
class TopicState:
    name: str
    replication_factor: int
    config: Mapping[str, str]
    """Configuration overrides only (defaults are not listed)."""
    partitions: tuple[PartitionState, ...]


@dataclass(frozen=True, slots=True)
class MemberState:
    member_id: str
    client_id: str
    host: str
    assignments: tuple[tuple[str, int], ...]
    """(topic, partition) pairs assigned to this member."""


class CommittedOffset(NamedTuple):
    """A group's commit on one partition (a named tuple: one is made for every commit)."""

    offset: int
    """The next offset the group will read."""
    committed_at_ms: int
    """When the group last committed this partition (even without moving), Unix ms."""


@dataclass(frozen=True, slots=True)
class GroupState:
    group_id: str
    state: str
    """Kafka's group states: Stable, PreparingRebalance, CompletingRebalance, Empty, Dead."""
    members: tuple[MemberState, ...]
    offsets: Mapping[tuple[str, int], CommittedOffset]
    """Committed offsets by (topic, partition)."""


@dataclass(frozen=True, slots=True)
class TopicCounters:
    produce_messages: int = 0
    produce_bytes: int = 0
    fetch_messages: int = 0
    fetch_bytes: int = 0


@dataclass(frozen=True, slots=True)
class TrafficCounters:
    """Cumulative client traffic since the engine started (never reset)."""

    produce_messages: int = 0
    produce_bytes: int = 0
    fetch_messages: int = 0
    fetch_bytes: int = 0
    requests: int = 0
    topics: Mapping[str, TopicCounters] = field(default_factory=dict)
    partitions: Mapping[tuple[str, int], int] = field(default_factory=dict)
    """Messages produced per (topic, partition), cumulative: per-partition produce rates."""


@dataclass(frozen=True, slots=True)
class ClusterState:
    """The whole cluster at one instant."""

    taken_at_ms: int
    brokers: tuple[BrokerState, ...]
    controller_id: int | None
    topics: tuple[TopicState, ...]
    """Sorted by name."""
    groups: tuple[GroupState, ...]
    """Sorted by id."""
    counters: TrafficCounters


@dataclass(frozen=True, slots=True)
class LatencyWindow:
    """Request latencies recorded since the previous window was taken, in microseconds.

    ``produce`` and ``fetch`` map a percentile (50, 95, 99, 99.9) to its value; each
    is empty when no request of that kind was recorded.
    """

    window_ms: int
    produce: Mapping[float, float]
    fetch: Mapping[float, float]
    produce_count: int = 0
    fetch_count: int = 0


class ClusterEngine(Protocol):
    """What the console server needs from a cluster."""

    name: str
    """A short name for logs and ``/healthz`` (``embedded``, ...)."""

    async def state(self) -> ClusterState:
        """Brokers, topics, groups and counters, all at one instant."""
        ...

    async def take_latency(self) -> LatencyWindow:
        """The latency percentiles recorded since the previous call, and start a new window."""
        ...

    async def create_topic(
        self,
        name: str,
        partitions: int,
        replication_factor: int | None = None,
        config: Mapping[str, str] | None = None,
    ) -> TopicState:
        """Create a topic; raises :class:`TopicExists` or :class:`InvalidTopic`."""
        ...

    async def delete_topic(self, name: str) -> None:
        """Delete a topic; raises :class:`TopicNotFound`."""
        ...

    async def close(self) -> None:
        """Release what the engine holds (connections, tasks)."""
        ...
