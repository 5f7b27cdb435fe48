"""The two ASGI transports: the buffer any ASGI server gets, direct writes on uvicorn.

The hub's tests run on the direct transport (conftest's ``asgi``); here the buffered
one gets the behaviour that depends on how frames are written: order, bounds,
coalescing, overflow and resume, shutdown, and a peer that stops reading.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from types import SimpleNamespace
from typing import Any, cast

import pytest
from console_messages import snapshot_factory, topic_created
from peers import DEADLINE, Connect, Peer
from starlette.types import Message
from starlette.websockets import WebSocket
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed
from websockets.frames import Frame, Opcode

from specwire.runtime.console import console_channels, create_console_hub
from specwire.runtime.hub import Hub, HubConfig, PreparedFrame
from specwire.runtime.transports.asgi import (
    AsgiServer,
    AsgiTransport,
    UvicornTransport,
    _UvicornLink,
    _warn_no_direct_writes,
    start_asgi_server,
)

Start = Callable[..., Awaitable[AsgiServer]]
BUFFERED: dict[str, Any] = {"ws": "websockets-sansio"}  # plain uvicorn: no direct writes on offer
WAYS = pytest.mark.parametrize("way", [{}, BUFFERED], ids=["direct", "buffered"])


@pytest.fixture
async def asgi() -> AsyncIterator[Start]:
    servers: list[AsgiServer] = []

    async def start(hub: Hub, **options: Any) -> AsgiServer:
        server = await start_asgi_server(hub, **options)
        servers.append(server)
        return server

    yield start
    for server in reversed(servers):
        await server.shutdown(timeout=DEADLINE)


async def last_seq_before_close(peer: Peer, wanted: str) -> int:
    seq = 0
    try:
        while True:
            seq = (await peer.recv_type(wanted))["seq"]
    except ConnectionClosed:
        return seq


def sample(hub: Hub, name: str, labels: dict[str, str] | None = None) -> float | None:
    return hub.metrics.registry.get_sample_value(name, labels or {})


async def until(condition: Callable[[], bool]) -> None:
    """Poll, within the deadline, for what has no event to wait on (a disconnect)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + DEADLINE
    while not condition() and loop.time() < deadline:
        await asyncio.sleep(0.01)
    assert condition()


