"""Tests for ``specwire.runtime.history``: numbering, bounded retention, ``since`` and ``history``."""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from specwire.runtime.history import Entry, EventHistory, Replay, SnapshotHistory

EPOCH = "run-1"

FAST = settings(derandomize=True, database=None, deadline=None)


def fill(history: EventHistory | SnapshotHistory, at_ms: list[int]) -> list[Entry]:
    """Append one message per timestamp; frames and items say which seq they were given."""
    entries = []
    for now_ms in at_ms:
        seq = history.next_seq()
        entries.append(history.append(f"frame-{seq}".encode(), {"n": seq}, now_ms))
    return entries


def seqs(replay: Replay) -> list[int]:
    return [entry.seq for entry in replay.entries]


# EventHistory: construction and numbering


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"max_messages": -1}, "max_messages must be >= 0, got -1"),
        ({"max_age_ms": -1}, "max_age_ms must be >= 0, got -1"),
    ],
)
def test_event_history_rejects_negative_bounds(kwargs: dict[str, int], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        EventHistory(EPOCH, **kwargs)


def test_a_new_history_is_empty_and_before_the_first_message() -> None:
    history = EventHistory(EPOCH)

    assert history.epoch == EPOCH
    assert history.last_seq == 0
    assert history.next_seq() == 1
    assert len(history) == 0
    assert history.max_messages == 1000
    assert history.max_age_ms == 300_000


def test_next_seq_has_no_side_effect() -> None:
    history = EventHistory(EPOCH)

    assert history.next_seq() == 1
    assert history.next_seq() == 1
    assert history.last_seq == 0


def test_append_numbers_messages_from_one_without_gaps() -> None:
    history = EventHistory(EPOCH)

    entries = fill(history, [10, 20, 30])

    assert entries == [
        Entry(seq=1, at_ms=10, frame=b"frame-1", item={"n": 1}),
        Entry(seq=2, at_ms=20, frame=b"frame-2", item={"n": 2}),
        Entry(seq=3, at_ms=30, frame=b"frame-3", item={"n": 3}),
    ]
    assert history.last_seq == 3
    assert history.next_seq() == 4
    assert len(history) == 3


def test_entries_and_replays_are_immutable() -> None:
    entry = Entry(seq=1, at_ms=0, frame=b"x", item=None)
    replay = Replay(recovered=True, entries=(entry,), position=(EPOCH, 1))

    with pytest.raises(dataclasses.FrozenInstanceError):
        entry.seq = 2  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        replay.recovered = False  # type: ignore[misc]


def test_repr_shows_position_and_bounds() -> None:
    history = EventHistory(EPOCH, max_messages=5, max_age_ms=100)
    fill(history, [0, 0])

    assert repr(history) == (
        "EventHistory(epoch='run-1', last_seq=2, held=2, max_messages=5, max_age_ms=100)"
    )


# EventHistory.since: one test per branch


def test_since_another_epoch_is_not_recovered() -> None:
    history = EventHistory(EPOCH)
    fill(history, [0, 0])

    assert history.since("run-0", 1, now_ms=0) == Replay(False, (), (EPOCH, 2))


def test_since_a_future_seq_is_not_recovered() -> None:
    history = EventHistory(EPOCH)
    fill(history, [0, 0])

    assert history.since(EPOCH, 3, now_ms=0) == Replay(False, (), (EPOCH, 2))


def test_since_a_negative_seq_is_not_recovered() -> None:
    history = EventHistory(EPOCH)
    fill(history, [0, 0])

    assert history.since(EPOCH, -1, now_ms=0) == Replay(False, (), (EPOCH, 2))


def test_since_the_current_position_recovers_nothing_missed() -> None:
    history = EventHistory(EPOCH)
    fill(history, [0, 0])

    assert history.since(EPOCH, 2, now_ms=0) == Replay(True, (), (EPOCH, 2))


def test_since_zero_on_an_empty_history_is_recovered() -> None:
    history = EventHistory(EPOCH)

    assert history.since(EPOCH, 0, now_ms=0) == Replay(True, (), (EPOCH, 0))
    assert history.since(EPOCH, 1, now_ms=0) == Replay(False, (), (EPOCH, 0))


def test_since_replays_everything_after_seq_in_order() -> None:
    history = EventHistory(EPOCH)
    entries = fill(history, [0, 1, 2, 3])

    assert history.since(EPOCH, 0, now_ms=3) == Replay(True, tuple(entries), (EPOCH, 4))
    assert history.since(EPOCH, 1, now_ms=3) == Replay(True, tuple(entries[1:]), (EPOCH, 4))
    assert history.since(EPOCH, 3, now_ms=3) == Replay(True, (entries[3],), (EPOCH, 4))


def test_since_is_not_recovered_once_eviction_by_count_passed_seq() -> None:
    history = EventHistory(EPOCH, max_messages=3)
    fill(history, [0, 0, 0, 0, 0])

    assert len(history) == 3
    assert seqs(history.since(EPOCH, 2, now_ms=0)) == [3, 4, 5]
    assert history.since(EPOCH, 1, now_ms=0) == Replay(False, (), (EPOCH, 5))
    assert history.since(EPOCH, 0, now_ms=0) == Replay(False, (), (EPOCH, 5))


def test_since_is_not_recovered_once_eviction_by_age_passed_seq() -> None:
    history = EventHistory(EPOCH, max_age_ms=100)
    fill(history, [0, 50, 120])  # at 120, the entry from 0 is older than 120 - 100

    assert len(history) == 2
    assert history.since(EPOCH, 0, now_ms=120) == Replay(False, (), (EPOCH, 3))
    assert seqs(history.since(EPOCH, 1, now_ms=120)) == [2, 3]


def test_since_evicts_by_age_at_its_own_now() -> None:
    history = EventHistory(EPOCH, max_age_ms=100)
    fill(history, [0, 50, 120])

    # At 200, the entry from 50 has expired too; nothing was appended meanwhile.
    assert history.since(EPOCH, 1, now_ms=200) == Replay(False, (), (EPOCH, 3))
    assert seqs(history.since(EPOCH, 2, now_ms=200)) == [3]
    assert len(history) == 1


def test_an_entry_exactly_max_age_old_is_kept() -> None:
    history = EventHistory(EPOCH, max_age_ms=100)
    fill(history, [0])

    assert history.evict(now_ms=100) == 0
    assert seqs(history.since(EPOCH, 0, now_ms=100)) == [1]
    assert history.evict(now_ms=101) == 1


def test_evict_returns_how_many_were_dropped() -> None:
    history = EventHistory(EPOCH, max_age_ms=10)
    fill(history, [0, 5, 10, 15])  # appending at 15 already dropped the entry from 0
    assert len(history) == 3

    assert history.evict(now_ms=16) == 1
    assert history.evict(now_ms=16) == 0
    assert history.evict(now_ms=26) == 2
    assert len(history) == 0
    assert history.evict(now_ms=2_000) == 0


def test_a_clock_stepping_back_never_opens_a_gap() -> None:
    history = EventHistory(EPOCH, max_age_ms=10)
    fill(history, [100, 50, 100])  # the middle reading went backwards

    # The oldest entry is young enough, so the stale one behind it stays held.
    assert history.evict(now_ms=105) == 0
    assert seqs(history.since(EPOCH, 0, now_ms=105)) == [1, 2, 3]


def test_max_age_zero_keeps_only_the_current_millisecond() -> None:
    history = EventHistory(EPOCH, max_age_ms=0)
    fill(history, [7, 7, 8])

    assert len(history) == 1
    assert history.since(EPOCH, 1, now_ms=8) == Replay(False, (), (EPOCH, 3))
    assert history.since(EPOCH, 2, now_ms=8) == Replay(
        True, (Entry(3, 8, b"frame-3", {"n": 3}),), (EPOCH, 3)
    )


def test_max_messages_zero_keeps_nothing_but_still_numbers() -> None:
    history = EventHistory(EPOCH, max_messages=0)
    entries = fill(history, [0, 0, 0])

    assert [entry.seq for entry in entries] == [1, 2, 3]
    assert len(history) == 0
    assert history.next_seq() == 4
    assert history.since(EPOCH, 3, now_ms=0) == Replay(True, (), (EPOCH, 3))
    assert history.since(EPOCH, 2, now_ms=0) == Replay(False, (), (EPOCH, 3))


# EventHistory against a reference model


class EventHistoryMachine(RuleBasedStateMachine):
    """Random appends (time never going back) and resumes, checked against a plain list.

    The model keeps every message ever appended and decides each one's retention on its own
    (within the last ``max_messages`` appended, and no older than ``max_age_ms``), so it does
    not share the implementation's "held entries are a contiguous suffix" reasoning.
    """

    def __init__(self) -> None:
        super().__init__()
        self.appended: list[Entry] = []
        self.now_ms = 0
        self.history = EventHistory(EPOCH)

    @initialize(max_messages=st.integers(0, 8), max_age_ms=st.integers(0, 40))
    def configure(self, max_messages: int, max_age_ms: int) -> None:
        self.history = EventHistory(EPOCH, max_messages=max_messages, max_age_ms=max_age_ms)

    def retained(self, position: int) -> bool:
        """Whether the model says ``self.appended[position]`` is within both bounds now."""
        entry = self.appended[position]
        within_count = position >= len(self.appended) - self.history.max_messages
        within_age = entry.at_ms >= self.now_ms - self.history.max_age_ms
        return within_count and within_age

    @rule(elapsed_ms=st.integers(0, 15))
    def append(self, elapsed_ms: int) -> None:
        self.now_ms += elapsed_ms
        seq = len(self.appended) + 1
        frame = f"frame-{seq}".encode()
        entry = self.history.append(frame, ("item", seq), self.now_ms)
        assert entry == Entry(seq, self.now_ms, frame, ("item", seq))
        self.appended.append(entry)

    @rule(
        elapsed_ms=st.integers(0, 15),
        epoch=st.sampled_from([EPOCH, "run-2"]),
        behind=st.integers(-3, 12),
    )
    def resume(self, elapsed_ms: int, epoch: str, behind: int) -> None:
        self.now_ms += elapsed_ms
        last_seq = len(self.appended)
        seq = last_seq - behind

        replay = self.history.since(epoch, seq, self.now_ms)

        missed = range(max(seq, 0), last_seq)  # positions in self.appended after seq
        expected = epoch == EPOCH and 0 <= seq <= last_seq and all(self.retained(i) for i in missed)
        assert replay.recovered is expected
        assert replay.entries == (tuple(self.appended[seq:]) if expected else ())
        assert replay.position == (EPOCH, last_seq)

    @precondition(lambda self: len(self.history) > 0)
    @rule(elapsed_ms=st.integers(0, 30))
    def evict(self, elapsed_ms: int) -> None:
        held_before = len(self.history)
        self.now_ms += elapsed_ms

        dropped = self.history.evict(self.now_ms)

        assert dropped == held_before - len(self.history)

    @invariant()
    def holds_exactly_what_both_bounds_allow(self) -> None:
        assert len(self.history) == sum(map(self.retained, range(len(self.appended))))
        assert self.history.last_seq == len(self.appended)
        assert self.history.next_seq() == len(self.appended) + 1


def test_event_history_matches_the_reference_model() -> None:
    run_state_machine_as_test(
        EventHistoryMachine,
        settings=settings(FAST, max_examples=150, stateful_step_count=40),
    )


# SnapshotHistory


def test_snapshot_history_needs_room_for_one() -> None:
    with pytest.raises(ValueError, match="max_messages must be >= 1, got 0"):
        SnapshotHistory(0)


def test_a_new_snapshot_history_has_no_latest() -> None:
    history = SnapshotHistory()

    assert history.latest is None
    assert history.recent(5) == ()
    assert len(history) == 0
    assert history.last_seq == 0
    assert history.next_seq() == 1
    assert history.max_messages == 60


def test_snapshots_are_numbered_and_the_oldest_dropped_beyond_max_messages() -> None:
    history = SnapshotHistory(3)

    entries = fill(history, [0, 2000, 4000, 6000, 8000])

    assert [entry.seq for entry in entries] == [1, 2, 3, 4, 5]
    assert history.latest == entries[-1]
    assert len(history) == 3
    assert history.last_seq == 5
    assert history.next_seq() == 6
    assert [(e.seq, e.frame) for e in history.recent(3)] == [(e.seq, e.frame) for e in entries[2:]]
    # Only the newest keeps its message object; the older are held as frames.
    assert [e.item for e in history.recent(3)] == [None, None, entries[-1].item]
    assert repr(history) == "SnapshotHistory(last_seq=5, held=3, max_messages=3)"


@pytest.mark.parametrize(
    ("count", "expected_seqs"),
    [(-1, []), (0, []), (1, [4]), (2, [3, 4]), (4, [1, 2, 3, 4]), (10, [1, 2, 3, 4])],
)
def test_recent_returns_the_last_count_oldest_first(count: int, expected_seqs: list[int]) -> None:
    history = SnapshotHistory(10)
    fill(history, [0, 1, 2, 3])

    assert [entry.seq for entry in history.recent(count)] == expected_seqs


@FAST
@given(
    max_messages=st.integers(1, 6),
    appends=st.integers(0, 15),
    count=st.integers(-2, 10),
)
def test_recent_matches_a_slice_of_everything_appended(
    max_messages: int, appends: int, count: int
) -> None:
    history = SnapshotHistory(max_messages)
    appended = fill(history, list(range(appends)))

    held = appended[-max_messages:] if appended else []
    expected = [e.seq for e in held[-count:]] if count > 0 else []
    assert [e.seq for e in history.recent(count)] == expected
    assert history.latest == (appended[-1] if appended else None)
    assert len(history) == len(held)
