"""The hub over real sockets: connect, subscribe, publish, recover, refuse."""

from __future__ import annotations

import asyncio
import base64
import itertools
import json
import os
from pathlib import Path
from typing import Any

import pytest
from console_live_updates import TopicCreated
from console_messages import snapshot_factory, topic_created
from peers import DEADLINE, Connect, Peer
from websockets.exceptions import ConnectionClosed, InvalidStatus

from specwire.protocol import OutboundInvalid
from specwire.runtime.console import console_channels, create_console_hub
from specwire.runtime.hub import Hub, HubConfig, Position
from specwire.runtime.transports import native
from specwire.runtime.transports.asgi import AsgiServer
from specwire.runtime.transports.native import start_server

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def hub() -> Hub:
    return create_console_hub(config=HubConfig(debug=True))


async def test_connection_gets_a_welcome(hub: Hub, serve: Any, peers: Connect) -> None:
    server = await serve(hub)
    peer = await peers(server.url, welcome=False)
    welcome = await peer.recv()
    assert welcome["type"] == "welcome"
    assert {c["name"] for c in welcome["channels"]} == {"metrics", "topics", "groups", "cluster"}
    assert welcome["limits"]["max_message_bytes"] == 524288
    assert len(hub.clients) == 1


async def test_ping_pong(hub: Hub, serve: Any, peers: Connect) -> None:
    peer = await peers((await serve(hub)).url)
    pong = await peer.request({"type": "ping", "id": "p-1", "timestamp_ms": 42})
    assert pong["type"] == "pong"
    assert pong["client_timestamp_ms"] == 42


async def test_topic_events_reach_subscribers_in_order(
    hub: Hub, serve: Any, peers: Connect
) -> None:
    url = (await serve(hub)).url
    a, b, idle = await peers(url), await peers(url), await peers(url)
    for peer in (a, b):
        reply = await peer.request(
            {"type": "subscribe", "id": "s", "channels": [{"name": "topics"}]}
        )
        assert reply["type"] == "subscribed"
        assert reply["channels"][0]["position"]["seq"] == 0
    for name in ("orders.v1", "payments.settled", "inventory.changes"):
        assert hub.publish("topics", topic_created(name)) == 2
    for peer in (a, b):
        got = [await peer.recv_type("topic.created") for _ in range(3)]
        assert [e["seq"] for e in got] == [1, 2, 3]
        assert [e["topic"]["name"] for e in got] == [
            "orders.v1",
            "payments.settled",
            "inventory.changes",
        ]
    pong = await idle.request({"type": "ping", "id": "p"})
    assert [f["type"] for f in idle.received] == ["welcome", "pong"]  # no topic events
    assert pong["id"] == "p"


async def test_resume_with_since_replays_what_was_missed(
    hub: Hub, serve: Any, peers: Connect
) -> None:
    url = (await serve(hub)).url
    for name in ("a.one", "a.two", "a.three"):
        hub.publish("topics", topic_created(name))
    peer = await peers(url)
    reply = await peer.request(
        {
            "type": "subscribe",
            "id": "s",
            "channels": [{"name": "topics", "since": {"epoch": hub.epoch, "seq": 1}}],
        }
    )
    assert reply["channels"][0] == {
        "name": "topics",
        "position": {"epoch": hub.epoch, "seq": 3},
        "recovered": True,
        "replayed": 2,
    }
    hub.publish("topics", topic_created("a.four"))
    got = [await peer.recv_type("topic.created") for _ in range(3)]
    assert [e["seq"] for e in got] == [2, 3, 4]


async def test_resume_from_another_epoch_is_not_recovered(
    hub: Hub, serve: Any, peers: Connect
) -> None:
    peer = await peers((await serve(hub)).url)
    reply = await peer.request(
        {
            "type": "subscribe",
            "id": "s",
            "channels": [{"name": "topics", "since": {"epoch": "0" * 16, "seq": 7}}],
        }
    )
    assert reply["channels"][0]["recovered"] is False
    assert reply["channels"][0]["replayed"] == 0