async def stalled_peer(port: int, hub: Hub) -> asyncio.StreamWriter:
    """A raw client subscribed to ``topics`` that then reads nothing (its buffer is 1 KB)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port, limit=1024)
    key = base64.b64encode(os.urandom(16)).decode()
    writer.write(
        f"GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n".encode()
    )
    assert (await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), DEADLINE)).startswith(
        b"HTTP/1.1 101"
    )
    subscribe = {"type": "subscribe", "id": "t", "channels": [{"name": "topics"}]}
    writer.write(Frame(Opcode.TEXT, json.dumps(subscribe).encode()).serialize(mask=True))
    await until(lambda: any(c.subscriptions for c in hub.clients.values()))
    return writer


# -- the buffer, in memory --------------------------------------------------------------


class FakeWebSocket:
    """Records ASGI messages; ``gate`` holds every send until it is set."""

    def __init__(self) -> None:
        self.sent: list[Message] = []
        self.gate = asyncio.Event()
        self.gate.set()
        self.changed = asyncio.Condition()

    async def send(self, message: Message) -> None:
        await self.gate.wait()
        self.sent.append(message)
        async with self.changed:
            self.changed.notify_all()

    async def until_sent(self, count: int) -> None:
        async with self.changed:
            await asyncio.wait_for(self.changed.wait_for(lambda: len(self.sent) >= count), DEADLINE)

    @property
    def texts(self) -> list[str]:
        return [m["text"] for m in self.sent if m["type"] == "websocket.send"]


def buffered(fake: FakeWebSocket, **options: Any) -> AsgiTransport:
    transport = AsgiTransport(cast(WebSocket, fake), **options)
    transport.start()
    return transport


def frame(n: int) -> tuple[bytes, PreparedFrame]:
    data = json.dumps({"n": n}).encode()
    return data, PreparedFrame(data)


async def settle() -> None:
    """Let every runnable task run; nothing here waits on time."""
    for _ in range(20):
        await asyncio.sleep(0)


async def test_the_buffer_is_unwritable_at_high_water_until_it_drains_to_low_water() -> None:
    fake = FakeWebSocket()
    fake.gate.clear()
    transport = buffered(fake, high_water=4, low_water=1)
    for n in range(4):
        assert transport.writable()
        assert transport.write_frame(*frame(n))
    assert not transport.writable()
    drained = asyncio.create_task(transport.drained())
    await settle()
    assert not drained.done()  # one frame is in flight, three wait: above low water
    fake.gate.set()
    await asyncio.wait_for(drained, DEADLINE)
    await fake.until_sent(4)
    assert transport.writable()
    assert fake.texts == [json.dumps({"n": n}) for n in range(4)]
    await transport.close(1000, "done")
    assert fake.sent[-1] == {"type": "websocket.close", "code": 1000, "reason": "done"}


async def test_frames_and_sends_keep_their_order_and_a_close_comes_after_them() -> None:
    fake = FakeWebSocket()
    transport = buffered(fake, high_water=8, low_water=2)
    expected = []
    for n in range(100):
        if n % 10 == 0:
            await transport.send(frame(n)[0])  # a reply: waits for room after queueing
        else:
            while not transport.writable():
                await transport.drained()
            assert transport.write_frame(*frame(n))
        expected.append(json.dumps({"n": n}))
    await transport.close(4000, "bye")
    assert fake.texts == expected
    assert fake.sent[-1]["type"] == "websocket.close"
    assert not transport.write_frame(*frame(100))  # nothing after the close
    await transport.finish()


async def test_a_close_that_cannot_be_sent_abandons_the_peer_and_its_endpoint() -> None:
    fake = FakeWebSocket()
    fake.gate.clear()  # a peer that stopped reading
    made: asyncio.Future[AsgiTransport] = asyncio.get_running_loop().create_future()

    async def endpoint() -> None:
        made.set_result(buffered(fake, close_timeout=0.05))
        await asyncio.Event().wait()  # reading, forever

    reader = asyncio.create_task(endpoint())
    transport = await made
    assert transport.write_frame(*frame(1))
    await transport.close(1001, "going away")
    assert transport.abandoned
    await asyncio.wait({reader}, timeout=DEADLINE)
    assert reader.cancelled()
    await transport.finish()
    assert fake.sent == []


# -- the buffer, over real sockets ------------------------------------------------------


async def test_buffered_events_arrive_in_order_past_the_buffer(asgi: Start, peers: Connect) -> None:
    hub = create_console_hub(config=HubConfig(debug=True))
    peer = await peers((await asgi(hub, **BUFFERED)).url)
    await peer.request({"type": "subscribe", "id": "t", "channels": [{"name": "topics"}]})
    (client,) = hub.clients.values()
    assert isinstance(client.transport, AsgiTransport)
    for n in range(200):  # without yielding: 32 in the buffer, the rest in the hub's queue
        hub.publish("topics", topic_created(f"t.{n}"))
    assert client.transport.buffered == 32
    assert len(client.queue) == 200 - 32
    got = [await peer.recv_type("topic.created") for _ in range(200)]
    assert [e["seq"] for e in got] == list(range(1, 201))
    assert (await peer.request({"type": "ping", "id": "p"}))["type"] == "pong"


async def test_buffered_slow_client_gets_the_latest_snapshot(asgi: Start, peers: Connect) -> None:
    hub = create_console_hub(config=HubConfig(debug=True, send_queue_size=8))
    peer = await peers((await asgi(hub, **BUFFERED)).url)
    await peer.request(
        {"type": "subscribe", "id": "m", "channels": [{"name": "metrics", "history": 0}]}
    )
    (client,) = hub.clients.values()
    build = snapshot_factory()
    for _ in range(500):
        hub.publish("metrics", build)
    assert [p.channel for p in client.queue] == ["metrics"]
    assert sample(
        hub, "specwire_snapshots_coalesced_total", {"channel": "metrics"}
    ) == pytest.approx(500 - 32 - 1)
    seqs: list[int] = []
    while not seqs or seqs[-1] != 500:
        seqs.append((await peer.recv_type("metrics.snapshot"))["seq"])
    assert seqs == [*range(1, 33), 500]


async def test_buffered_overflow_closes_with_4000_after_what_was_accepted(
    asgi: Start, peers: Connect
) -> None:
    channels = console_channels(history=10_000)
    hub = create_console_hub(config=HubConfig(debug=True, send_queue_size=8), channels=channels)
    url = (await asgi(hub, **BUFFERED)).url
    slow = await peers(url)
    await slow.request({"type": "subscribe", "id": "t", "channels": [{"name": "topics"}]})
    (client,) = hub.clients.values()
    published = 0
    while not client.closing:
        published += 1
        hub.publish("topics", topic_created(f"t.{published}"))
    seen = await last_seq_before_close(slow, "topic.created")
    assert slow.connection.close_code == 4000
    # Every frame the buffer took was flushed before the close: the resume point is exact.
    assert slow.connection.close_reason == f"slow consumer; resume topics={hub.epoch}:{seen}"
    assert seen == 32
    again = await peers(url)
    reply = await again.request(
        {
            "type": "subscribe",
            "id": "r",
            "channels": [{"name": "topics", "since": {"epoch": hub.epoch, "seq": seen}}],
        }
    )
    assert reply["channels"][0]["replayed"] == published - seen
    await until(lambda: len(hub.clients) == 1)
    assert sample(hub, "specwire_disconnects_total", {"reason": "slow_consumer"}) == 1


async def test_buffered_shutdown_closes_with_1001_and_leaves_no_task(
    asgi: Start, peers: Connect
) -> None:
    before = {t for t in asyncio.all_tasks() if not t.done()}
    hub = create_console_hub(config=HubConfig(debug=True))
    server = await asgi(hub, **BUFFERED)
    peer = await peers(server.url)
    await peer.request({"type": "subscribe", "id": "t", "channels": [{"name": "topics"}]})
    for n in range(20):
        hub.publish("topics", topic_created(f"t.{n}"))
    await server.shutdown()
    assert [(await peer.recv_type("topic.created"))["seq"] for _ in range(20)] == list(range(1, 21))
    await peer.connection.wait_closed()
    assert peer.connection.close_code == 1001
    assert hub.clients == {}
    assert sample(hub, "specwire_disconnects_total", {"reason": "shutdown"}) == 1
    left = {t for t in asyncio.all_tasks() if not t.done()} - before - {asyncio.current_task()}
    assert left == set()


# -- both ways ------------------------------------------------------------------------


@WAYS
async def test_the_session_enforces_the_size_limit_when_the_server_allows_more(
    asgi: Start, peers: Connect, way: dict[str, Any]
) -> None:
    hub = create_console_hub()
    server = await asgi(hub, ws_max_size=16 * 1024 * 1024, **way)
    peer = await peers(server.url)
    await peer.send('{"type":"ping","id":"' + "x" * 600_000 + '"}')
    await peer.connection.wait_closed()
    assert peer.connection.close_code == 1009
    await until(lambda: not hub.clients)
    assert sample(hub, "specwire_disconnects_total", {"reason": "too_big"}) == 1


@WAYS
async def test_a_peer_that_stops_reading_is_dropped_after_the_close_timeout(
    asgi: Start, way: dict[str, Any]
) -> None:
    channels = console_channels(history=10_000)
    config = HubConfig(debug=True, send_queue_size=8, close_timeout_s=0.2)
    hub = create_console_hub(config=config, channels=channels)
    server = await asgi(hub, **way)
    writer = await stalled_peer(server.port, hub)
    (client,) = hub.clients.values()
    expected = UvicornTransport if not way else AsgiTransport
    assert isinstance(client.transport, expected)
    bulky = {f"x.{n}": "v" * 1000 for n in range(40)}
    published = 0
    while not client.closing and published < 10_000:  # from here on this client reads nothing
        published += 1
        hub.publish("topics", topic_created(f"t.{published}", bulky))
        await asyncio.sleep(0)  # let the buffered writer fill the socket too
    assert client.closing
    await until(lambda: not hub.clients)
    assert isinstance(client.transport, UvicornTransport | AsgiTransport)
    assert client.transport.abandoned
    assert sample(hub, "specwire_disconnects_total", {"reason": "slow_consumer"}) == 1
    writer.close()
    await writer.wait_closed()


def test_the_water_marks_must_make_sense() -> None:
    with pytest.raises(ValueError, match="low_water"):
        AsgiTransport(cast(WebSocket, FakeWebSocket()), high_water=4, low_water=4)


async def test_direct_writes_with_compression_encode_per_connection(asgi: Start) -> None:
    hub = create_console_hub(config=HubConfig(debug=True))
    server = await asgi(hub, compression=True)
    async with connect(server.url, open_timeout=DEADLINE) as connection:  # offers deflate
        assert [e.name for e in connection.protocol.extensions] == ["permessage-deflate"]
        peer = Peer(connection)
        assert (await peer.recv())["type"] == "welcome"
        await peer.request({"type": "subscribe", "id": "t", "channels": [{"name": "topics"}]})
        (client,) = hub.clients.values()
        assert isinstance(client.transport, UvicornTransport)
        for n in range(50):
            hub.publish("topics", topic_created(f"t.{n}"))
        got = [await peer.recv_type("topic.created") for _ in range(50)]
        assert [e["seq"] for e in got] == list(range(1, 51))


def test_changed_uvicorn_internals_mean_buffered_writes(caplog: pytest.LogCaptureFixture) -> None:
    _warn_no_direct_writes.cache_clear()
    renamed = SimpleNamespace(conn=None, transport=None, writable=None, close_sent=False)
    assert _UvicornLink.attach(renamed, asyncio.Event()) is None
    assert "writes are buffered" in caplog.text


@WAYS
async def test_an_unexpected_error_closes_with_1011(
    asgi: Start, peers: Connect, way: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    hub = create_console_hub()

    async def broken(client: Any, frame: str | bytes) -> None:
        raise RuntimeError("a bug below the handlers")

    peer = await peers((await asgi(hub, **way)).url)
    monkeypatch.setattr(hub, "receive", broken)
    await peer.send({"type": "ping", "id": "p"})
    await peer.connection.wait_closed()
    assert peer.connection.close_code == 1011
    await until(lambda: not hub.clients)
    assert sample(hub, "specwire_disconnects_total", {"reason": "error"}) == 1


@WAYS
async def test_shutdown_ends_even_with_a_peer_that_stopped_reading(way: dict[str, Any]) -> None:
    before = {t for t in asyncio.all_tasks() if not t.done()}
    channels = console_channels(history=10_000)
    hub = create_console_hub(
        config=HubConfig(debug=True, send_queue_size=10_000), channels=channels
    )
    server = await start_asgi_server(hub, **way)
    writer = await stalled_peer(server.port, hub)
    (client,) = hub.clients.values()
    bulky = {f"x.{n}": "v" * 1000 for n in range(40)}
    loop = asyncio.get_running_loop()
    deadline = loop.time() + DEADLINE
    while not client.queue and loop.time() < deadline:  # until even the socket is full
        hub.publish("topics", topic_created("t", bulky))
        await asyncio.sleep(0)
    assert client.queue
    started = loop.time()
    await server.shutdown(timeout=0.2)
    assert loop.time() - started < DEADLINE
    assert hub.clients == {}
    left = {t for t in asyncio.all_tasks() if not t.done()} - before - {asyncio.current_task()}
    assert left == set()
    writer.close()
    await writer.wait_closed()
