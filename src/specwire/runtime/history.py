"""Per-channel history: numbering, bounded retention and replay for ``since`` and ``history``.

Pure bookkeeping: no loop, no clock. Every call that depends on time takes ``now_ms``, the
caller's reading of a monotonic clock in milliseconds.

Event channels (``EventHistory``; ``sendTopicEvents``, ``sendGroupEvents``,
``sendClusterEvents``) guarantee, within one ``epoch``:

- **Gap-free numbering.** ``append`` gives each message ``seq = last_seq + 1``, starting at 1.
  Eviction never renumbers, so ``(epoch, seq)`` names one message for the life of the epoch.
  A new epoch is a new ``EventHistory``: positions only compare within one epoch
  (``StreamPosition``).
- **Recovered means complete.** ``since(epoch, seq, now_ms)`` answers ``recovered=True`` only
  when it returns *every* message after ``seq``, in order, ending at the channel's current
  position; live messages then continue from ``last_seq + 1`` with no gap and no duplicate.
  When the epoch differs, the position lies in the future, or history no longer reaches back
  to ``seq + 1``, it answers ``recovered=False`` with no entries: the client must refetch the
  state (``SubscribedChannel.recovered``). A partial replay is never offered.
- **Bounded memory.** At most ``max_messages`` frames are held (``history_max_messages``),
  and none older than ``max_age_ms`` (``history_max_age_ms``): an entry is dropped once
  ``at_ms < now_ms - max_age_ms``. ``max_messages=0`` holds nothing but still numbers.

Held entries are always a contiguous run of seqs ending at ``last_seq``, because eviction only
ever removes the oldest. A seq's place in the deque is therefore arithmetic
(``seq - first_held_seq``), which beats a ``bisect``; eviction by age pops from the left and
stops at the first entry young enough. If the clock ever steps back, that rule can only keep
entries longer than ``max_age_ms``; it never opens a gap.

Snapshot channels (``SnapshotHistory``; ``sendMetricsSnapshot``) keep the latest
``max_messages`` snapshots for ``subscribe`` with ``history: n`` (sparklines). Snapshots are
numbered too, but a client that coalesces may see gaps, so there is no ``since``.

Complexity (n = entries held, k = entries returned): ``append`` O(1) amortized (each entry is
evicted once); ``since`` O(k) plus amortized eviction; ``evict`` O(dropped);
``SnapshotHistory.recent`` O(k); everything else O(1).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from itertools import islice

__all__ = ["Entry", "EventHistory", "Replay", "SnapshotHistory"]


@dataclass(frozen=True, slots=True)
class Entry:
    """One message as published on a channel."""

    seq: int
    """Its number on the channel (``seq`` of an event, or of a snapshot)."""
    at_ms: int
    """The ``now_ms`` it was appended at; age eviction compares against it."""
    frame: bytes
    """The encoded frame, exactly as sent to live subscribers."""
    item: object
    """The message object, for filters; opaque to this module. ``None`` where only the
    frame is held (snapshots)."""
    tag: str | None = None
    """The message's type, for counting what is sent."""


@dataclass(frozen=True, slots=True)
class Replay:
    """The answer to a ``since``: what to send after ``subscribed``, and the position to report."""

    recovered: bool
    """True: ``entries`` is exactly everything after the client's position."""
    entries: tuple[Entry, ...]
    """In seq order; empty when ``recovered`` is False or nothing was missed."""
    position: tuple[str, int]
    """``(epoch, last seq)``: the channel's current position, where the client is after replay."""


def _newest(entries: deque[Entry], count: int) -> tuple[Entry, ...]:
    """The last ``count`` entries, oldest first, walking only those from the right: O(count)."""
    if count <= 0:
        return ()
    newest_first = list(islice(reversed(entries), count))
    newest_first.reverse()
    return tuple(newest_first)


class _Numbered:
    """What both histories share: gap-free numbering and the newest ``max_messages`` entries."""

    __slots__ = ("_entries", "_last_seq", "_max_messages")

    def __init__(self, max_messages: int) -> None:
        self._last_seq = 0
        self._max_messages = max_messages
        # maxlen makes eviction by count free: appending to a full deque drops the oldest.
        self._entries: deque[Entry] = deque(maxlen=max_messages)

    @property
    def last_seq(self) -> int:
        """The seq of the last message appended; 0 before the first."""
        return self._last_seq

    @property
    def max_messages(self) -> int:
        """How many entries are held at most (``history_max_messages``)."""
        return self._max_messages

    def next_seq(self) -> int:
        """The seq the next appended message will get, to encode it into the frame first."""
        return self._last_seq + 1

    def _number(self, frame: bytes, item: object, now_ms: int, tag: str | None) -> Entry:
        self._last_seq += 1
        entry = Entry(seq=self._last_seq, at_ms=now_ms, frame=frame, item=item, tag=tag)
        self._entries.append(entry)
        return entry

    def __len__(self) -> int:
        return len(self._entries)