async def test_invalid_frames_get_errors_and_the_connection_stays_up(
    hub: Hub, serve: Any, peers: Connect
) -> None:
    peer = await peers((await serve(hub)).url)
    await peer.send("{oops")
    assert (await peer.recv())["code"] == "invalid_json"
    await peer.send(b"\x00binary")
    assert (await peer.recv())["code"] == "unsupported_frame"
    error = await peer.request(
        {"type": "subscribe", "id": "bad", "channels": [{"name": "weather"}]}
    )
    assert (error["code"], error["details"][0]["path"]) == ("invalid_message", "/channels/0/name")
    assert (await peer.request({"type": "ping", "id": "still-here"}))["type"] == "pong"


async def test_repeated_abuse_closes_with_1008(serve: Any, peers: Connect) -> None:
    from specwire.protocol import Limits

    hub = create_console_hub(config=HubConfig(limits=Limits(max_invalid_frames=3)))
    peer = await peers((await serve(hub)).url)
    for _ in range(3):
        await peer.send("nope")
    for _ in range(3):
        await peer.recv()
    await peer.connection.wait_closed()
    assert peer.connection.close_code == 1008


async def test_oversized_frames_close_with_1009(hub: Hub, serve: Any, peers: Connect) -> None:
    peer = await peers((await serve(hub)).url)
    await peer.send('{"type":"ping","id":"' + "x" * 600_000 + '"}')
    await peer.connection.wait_closed()
    assert peer.connection.close_code == 1009


async def test_shutdown_closes_clients_with_1001(hub: Hub, serve: Any, peers: Connect) -> None:
    server = await serve(hub)
    peer: Peer = await peers(server.url)
    await server.shutdown()
    await peer.connection.wait_closed()
    assert peer.connection.close_code == 1001
    assert hub.clients == {}


async def test_metrics_snapshots_stream_and_history_is_sent_on_subscribe(
    hub: Hub, serve: Any, peers: Connect
) -> None:
    peer = await peers((await serve(hub)).url)
    build = snapshot_factory()
    for _ in range(5):
        hub.publish("metrics", build)
    reply = await peer.request(
        {"type": "subscribe", "id": "m", "channels": [{"name": "metrics", "history": 3}]}
    )
    assert reply["channels"] == [{"name": "metrics", "recovered": None, "replayed": 3}]
    history = [await peer.recv_type("metrics.snapshot") for _ in range(3)]
    assert [s["seq"] for s in history] == [3, 4, 5]
    hub.publish("metrics", build)
    assert (await peer.recv_type("metrics.snapshot"))["seq"] == 6


async def test_filters_narrow_snapshots_and_skip_events(
    hub: Hub, serve: Any, peers: Connect
) -> None:
    peer = await peers((await serve(hub)).url)
    await peer.request(
        {
            "type": "subscribe",
            "id": "f",
            "channels": [
                {
                    "name": "metrics",
                    "history": 0,
                    "filter": {"topics": ["payments.*"], "groups": ["fraud-*"]},
                },
                {"name": "topics", "filter": {"topics": ["payments.*"]}},
            ],
        }
    )
    hub.publish("metrics", snapshot_factory())
    snapshot = await peer.recv_type("metrics.snapshot")
    assert [t["name"] for t in snapshot["topics"]] == ["payments.settled"]
    assert [g["group_id"] for g in snapshot["groups"]] == ["fraud-scoring"]
    hub.publish("topics", topic_created("orders.v2"))
    hub.publish("topics", topic_created("payments.refunds"))
    event = await peer.recv_type("topic.created")
    assert (event["topic"]["name"], event["seq"]) == ("payments.refunds", 2)


async def test_a_slow_client_gets_the_latest_snapshot_not_a_backlog(
    serve: Any, peers: Connect
) -> None:
    hub = create_console_hub(config=HubConfig(debug=True, send_queue_size=8))
    slow = await peers((await serve(hub)).url)
    await slow.request(
        {"type": "subscribe", "id": "m", "channels": [{"name": "metrics", "history": 0}]}
    )
    (client,) = hub.clients.values()
    build = snapshot_factory()
    published = 0
    while not client.queue and published < 100_000:  # until the transport is behind
        hub.publish("metrics", build)
        published += 1
    for _ in range(500):
        hub.publish("metrics", build)
        published += 1
    assert [p.channel for p in client.queue] == ["metrics"]  # one coalesced slot
    assert hub.metrics.registry.get_sample_value(
        "specwire_snapshots_coalesced_total", {"channel": "metrics"}
    ) == pytest.approx(500)
    last = 0
    while last != published:  # the client catches up and ends on the newest snapshot
        last = (await slow.recv_type("metrics.snapshot"))["seq"]
    assert slow.connection.close_code is None


