"""The generated Python client against the reference hub, over real sockets on loopback.

A small TCP proxy sits between the client and the server so a test can cut the
connection, refuse new ones, or stall one (stop forwarding, TCP left open).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator
from typing import Any, TypeVar

import pytest
from console_live_updates import (
    Backoff,
    ChannelSubscription,
    Client,
    Disconnected,
    Error,
    MetricsSnapshot,
    Pong,
    Reconnected,
    RequestTimeout,
    Resync,
    ServerError,
    Subscribed,
    TopicCreated,
    Welcome,
)
from console_messages import snapshot_factory, topic_created
from peers import DEADLINE
from pydantic import ValidationError
from websockets.asyncio.server import ServerConnection, serve

from specwire.runtime.auth import Principal, StaticTokenVerifier
from specwire.runtime.console import console_channels, create_console_hub
from specwire.runtime.hub import Hub
from specwire.runtime.transports.native import NativeServer, start_server

T = TypeVar("T")

FAST = Backoff(initial=0.02, max=0.1)
"""Reconnect at once on loopback."""


class Proxy:
    """A TCP proxy on 127.0.0.1 that the test can cut, close, or stall."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.accepting = True
        self.links: list[tuple[asyncio.StreamWriter, asyncio.StreamWriter, asyncio.Event]] = []
        self.tasks: set[asyncio.Task[None]] = set()
        self.server: asyncio.Server | None = None

    async def start(self) -> int:
        self.server = await asyncio.start_server(self.accept, "127.0.0.1", 0)
        return int(self.server.sockets[0].getsockname()[1])

    async def accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if not self.accepting:
            writer.transport.abort()
            return
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        except OSError:
            writer.transport.abort()
            return
        flowing = asyncio.Event()
        flowing.set()
        self.links.append((writer, up_writer, flowing))
        for source, sink in ((reader, up_writer), (up_reader, writer)):
            task = asyncio.create_task(self.pump(source, sink, flowing, (writer, up_writer)))
            self.tasks.add(task)
            task.add_done_callback(self.tasks.discard)

    @staticmethod
    async def pump(
        source: asyncio.StreamReader,
        sink: asyncio.StreamWriter,
        flowing: asyncio.Event,
        both: tuple[asyncio.StreamWriter, asyncio.StreamWriter],
    ) -> None:
        try:
            while data := await source.read(65536):
                await flowing.wait()
                sink.write(data)
                await sink.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            for writer in both:
                writer.transport.abort()

    def cut(self, *, refuse: bool = False) -> None:
        """Drop every connection at once (no close frame); with ``refuse``, take no new ones."""
        self.accepting = not refuse
        for client_side, server_side, _ in self.links:
            client_side.transport.abort()
            server_side.transport.abort()
        self.links.clear()

    def stall(self) -> None:
        """Stop forwarding on the open connections; their TCP connections stay open."""
        for _, _, flowing in self.links:
            flowing.clear()

    async def close(self) -> None:
        self.cut()
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()
        for task in list(self.tasks):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


class Setup:
    def __init__(self) -> None:
        self.servers: list[NativeServer] = []
        self.proxies: list[Proxy] = []
        self.clients: list[Client] = []

    async def server(self, history: int = 1000, **options: Any) -> tuple[Hub, NativeServer]:
        hub = create_console_hub(channels=console_channels(history=history), **options)
        server = await start_server(hub, "127.0.0.1", 0)
        self.servers.append(server)
        return hub, server

    async def proxy(self, server: NativeServer) -> tuple[Proxy, str]:
        proxy = Proxy(server.port)
        port = await proxy.start()
        self.proxies.append(proxy)
        return proxy, f"ws://127.0.0.1:{port}/ws"

    async def client(self, url: str, **options: Any) -> Client:
        options.setdefault("reconnect", FAST)
        options.setdefault("request_timeout", DEADLINE)
        client = await Client.connect(url, **options)
        self.clients.append(client)
        return client


@pytest.fixture
async def setup() -> AsyncIterator[Setup]:
    made = Setup()
    yield made
    for client in made.clients:
        await client.close()
    for proxy in made.proxies:
        await proxy.close()
    for server in made.servers:
        await server.shutdown(timeout=DEADLINE)


