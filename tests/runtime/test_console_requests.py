"""The console protocol's requests at their edges: duplicates, limits, filtered replay, auth off."""

from __future__ import annotations

import time
from typing import Any

from console_live_updates import GroupUpdated
from console_messages import snapshot_factory, topic_created
from peers import Connect

from specwire.runtime.auth import Principal, StaticTokenVerifier
from specwire.runtime.console import create_console_hub
from specwire.runtime.hub import HubConfig, Position


def group_updated(group_id: str) -> Any:
    def build(position: Position) -> GroupUpdated:
        return GroupUpdated.model_validate(
            {
                "type": "group.updated",
                "channel": "groups",
                "epoch": position.epoch,
                "seq": position.seq,
                "timestamp_ms": 1750000000000,
                "group_id": group_id,
                "change": "member_joined",
                "state": "Stable",
                "members": 2,
            }
        )

    return build


async def test_a_channel_named_twice_or_too_many_subscriptions(serve: Any, peers: Connect) -> None:
    hub = create_console_hub(config=HubConfig(max_subscriptions=2))
    peer = await peers((await serve(hub)).url)
    twice = await peer.request(
        {"type": "subscribe", "id": "d", "channels": [{"name": "topics"}, {"name": "topics"}]}
    )
    assert (twice["code"], twice["details"][0]["path"]) == ("invalid_message", "/channels/1/name")
    many = await peer.request(
        {
            "type": "subscribe",
            "id": "m",
            "channels": [{"name": "topics"}, {"name": "groups"}, {"name": "cluster"}],
        }
    )
    assert many["code"] == "too_many_subscriptions"


async def test_filtered_replay_and_filtered_history(serve: Any, peers: Connect) -> None:
    hub = create_console_hub()
    url = (await serve(hub)).url
    for group in ("fraud-scoring", "search-indexer", "fraud-review"):
        hub.publish("groups", group_updated(group))
    for _ in range(2):
        hub.publish("metrics", snapshot_factory())
    peer = await peers(url)
    reply = await peer.request(
        {
            "type": "subscribe",
            "id": "f",
            "channels": [
                {
                    "name": "groups",
                    "since": {"epoch": hub.epoch, "seq": 0},
                    "filter": {"groups": ["fraud-*"]},
                },
                {"name": "metrics", "history": 2, "filter": {"topics": ["orders.*"]}},
            ],
        }
    )
    assert [c["replayed"] for c in reply["channels"]] == [2, 2]
    replayed = [await peer.recv_type("group.updated") for _ in range(2)]
    assert [(e["group_id"], e["seq"]) for e in replayed] == [
        ("fraud-scoring", 1),
        ("fraud-review", 3),
    ]
    snapshots = [await peer.recv_type("metrics.snapshot") for _ in range(2)]
    assert all([t["name"] for t in s["topics"]] == ["orders.v1"] for s in snapshots)
    hub.publish("topics", topic_created("not.subscribed"))  # topics: nothing for this client


async def test_auth_when_the_server_takes_no_tokens(serve: Any, peers: Connect) -> None:
    peer = await peers((await serve(create_console_hub())).url)
    error = await peer.request({"type": "auth", "id": "a", "token": "anything"})
    assert error["code"] == "unauthorized"
    assert "does not take tokens" in error["message"]


async def test_an_expired_token_sent_in_band_is_refused(serve: Any, peers: Connect) -> None:
    past = Principal("stale", frozenset({"*"}), expires_at_ms=int(time.time() * 1000) - 1000)
    hub = create_console_hub(verifier=StaticTokenVerifier({"stale": past}))
    peer = await peers((await serve(hub)).url)
    error = await peer.request({"type": "auth", "id": "a", "token": "stale"})
    assert (error["code"], error["message"]) == ("unauthorized", "token expired")