async def test_an_event_overflow_closes_with_4000_and_the_client_resumes(
    serve: Any, peers: Connect
) -> None:
    channels = console_channels(history=200_000)
    hub = create_console_hub(config=HubConfig(debug=True, send_queue_size=8), channels=channels)
    url = (await serve(hub)).url
    slow = await peers(url)
    await slow.request({"type": "subscribe", "id": "t", "channels": [{"name": "topics"}]})
    (client,) = hub.clients.values()
    published = 0
    bulky = {f"x.{n}": "v" * 1000 for n in range(40)}  # ~40 KB events fill the buffers sooner
    while not client.closing and published < 10_000:
        hub.publish("topics", topic_created(f"t.{published}", bulky))
        published += 1
    assert client.closing
    seen = await last_seq_before_close(slow, "topic.created")
    assert slow.connection.close_code == 4000
    reason = slow.connection.close_reason or ""
    assert reason.startswith(f"slow consumer; resume topics={hub.epoch}:")
    assert int(reason.rsplit(":", 1)[1]) >= seen
    again = await peers(url)
    reply = await again.request(
        {
            "type": "subscribe",
            "id": "r",
            "channels": [{"name": "topics", "since": {"epoch": hub.epoch, "seq": seen}}],
        }
    )
    assert reply["channels"][0]["recovered"] is True
    assert reply["channels"][0]["replayed"] == published - seen
    replayed = [await again.recv_type("topic.created") for _ in range(published - seen)]
    assert [e["seq"] for e in replayed] == list(range(seen + 1, published + 1))


async def test_a_client_that_falls_behind_gets_every_event_intact_and_in_order(
    serve: Any, peers: Connect
) -> None:
    # Frames written straight to the socket, partly written ones finished by the transport,
    # queued ones drained: every byte arrives in order, and the client is back on the fast
    # path once it caught up.
    hub = create_console_hub(config=HubConfig(debug=True, send_queue_size=100_000))
    behind = await peers((await serve(hub)).url)
    await behind.request({"type": "subscribe", "id": "t", "channels": [{"name": "topics"}]})
    (client,) = hub.clients.values()
    bulky = {f"x.{n}": "v" * 1000 for n in range(20)}
    published = 0
    while client.queue is None and published < 10_000:
        hub.publish("topics", topic_created(f"t.{published}", bulky))
        published += 1
    assert client.queue  # the transport fell behind and the hub queued
    for _ in range(50):
        hub.publish("topics", topic_created(f"t.{published}", bulky))
        published += 1
    seqs = [(await behind.recv_type("topic.created"))["seq"] for _ in range(published)]
    assert seqs == list(range(1, published + 1))
    assert client.queue is None and not client.closing
    hub.publish("topics", topic_created("after.catching.up"))
    assert (await behind.recv_type("topic.created"))["topic"]["name"] == "after.catching.up"


async def test_every_frame_sent_is_counted_by_type(serve: Any, peers: Connect) -> None:
    hub = create_console_hub(config=HubConfig(debug=True))
    url = (await serve(hub)).url
    hub.publish("topics", topic_created("a"))
    hub.publish("topics", topic_created("b"))
    peer = await peers(url)  # welcome
    await peer.send("{not json")  # error
    await peer.recv_type("error")
    since = {"epoch": hub.epoch, "seq": 0}
    await peer.request(  # subscribed, then two replayed events
        {"type": "subscribe", "id": "s", "channels": [{"name": "topics", "since": since}]}
    )
    assert [(await peer.recv_type("topic.created"))["seq"] for _ in range(2)] == [1, 2]
    hub.publish("topics", topic_created("c"))  # one live event
    await peer.recv_type("topic.created")

    def sent(tag: str) -> float | None:
        return hub.metrics.registry.get_sample_value("specwire_frames_out_total", {"type": tag})

    assert [sent(t) for t in ("welcome", "error", "subscribed", "topic.created")] == [1, 1, 1, 3]


