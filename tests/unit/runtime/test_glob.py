"""Filter globs: one compiled expression per filter gives fnmatchcase's answers."""

from __future__ import annotations

import fnmatch

from console_live_updates import MetricsSnapshot, SubscriptionFilter
from console_messages import snapshot_factory
from hypothesis import given, settings
from hypothesis import strategies as st

from specwire.runtime.console import refine_snapshot
from specwire.runtime.hub import Position, glob_match, glob_matcher

# The characters the console's TopicPattern allows, with few letters so that matches happen.
NAMES = st.text(alphabet="ab.-_0", min_size=1, max_size=12)
PATTERNS = st.text(alphabet="ab.-_0*?", min_size=1, max_size=8)


@settings(max_examples=400, deadline=None)
@given(name=NAMES, patterns=st.lists(PATTERNS, min_size=1, max_size=6))
def test_any_pattern_matches_as_fnmatchcase_says(name: str, patterns: list[str]) -> None:
    expected = any(fnmatch.fnmatchcase(name, pattern) for pattern in patterns)
    assert glob_matcher(tuple(patterns))(name) is expected
    assert glob_match(name, patterns) is expected


def test_edges() -> None:
    assert glob_match("payments", None)  # no list: everything
    assert not glob_match("payments", [])  # an empty list: nothing
    assert glob_match("payments.eu", ["orders", "payments.*"])
    assert not glob_match("Payments.eu", ["payments.*"])  # case matters
    assert not glob_match("payments.eu\nx", ["payments.eu"])  # whole name, no trailing line
    assert glob_match("a.b", ["a?b"]) and not glob_match("a..b", ["a?b"])
    assert glob_matcher(("x*",)) is glob_matcher(("x*",))  # compiled once


def test_a_snapshot_filter_narrows_only_the_lists_it_names() -> None:
    snapshot = snapshot_factory()(Position("e", 1))
    topics = [t.name for t in snapshot.topics]
    groups = [g.group_id for g in snapshot.groups]
    assert len(topics) > 1 and len(groups) > 1  # the example has something to narrow

    only_topics = refine_snapshot(snapshot, SubscriptionFilter(topics=[topics[0]]))
    assert isinstance(only_topics, MetricsSnapshot)
    assert [t.name for t in only_topics.topics] == [topics[0]]
    assert [g.group_id for g in only_topics.groups] == groups  # absent: all of them

    only_groups = refine_snapshot(snapshot, SubscriptionFilter(groups=[groups[-1]]))
    assert isinstance(only_groups, MetricsSnapshot)
    assert [t.name for t in only_groups.topics] == topics
    assert [g.group_id for g in only_groups.groups] == [groups[-1]]
    assert only_groups.cluster == snapshot.cluster  # cluster-wide figures stay