class EventHistory(_Numbered):
    """Per event channel: the epoch, the next seq, and a bounded history (by count AND age)."""

    __slots__ = ("_epoch", "_max_age_ms")

    def __init__(self, epoch: str, *, max_messages: int = 1000, max_age_ms: int = 300_000) -> None:
        if max_messages < 0:
            raise ValueError(f"max_messages must be >= 0, got {max_messages}")
        if max_age_ms < 0:
            raise ValueError(f"max_age_ms must be >= 0, got {max_age_ms}")
        super().__init__(max_messages)
        self._epoch = epoch
        self._max_age_ms = max_age_ms

    @property
    def epoch(self) -> str:
        """The epoch every seq of this history belongs to."""
        return self._epoch

    @property
    def max_age_ms(self) -> int:
        """How long entries are held at most (``history_max_age_ms``)."""
        return self._max_age_ms

    def append(self, frame: bytes, item: object, now_ms: int, tag: str | None = None) -> Entry:
        """Number and hold one published message, then evict by count and by age."""
        entry = self._number(frame, item, now_ms, tag)
        self.evict(now_ms)
        return entry

    def evict(self, now_ms: int) -> int:
        """Drop entries older than ``max_age_ms`` at ``now_ms``; return how many were dropped."""
        entries = self._entries
        oldest_kept_ms = now_ms - self._max_age_ms
        dropped = 0
        while entries and entries[0].at_ms < oldest_kept_ms:
            entries.popleft()
            dropped += 1
        return dropped

    def since(self, epoch: str, seq: int, now_ms: int) -> Replay:
        """What a client at ``(epoch, seq)`` missed: all of it (recovered), or nothing."""
        self.evict(now_ms)
        position = (self._epoch, self._last_seq)
        if epoch != self._epoch or seq < 0 or seq > self._last_seq:
            return Replay(recovered=False, entries=(), position=position)
        missed = self._last_seq - seq
        if missed == 0:
            return Replay(recovered=True, entries=(), position=position)
        if missed > len(self._entries):
            # History no longer reaches back to seq + 1.
            return Replay(recovered=False, entries=(), position=position)
        return Replay(recovered=True, entries=_newest(self._entries, missed), position=position)

    def __repr__(self) -> str:
        return (
            f"EventHistory(epoch={self._epoch!r}, last_seq={self._last_seq}, "
            f"held={len(self._entries)}, max_messages={self.max_messages}, "
            f"max_age_ms={self._max_age_ms})"
        )


class SnapshotHistory(_Numbered):
    """Per snapshot channel: the latest N snapshots (for sparklines) and the latest one."""

    __slots__ = ()

    def __init__(self, max_messages: int = 60) -> None:
        if max_messages < 1:
            raise ValueError(f"max_messages must be >= 1, got {max_messages}")
        super().__init__(max_messages)

    def append(self, frame: bytes, item: object, now_ms: int, tag: str | None = None) -> Entry:
        """Number and hold one published snapshot, dropping the oldest beyond ``max_messages``.

        Only the newest entry keeps its message object (if given one); older ones
        keep their frame alone (``item`` None), to be decoded again if a filtered
        history asks for them. A large snapshot is tens of thousands of objects, and
        60 of them held alive would make every full garbage collection walk them.
        """
        if self._entries and self._entries[-1].item is not None:
            previous = self._entries[-1]
            self._entries[-1] = Entry(
                previous.seq, previous.at_ms, previous.frame, None, previous.tag
            )
        return self._number(frame, item, now_ms, tag)

    @property
    def latest(self) -> Entry | None:
        """The last snapshot appended, or None before the first."""
        return self._entries[-1] if self._entries else None

    def recent(self, count: int) -> tuple[Entry, ...]:
        """The last ``min(count, held)`` snapshots, oldest first; ``()`` when ``count <= 0``."""
        return _newest(self._entries, count)

    def __repr__(self) -> str:
        return (
            f"SnapshotHistory(last_seq={self._last_seq}, held={len(self._entries)}, "
            f"max_messages={self.max_messages})"
        )