async def test_a_message_published_already_encoded_is_validated_and_sent_as_is(
    serve: Any, peers: Connect
) -> None:
    hub = create_console_hub(config=HubConfig(debug=True))
    peer = await peers((await serve(hub)).url)
    await peer.request({"type": "subscribe", "id": "t", "channels": [{"name": "topics"}]})

    def encoded(position: Position) -> bytes:
        return hub.binding.encode(topic_created("pre.encoded")(position))

    assert hub.publish("topics", encoded) == 1
    raw = await asyncio.wait_for(peer.connection.recv(decode=False), DEADLINE)
    assert raw == hub.events["topics"].since(hub.epoch, 0, hub.now_ms()).entries[0].frame
    with pytest.raises(OutboundInvalid) as raised:
        hub.publish("topics", b'{"type": "topic.created", "channel": "topics"}')
    assert raised.value.message_type == "topic.created"
    hub.config = HubConfig(debug=False)  # production: logged and counted, never sent
    assert hub.publish("topics", b"[1, 2") == 0
    hub.publish("topics", topic_created("after"))
    assert (await peer.recv_type("topic.created"))["topic"]["name"] == "after"


async def test_a_snapshot_published_encoded_is_checked_then_narrowed_for_filters(
    hub: Hub, serve: Any, peers: Connect
) -> None:
    url = (await serve(hub)).url
    everything, narrowed = await peers(url), await peers(url)
    await everything.request(
        {"type": "subscribe", "id": "a", "channels": [{"name": "metrics", "history": 0}]}
    )
    await narrowed.request(
        {
            "type": "subscribe",
            "id": "n",
            "channels": [{"name": "metrics", "history": 0, "filter": {"topics": ["payments.*"]}}],
        }
    )

    def encoded(position: Position) -> bytes:
        return hub.binding.encode(snapshot_factory()(position))

    published: list[bytes] = []
    assert hub.publish("metrics", lambda p: published.append(encoded(p)) or published[-1]) == 2
    assert (
        await asyncio.wait_for(everything.connection.recv(decode=False), DEADLINE) == published[0]
    )
    snapshot = await narrowed.recv_type("metrics.snapshot")
    assert [t["name"] for t in snapshot["topics"]] == ["payments.settled"]
    # Checked without a model, refused alike: nobody gets it, the next one goes out.
    invalid = published[0].replace(b'"seq":1,', b'"seq":-1,')
    assert invalid != published[0]
    with pytest.raises(OutboundInvalid) as raised:  # debug mode raises
        hub.publish("metrics", invalid)
    assert raised.value.message_type == "metrics.snapshot"
    hub.config = HubConfig(debug=False)  # production: logged and counted
    assert hub.publish("metrics", invalid) == 0
    assert hub.publish("metrics", encoded) == 2
    assert (await everything.recv_type("metrics.snapshot"))["seq"] == 2
    assert (await narrowed.recv_type("metrics.snapshot"))["seq"] == 2


async def test_with_compression_on_each_deflating_connection_gets_its_own_frames(
    serve: Any, peers: Connect
) -> None:
    hub = create_console_hub(config=HubConfig(debug=True))
    url = (await serve(hub, compression=True)).url
    deflating = await peers(url, compression="deflate")
    plain = await peers(url)  # offers no compression: it still shares the pre-built frame
    assert [e.name for e in deflating.connection.protocol.extensions] == ["permessage-deflate"]
    assert plain.connection.protocol.extensions == []
    for peer in (deflating, plain):
        await peer.request(
            {
                "type": "subscribe",
                "id": "c",
                "channels": [{"name": "topics"}, {"name": "metrics", "history": 0}],
            }
        )
    for n in range(50):
        hub.publish("topics", topic_created(f"deflate.{n}"))
    hub.publish("metrics", snapshot_factory())
    for peer in (deflating, plain):
        events = [await peer.recv_type("topic.created") for _ in range(50)]
        assert [e["topic"]["name"] for e in events] == [f"deflate.{n}" for n in range(50)]
        assert (await peer.recv_type("metrics.snapshot"))["seq"] == 1


async def last_seq_before_close(peer: Peer, wanted: str) -> int:
    seq = 0
    try:
        while True:
            seq = (await peer.recv_type(wanted))["seq"]
    except ConnectionClosed:
        return seq