async def next_item(client: Client, kind: type[T], skipped: list[Any] | None = None) -> T:
    """The next item of type ``kind`` the client yields (others go to ``skipped``)."""
    async with asyncio.timeout(DEADLINE):
        async for item in client:
            if isinstance(item, kind):
                return item
            if skipped is not None:
                skipped.append(item)
    raise AssertionError(f"the client stopped before a {kind.__name__}")


async def topics(client: Client, count: int, seen: list[Any]) -> list[str]:
    """Names of the next ``count`` topic events, in order; everything yielded goes to ``seen``."""
    names: list[str] = []
    async with asyncio.timeout(DEADLINE):
        async for item in client:
            seen.append(item)
            if isinstance(item, TopicCreated):
                names.append(item.topic.name)
                if len(names) == count:
                    return names
    raise AssertionError("the client stopped")


def publish(hub: Hub, names: list[str]) -> None:
    for name in names:
        hub.publish("topics", topic_created(name))


async def test_typed_replies_snapshots_and_events(setup: Setup) -> None:
    hub, server = await setup.server()
    client = await setup.client(server.url)
    welcome = await next_item(client, Welcome)
    assert {c.name for c in welcome.channels} == {"metrics", "topics", "groups", "cluster"}

    reply = await client.subscribe(
        channels=[ChannelSubscription(name="metrics"), ChannelSubscription(name="topics")]
    )
    assert isinstance(reply, Subscribed)
    assert [c.name for c in reply.channels] == ["metrics", "topics"]
    hub.publish("metrics", snapshot_factory())
    hub.publish("topics", topic_created("orders"))
    snapshot = await next_item(client, MetricsSnapshot)
    assert snapshot.channel == "metrics"
    event = await next_item(client, TopicCreated)
    assert (event.topic.name, event.seq) == ("orders", 1)
    assert client.positions["topics"] == (hub.epoch, 1)

    pong = await client.ping(timestamp_ms=42)
    assert isinstance(pong, Pong)
    assert pong.client_timestamp_ms == 42


async def test_handlers_receive_their_types(setup: Setup) -> None:
    hub, server = await setup.server()
    client = await setup.client(server.url)
    received: list[str] = []
    done = asyncio.Event()

    @client.on(TopicCreated)
    async def handle(event: TopicCreated) -> None:
        received.append(event.topic.name)
        if len(received) == 2:
            done.set()

    await client.subscribe(channels=[ChannelSubscription(name="topics")])
    publish(hub, ["a", "b"])
    async with asyncio.timeout(DEADLINE):
        await done.wait()
    assert received == ["a", "b"]


async def test_error_replies_raise_with_the_typed_error(setup: Setup) -> None:
    verifier = StaticTokenVerifier({"reader": Principal("ann", frozenset({"topics:read"}))})
    _, server = await setup.server(verifier=verifier)
    client = await setup.client(server.url, token="reader")  # noqa: S106 - a test token
    await client.subscribe(channels=[ChannelSubscription(name="topics")])
    with pytest.raises(ServerError) as raised:
        await client.subscribe(channels=[ChannelSubscription(name="groups")])
    assert isinstance(raised.value.error, Error)
    assert raised.value.error.code == "forbidden"
    with pytest.raises(ServerError) as raised:
        await client.auth(token="not-a-token")  # noqa: S106 - a test token
    assert raised.value.error.code == "unauthorized"
    with pytest.raises(ValidationError):  # refused before it is sent: not a channel
        await client.subscribe(channels=[ChannelSubscription.model_validate({"name": "nope"})])
    # The connection is still usable, and the failed subscription is not remembered.
    assert isinstance(await client.ping(), Pong)