async def test_an_invalid_publish_never_reaches_a_client(serve: Any, peers: Connect) -> None:
    hub = create_console_hub()  # production mode: logged and counted, not raised
    peer = await peers((await serve(hub)).url)
    await peer.request({"type": "subscribe", "id": "t", "channels": [{"name": "topics"}]})

    def broken(position: Position) -> TopicCreated:
        return TopicCreated.model_construct(
            type="topic.created", channel="topics", epoch=position.epoch, seq=-1
        )

    assert hub.publish("topics", broken) == 0
    assert (
        hub.metrics.registry.get_sample_value(
            "specwire_validation_failures_total", {"direction": "out", "code": "outbound_invalid"}
        )
        == 1
    )
    hub.publish("topics", topic_created("after.broken"))
    event = await peer.recv_type("topic.created")
    # No gap: the invalid message was never numbered.
    assert (event["seq"], event["topic"]["name"]) == (1, "after.broken")
    debug = create_console_hub(config=HubConfig(debug=True))
    with pytest.raises(OutboundInvalid):
        debug.publish("topics", broken)


async def test_connection_limit_refuses_with_503(serve: Any, peers: Connect) -> None:
    hub = create_console_hub(config=HubConfig(max_connections=1))
    url = (await serve(hub)).url
    await peers(url)
    with pytest.raises(InvalidStatus) as caught:
        await peers(url)
    assert caught.value.response.status_code == 503


async def test_origin_allowlist_refuses_with_403(hub: Hub, serve: Any, peers: Connect) -> None:
    url = (await serve(hub, origins=["https://console.example.com"])).url
    await peers(url, origin="https://console.example.com")
    with pytest.raises(InvalidStatus) as caught:
        await peers(url, origin="https://evil.example.com")
    assert caught.value.response.status_code == 403


async def test_inbound_rate_limit(serve: Any, peers: Connect) -> None:
    hub = create_console_hub(config=HubConfig(max_messages_per_s=5))
    peer = await peers((await serve(hub)).url)
    for n in range(10):  # the burst: twice the rate
        await peer.send({"type": "ping", "id": f"p{n}"})
    await peer.send({"type": "ping", "id": "one-too-many"})
    frames = [await peer.recv() for _ in range(11)]
    assert [f["type"] for f in frames] == ["pong"] * 10 + ["error"]
    assert frames[-1]["code"] == "rate_limited"
    assert frames[-1]["retry_after_ms"] > 0
    for n in range(30):
        await peer.send({"type": "ping", "id": f"flood{n}"})
    with pytest.raises(ConnectionClosed):
        await read_until_closed(peer)
    assert peer.connection.close_code == 1008


async def read_until_closed(peer: Peer) -> None:
    """Read what was sent before the close, then the close itself."""
    while True:
        await peer.recv()


async def frozen_client(port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """A client frozen after its handshake: it never reads, answers nothing, closes nothing."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    key = base64.b64encode(os.urandom(16)).decode()
    writer.write(
        f"GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n".encode()
    )
    assert (await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), DEADLINE)).startswith(
        b"HTTP/1.1 101"
    )
    return reader, writer


async def test_a_client_that_stops_answering_pings_is_dropped(serve: Any) -> None:
    hub = create_console_hub(
        config=HubConfig(heartbeat_interval_s=0.05, heartbeat_timeout_s=0.15, close_timeout_s=0.1)
    )
    server = await serve(hub)
    _reader, writer = await frozen_client(server.port)  # pings go unanswered
    loop = asyncio.get_running_loop()
    deadline = loop.time() + DEADLINE
    while hub.clients and loop.time() < deadline:  # polled: the event is a disconnect, not a frame
        await asyncio.sleep(0.01)
    assert hub.clients == {}
    assert (
        hub.metrics.registry.get_sample_value("specwire_disconnects_total", {"reason": "heartbeat"})
        == 1
    )
    assert hub.metrics.registry.get_sample_value("specwire_heartbeats_missed_total") == 1
    writer.close()
    await writer.wait_closed()


async def test_broadcast_to_many_clients(hub: Hub, serve: Any, peers: Connect) -> None:
    url = (await serve(hub)).url
    crowd = [await peers(url) for _ in range(50)]
    for peer in crowd:
        await peer.request(
            {"type": "subscribe", "id": "m", "channels": [{"name": "metrics", "history": 0}]}
        )
    build = snapshot_factory()
    assert hub.publish("metrics", build) == 50
    assert hub.publish("metrics", build) == 50
    for peer in crowd:
        assert [(await peer.recv_type("metrics.snapshot"))["seq"] for _ in range(2)] == [1, 2]
    assert (
        hub.metrics.registry.get_sample_value("specwire_deliveries_total", {"channel": "metrics"})
        == 100
    )


async def test_a_direct_write_the_socket_refuses_or_cuts_short_goes_on_in_order(
    peers: Connect, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The native fast path writes to the socket itself; when the socket takes nothing
    (EAGAIN) or only part of a frame, the transport takes the rest, in order."""
    hub = create_console_hub(config=HubConfig(debug=True))
    server = await start_server(hub, "127.0.0.1", 0)
    try:
        peer = await peers(server.url)
        await peer.request({"type": "subscribe", "id": "t", "channels": [{"name": "topics"}]})
        calls: list[str] = []
        outcomes = itertools.cycle(("refused", "short", "full"))

        def flaky_write(fd: int, data: bytes) -> int:
            calls.append(next(outcomes))
            if calls[-1] == "refused":
                raise BlockingIOError(11, "Resource temporarily unavailable")
            if calls[-1] == "short":
                return os.write(fd, data[:7])  # header and a few bytes of the payload
            return os.write(fd, data)

        monkeypatch.setattr(native, "_os_write", flaky_write)
        names = []
        for n in range(9):
            assert hub.publish("topics", topic_created(f"flaky.{n}")) == 1
            # Once the client has the whole frame, the transport holds nothing, so the
            # next delivery tries the socket first again.
            names.append((await peer.recv_type("topic.created"))["topic"]["name"])
        assert names == [f"flaky.{n}" for n in range(9)]
        assert calls.count("refused") == calls.count("short") == calls.count("full") == 3
    finally:
        await server.shutdown(timeout=DEADLINE)


async def test_shutdown_aborts_a_client_that_never_answers_the_close(
    serve: Any, caplog: pytest.LogCaptureFixture
) -> None:
    # The hub would wait a minute for the client's close frame; shutdown waits 0.2 s.
    hub = create_console_hub(config=HubConfig(close_timeout_s=60.0, heartbeat_interval_s=60.0))
    server = await serve(hub)
    reader, writer = await frozen_client(server.port)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + DEADLINE
    while not hub.clients and loop.time() < deadline:  # polled: registration sends nothing new
        await asyncio.sleep(0.01)
    assert len(hub.clients) == 1
    with caplog.at_level("WARNING", logger="specwire"):
        await asyncio.wait_for(server.shutdown(timeout=0.2), DEADLINE)
    assert "did not close within 0.2 s" in caplog.text
    assert hub.clients == {}
    received = await asyncio.wait_for(reader.read(), DEADLINE)  # to the end: the socket is shut
    assert b"server shutting down" in received  # the close frame went out before the abort
    writer.close()
    await writer.wait_closed()


async def test_another_path_is_refused_with_404(hub: Hub, serve: Any, peers: Connect) -> None:
    url = (await serve(hub)).url
    with pytest.raises(InvalidStatus) as caught:
        await peers(url.removesuffix("/ws") + "/elsewhere")
    assert caught.value.response.status_code == 404


async def read_to_the_end(port: int, sent: bytes) -> bytes:
    """What a raw TCP client that sends ``sent`` and then nothing gets, up to the server's EOF."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(sent)
    try:
        return await asyncio.wait_for(reader.read(), DEADLINE)
    finally:
        writer.close()
        await writer.wait_closed()


async def test_a_handshake_not_complete_in_time_is_dropped(serve: Any, peers: Connect) -> None:
    hub = create_console_hub(config=HubConfig(handshake_timeout_s=0.2))
    server = await serve(hub)
    peer = await peers(server.url)
    assert await read_to_the_end(server.port, b"") == b""  # said nothing: closed
    partial = b"GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
    answer = await read_to_the_end(server.port, partial)
    if isinstance(server, AsgiServer):
        head, _, body = answer.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 408 Request Timeout\r\n")
        assert b"content-type: application/problem+json" in head
        assert json.loads(body) == {
            "type": "about:blank",
            "title": "Request Timeout",
            "status": 408,
            "detail": "The request was not complete within 0.2 s.",
        }
    else:  # websockets' open_timeout closes without an answer
        assert answer == b""
    # The deadline is for handshakes: a connection that made it stays served past it.
    await peer.send({"type": "ping", "id": "after-the-deadline"})
    assert (await peer.recv())["type"] == "pong"
    assert len(hub.clients) == 1