async def test_cut_connection_resumes_every_missed_event_once_in_order(setup: Setup) -> None:
    hub, server = await setup.server()
    proxy, url = await setup.proxy(server)
    client = await setup.client(url)
    await client.subscribe(channels=[ChannelSubscription(name="topics")])
    seen: list[Any] = []
    publish(hub, ["t1", "t2", "t3"])
    assert await topics(client, 3, seen) == ["t1", "t2", "t3"]

    publish(hub, ["t4", "t5"])  # may or may not reach the client before the cut
    proxy.cut(refuse=True)
    await next_item(client, Disconnected, seen)
    publish(hub, ["t6", "t7", "t8"])  # published while the client is away
    proxy.accepting = True
    names = await topics(client, 5, seen)
    publish(hub, ["t9"])  # live again
    names += await topics(client, 1, seen)
    assert names == ["t4", "t5", "t6", "t7", "t8", "t9"]
    assert any(isinstance(item, Reconnected) for item in seen)
    assert not any(isinstance(item, Resync) for item in seen)
    assert client.positions["topics"] == (hub.epoch, 9)


async def test_beyond_history_reports_resync(setup: Setup) -> None:
    hub, server = await setup.server(history=3)
    proxy, url = await setup.proxy(server)
    client = await setup.client(url)
    await client.subscribe(channels=[ChannelSubscription(name="topics")])
    publish(hub, ["t1"])
    assert await topics(client, 1, []) == ["t1"]
    proxy.cut(refuse=True)
    await next_item(client, Disconnected)
    publish(hub, [f"missed{i}" for i in range(10)])  # more than the history holds
    proxy.accepting = True
    resync = await next_item(client, Resync)
    assert (resync.channel, resync.reason) == ("topics", "not_recovered")
    assert (resync.epoch, resync.seq) == (hub.epoch, 11)
    publish(hub, ["after"])
    assert await topics(client, 1, []) == ["after"]


async def test_server_restart_is_a_new_epoch(setup: Setup) -> None:
    first, server = await setup.server()
    proxy, url = await setup.proxy(server)
    client = await setup.client(url)
    await client.subscribe(channels=[ChannelSubscription(name="topics")])
    publish(first, ["before"])
    assert await topics(client, 1, []) == ["before"]
    proxy.accepting = False
    await server.shutdown(timeout=DEADLINE)  # 1001 going away: the client reconnects
    disconnected = await next_item(client, Disconnected)
    assert disconnected.code == 1001
    second, restarted = await setup.server()
    proxy.target_port = restarted.port
    proxy.accepting = True
    resync = await next_item(client, Resync)
    assert resync.channel == "topics"
    assert resync.epoch == second.epoch != first.epoch
    publish(second, ["after"])
    assert await topics(client, 1, []) == ["after"]
    assert client.positions["topics"] == (second.epoch, 1)


async def test_stalled_connection_is_detected_by_the_heartbeat(setup: Setup) -> None:
    hub, server = await setup.server()
    proxy, url = await setup.proxy(server)
    client = await setup.client(url, heartbeat_interval=0.1, heartbeat_timeout=0.3)
    await client.subscribe(channels=[ChannelSubscription(name="topics")])
    loop = asyncio.get_running_loop()
    proxy.stall()
    stalled = loop.time()
    await next_item(client, Disconnected)
    assert loop.time() - stalled < 0.1 + 0.3 + 0.5
    await next_item(client, Reconnected)
    publish(hub, ["after"])
    assert await topics(client, 1, []) == ["after"]


async def test_requests_wait_for_the_connection_to_come_back(setup: Setup) -> None:
    _, server = await setup.server()
    proxy, url = await setup.proxy(server)
    client = await setup.client(url, request_timeout=0.3)
    proxy.cut(refuse=True)
    await next_item(client, Disconnected)
    with pytest.raises(RequestTimeout):
        await client.ping()
    client.request_timeout = DEADLINE
    waiting = asyncio.create_task(client.ping())
    proxy.accepting = True
    assert isinstance(await waiting, Pong)


async def test_invalid_frames_are_reported_and_never_delivered(
    setup: Setup, caplog: pytest.LogCaptureFixture
) -> None:
    async def handler(connection: ServerConnection) -> None:
        await connection.send('{"type": "topic.created", "channel": "topics"}')
        error = {"type": "error", "code": "rate_limited", "message": "slow down"}
        await connection.send(json.dumps(error))
        await connection.wait_closed()

    invalid: list[tuple[bytes | str, ValidationError]] = []
    async with serve(handler, "127.0.0.1", 0) as raw:
        port = raw.sockets[0].getsockname()[1]
        with caplog.at_level(logging.WARNING):
            client = await setup.client(
                f"ws://127.0.0.1:{port}", on_invalid=lambda f, e: invalid.append((f, e))
            )
            error = await next_item(client, Error)
        await client.close()
    assert error.code == "rate_limited"
    assert client.invalid_frames == 1
    assert len(invalid) == 1
    assert "topic.created" in str(invalid[0][0])
    assert "invalid frame" in caplog.text


async def test_close_ends_iteration_and_refuses_requests(setup: Setup) -> None:
    _, server = await setup.server()
    client = await setup.client(server.url)
    await next_item(client, Welcome)
    await client.close()
    assert [item async for item in client] == []
    with pytest.raises(Exception, match="closed"):
        await client.ping()


def test_backoff_uses_full_jitter() -> None:
    backoff = Backoff(initial=0.5, max=4.0)
    assert [backoff.ceiling(n) for n in range(6)] == [0.5, 1.0, 2.0, 4.0, 4.0, 4.0]
    assert all(0 <= backoff.delay(n) <= backoff.ceiling(n) for n in range(50))
    assert backoff.ceiling(10_000) == 4.0
    with pytest.raises(ValueError, match="initial"):
        Backoff(initial=0)


async def test_against_the_console_server_through_a_cut(
    setup: Setup, console: Any, http: Any
) -> None:
    # The whole reference server (`specwire serve`): topics made through its REST API,
    # the connection cut while they keep coming.
    server = await console(traffic=True)
    proxy = Proxy(server.http.port)
    port = await proxy.start()
    setup.proxies.append(proxy)
    client = await setup.client(f"ws://127.0.0.1:{port}/ws")
    await client.subscribe(
        channels=[ChannelSubscription(name="metrics"), ChannelSubscription(name="topics")]
    )
    snapshot = await next_item(client, MetricsSnapshot)
    assert snapshot.cluster.brokers_expected == 3
    assert {t.name for t in snapshot.topics} >= {"orders", "payments"}
    api = http(server)
    seen: list[Any] = []

    async def create(name: str) -> None:
        reply = await api.post("/api/topics", json={"name": name, "partitions": 1})
        assert reply.status_code == 201, reply.text

    await create("sdk.a")
    assert await sdk_topics(client, 1, seen) == ["sdk.a"]
    proxy.cut(refuse=True)
    await next_item(client, Disconnected, seen)
    for name in ("sdk.b", "sdk.c", "sdk.d"):  # while the client is away
        await create(name)
    proxy.accepting = True
    await create("sdk.e")
    assert await sdk_topics(client, 4, seen) == ["sdk.b", "sdk.c", "sdk.d", "sdk.e"]
    assert not any(isinstance(item, Resync) for item in seen)


async def sdk_topics(client: Client, count: int, seen: list[Any]) -> list[str]:
    """The next ``count`` topics created by this test (the traffic's own churn is skipped)."""
    names: list[str] = []
    async with asyncio.timeout(DEADLINE):
        async for item in client:
            seen.append(item)
            if isinstance(item, TopicCreated) and item.topic.name.startswith("sdk."):
                names.append(item.topic.name)
                if len(names) == count:
                    return names
    raise AssertionError("the client stopped")


async def test_a_client_that_falls_behind_buffers_a_bounded_backlog(setup: Setup) -> None:
    # The application stops taking messages: the client stops reading at max_buffered,
    # and once the application catches up every event still arrives once, in order.
    hub, server = await setup.server()
    client = await setup.client(server.url, max_buffered=10)
    await client.subscribe(channels=[ChannelSubscription(name="topics")])
    publish(hub, [f"b{n}" for n in range(200)])
    loop = asyncio.get_running_loop()
    deadline = loop.time() + DEADLINE
    while client._room.is_set():  # until the reader holds back (an event, polled)
        assert loop.time() < deadline, "the backlog was never full"
        await asyncio.sleep(0.01)
    assert client._backlog() <= 11
    seen: list[Any] = []
    assert await topics(client, 200, seen) == [f"b{n}" for n in range(200)]
