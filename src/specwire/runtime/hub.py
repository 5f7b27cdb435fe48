"""The hub: clients, channels, subscriptions and fan-out, on one event loop.

Everything here runs on a single asyncio event loop, so no locks are needed: a
publish runs to completion (validate and encode once, then hand the same frame to
every subscriber) without yielding. Only a client whose transport is behind gets
a queue and a drain task; the queue is bounded, snapshot channels coalesce in it,
and an event channel that overflows it closes the client with 4000 so that it
resumes from its last ``seq``.

The hub knows channels, positions and frames; what a ``subscribe`` frame looks
like is the business of the handlers the application registers (the console
protocol's are in :mod:`specwire.runtime.console`).
"""

from __future__ import annotations

import asyncio
import fnmatch
import functools
import logging
import math
import re
import secrets
import time
from collections import deque
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Protocol

from pydantic import BaseModel
from websockets.frames import Frame, Opcode

from specwire.protocol import (
    CLOSE_POLICY_VIOLATION,
    Close,
    Limits,
    MessageReceived,
    OutboundInvalid,
    Problem,
    ProtocolBinding,
    Rejected,
    Session,
    check_outbound,
    decode_outbound,
    encode_outbound,
)
from specwire.runtime.auth import Principal, TokenVerifier
from specwire.runtime.history import EventHistory, SnapshotHistory
from specwire.runtime.metrics import HubMetrics

__all__ = [
    "CLOSE_GOING_AWAY",
    "CLOSE_SERVICE_RESTART",
    "CLOSE_SLOW_CONSUMER",
    "ChannelKind",
    "ChannelSpec",
    "Client",
    "ClientTransport",
    "Handler",
    "Hub",
    "HubConfig",
    "Position",
    "PreparedFrame",
    "Subscription",
    "Welcome",
    "glob_match",
    "glob_matcher",
    "unmasked_text_frame",
]

log = logging.getLogger("specwire.hub")

CLOSE_NORMAL = 1000
CLOSE_GOING_AWAY = 1001
CLOSE_INTERNAL_ERROR = 1011
CLOSE_SERVICE_RESTART = 1012
CLOSE_TRY_AGAIN_LATER = 1013
CLOSE_SLOW_CONSUMER = 4000
"""An event channel overflowed the client's send queue; the reason carries where to resume."""

MAX_CLOSE_REASON = 123  # RFC 6455 section 5.5: a control frame's payload is at most 125 bytes


class ChannelKind(Enum):
    SNAPSHOT = "snapshot"
    """Each message is the whole state: a slow client gets the latest, never a backlog."""
    EVENTS = "events"
    """Each message is a change: numbered without gaps, kept in history, never dropped silently."""


@dataclass(frozen=True)
class Position:
    epoch: str
    seq: int


Refine = Callable[[BaseModel, Any], BaseModel | None]
"""Tailor a message to a subscriber's filter: a narrower message, or ``None`` to skip it."""


@dataclass(frozen=True)
class ChannelSpec:
    name: str
    kind: ChannelKind
    scope: str | None = None
    """The scope a principal needs to subscribe; ``None`` lets everyone in."""
    history: int = 1000
    """Event channels: messages kept for resuming. Snapshot channels: snapshots kept for history."""
    history_age_ms: int = 300_000
    refine: Refine | None = None


class ClientTransport(Protocol):
    """What the hub needs from one connection, whatever carries it."""

    def write_frame(self, data: bytes, prepared: PreparedFrame) -> bool:
        """Write a text frame now, without waiting; ``False`` if the connection cannot take it."""

    def writable(self) -> bool:
        """Whether the transport's buffer is below its high-water mark."""

    def offer(self, prepared: PreparedFrame) -> bool:
        """The fan-out fast path: write now if open and writable, else ``False`` (nothing sent).

        Must behave as ``writable() and write_frame(prepared.data, prepared)``.
        """

    async def drained(self) -> None:
        """Wait until the transport's buffer is below its low-water mark."""

    async def send(self, data: bytes) -> None:
        """Send one text frame, waiting for room (replies, errors, the welcome)."""

    async def close(self, code: int, reason: str) -> None: ...


def unmasked_text_frame(data: bytes) -> bytes:
    """A complete server-to-client text frame (FIN, not masked, no extension).

    Frames from server to client are not masked, so with no extension negotiated one
    frame's bytes serve every connection.
    """
    return Frame(Opcode.TEXT, data).serialize(mask=False)


class PreparedFrame:
    """One encoded message, and the wire frame built from it at most once per publish."""

    __slots__ = ("data", "frame")

    def __init__(self, data: bytes, frame: bytes | None = None) -> None:
        self.data = data
        self.frame = frame

    def wire(self, build: Callable[[bytes], bytes]) -> bytes:
        if self.frame is None:
            self.frame = build(self.data)
        return self.frame


@dataclass(slots=True)
class Subscription:
    client: Client
    channel: str
    filter: Any = None
    delivered: int = 0
    """The last ``seq`` handed to the transport on this channel (resume point on overflow)."""


@dataclass
class _Pending:
    channel: str
    frame: PreparedFrame
    seq: int


@dataclass(slots=True, eq=False)
class Client:
    """One connected client: its session, its transport, its subscriptions and backlog."""

    session: Session
    transport: ClientTransport
    principal: Principal | None = None
    subscriptions: dict[str, Subscription] = field(default_factory=dict)
    queue: deque[_Pending] | None = None
    """Only a client that fell behind has a queue (an empty deque costs 760 bytes)."""
    snapshot_slots: dict[str, _Pending] = field(default_factory=dict)
    drain_task: asyncio.Task[None] | None = None
    closing: bool = False
    tokens: float = 0.0
    """Inbound rate limit: a token bucket, filled at ``max_messages_per_s`` up to a burst."""
    refilled_at: float = 0.0
    expiry: asyncio.TimerHandle | None = None
    """Fires when the principal's token expires (reset by an in-band refresh)."""
    close_reason: str | None = None
    """Why the hub closed this client (a metrics label), when the hub did."""

    @property
    def id(self) -> str:
        return self.session.session_id


@dataclass(frozen=True)
class HubConfig:
    max_connections: int = 10_000
    max_subscriptions: int = 16
    send_queue_size: int = 256
    limits: Limits = field(default_factory=Limits)
    heartbeat_interval_s: float = 54.0
    heartbeat_timeout_s: float = 60.0
    close_timeout_s: float = 5.0
    """How long to wait for a peer's closing handshake before dropping the TCP connection."""
    handshake_timeout_s: float = 10.0
    """How long a new connection has to send its whole opening handshake (with the
    ASGI transport, any HTTP request, from the connection or the previous response)."""
    max_messages_per_s: float = 20.0
    """Inbound rate limit per connection (token bucket, burst = twice the rate)."""
    debug: bool = False
    """Raise on an invalid outbound message instead of logging and counting it."""


Handler = Callable[["Hub", Client, BaseModel], Awaitable[BaseModel | None]]
Welcome = Callable[["Hub", Client], BaseModel]


class Hub:
    """Serves one generated protocol to many clients."""

    def __init__(
        self,
        binding: ProtocolBinding,
        channels: Iterable[ChannelSpec],
        *,
        welcome: Welcome,
        config: HubConfig | None = None,
        metrics: HubMetrics | None = None,
        verifier: TokenVerifier | None = None,
        auth_required: bool = False,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.binding = binding
        self.verifier = verifier
        """Checks tokens at the handshake (and in-band, through the application's handler)."""
        self.auth_required = auth_required
        """Refuse a handshake without a valid token (HTTP 401)."""
        self.config = config or HubConfig()
        self.metrics = metrics or HubMetrics()
        self.clock = clock
        self.welcome_for = welcome
        self.error_tag = binding.tag_of(binding.error(Problem("internal", "-")))
        """The ``type`` of the protocol's error message (a ``frames_out_total`` label)."""
        self.epoch = secrets.token_hex(8)
        self.channels: dict[str, ChannelSpec] = {c.name: c for c in channels}
        self.events: dict[str, EventHistory] = {}
        self.snapshots: dict[str, SnapshotHistory] = {}
        for spec in self.channels.values():
            if spec.kind is ChannelKind.EVENTS:
                self.events[spec.name] = EventHistory(
                    self.epoch, max_messages=spec.history, max_age_ms=spec.history_age_ms
                )
            else:
                self.snapshots[spec.name] = SnapshotHistory(max(1, spec.history))
        self.clients: dict[str, Client] = {}
        self.subscribers: dict[str, dict[str, Subscription]] = {name: {} for name in self.channels}
        self.handlers: dict[str, Handler] = {}
        # Close tasks stay referenced until done: asyncio keeps only weak references to tasks.
        self._closing: set[asyncio.Task[None]] = set()

    # -- application API --------------------------------------------------------------

    def on(self, tag: str) -> Callable[[Handler], Handler]:
        """Register the handler for a client message type (its tag)."""

        def register(handler: Handler) -> Handler:
            self.handlers[tag] = handler
            return handler

        return register

    def now_ms(self) -> int:
        return int(self.clock() * 1000)

    def position(self, channel: str) -> Position:
        """The position the next message published on an event channel will carry."""
        history = self.events[channel]
        return Position(history.epoch, history.next_seq())

    def current(self, channel: str) -> Position:
        """The position of the last message published on a channel."""
        history = self.events[channel] if channel in self.events else self.snapshots[channel]
        return Position(self.epoch, history.last_seq)

    def publish(
        self,
        channel: str,
        message: BaseModel | bytes | Callable[[Position], BaseModel | bytes],
    ) -> int:
        """Validate and encode a message once, then deliver it to every subscriber.

        For an event channel pass a factory that builds the message for the
        :class:`Position` it will carry (its ``epoch`` and ``seq``). A message may
        also come already encoded, as the JSON ``bytes`` of one server message: the
        hub then validates those bytes against the spec (once) and sends them as
        they are. Returns the number of clients it reached. An invalid message
        never reaches a socket: it raises :class:`OutboundInvalid` in debug mode,
        and is logged and counted otherwise (returning 0).
        """
        started = time.perf_counter()
        spec = self.channels[channel]
        history: EventHistory | SnapshotHistory = (
            self.events[channel] if spec.kind is ChannelKind.EVENTS else self.snapshots[channel]
        )
        if callable(message) and not isinstance(message, BaseModel):
            message = message(Position(self.epoch, history.next_seq()))
        events = spec.kind is ChannelKind.EVENTS
        model: BaseModel | None
        try:
            if not isinstance(message, bytes):
                data, model = encode_outbound(self.binding, message), message
                tag = self.binding.tag_of(message)
            elif events:
                data, model = message, decode_outbound(self.binding, message)
                tag = self.binding.tag_of(model)
            else:
                # A snapshot that comes encoded is checked without building its models
                # (two thirds of the cost of decoding it); its history keeps the frame only, and
                # a model is made below only if a subscription's filter needs one.
                data, model = message, None
                tag = check_outbound(self.binding, message)
        except OutboundInvalid as exc:
            self.metrics.validation_failed("out", "outbound_invalid")
            if self.config.debug:
                raise
            log.error("dropped an invalid %s on channel %s: %s", exc.message_type, channel, exc)
            return 0
        entry = history.append(data, model, self.now_ms(), tag)
        frame = PreparedFrame(data, unmasked_text_frame(data))
        refined: dict[Any, PreparedFrame | None] = {}
        delivered = 0
        seq = entry.seq
        refine = spec.refine
        # The hot loop: one pass over the channel's subscriptions, touching each client once.
        # Nothing in it awaits, so no subscription can come or go while it runs.
        for subscription in self.subscribers[channel].values():
            client = subscription.client
            if client.closing:
                continue
            out = frame
            if refine is not None and subscription.filter is not None:
                key = _filter_key(subscription.filter)
                if key not in refined:
                    if model is None:
                        model = self.binding.validate_outbound(data)
                    refined[key] = self._refine(refine, model, subscription.filter)
                narrowed = refined[key]
                if narrowed is None:
                    continue
                out = narrowed
            if client.queue is None and client.transport.offer(out):
                if events:
                    subscription.delivered = seq
                delivered += 1
                continue
            if self._deliver(client, channel, spec.kind, out, seq):
                delivered += 1
        self.metrics.frame_out(tag, delivered)
        self.metrics.published(channel, delivered, time.perf_counter() - started)
        return delivered

    def _refine(self, refine: Refine, message: BaseModel, filter_: Any) -> PreparedFrame | None:
        narrowed = refine(message, filter_)
        if narrowed is None:
            return None
        return PreparedFrame(encode_outbound(self.binding, narrowed))

    # -- delivery ---------------------------------------------------------------------

    def _deliver(
        self, client: Client, channel: str, kind: ChannelKind, frame: PreparedFrame, seq: int
    ) -> bool:
        if not client.queue and client.transport.writable():
            if client.transport.write_frame(frame.data, frame):
                subscription = client.subscriptions.get(channel)
                if subscription is not None:
                    subscription.delivered = seq
                return True
            return False
        if client.closing:
            return False
        if kind is ChannelKind.SNAPSHOT and channel in client.snapshot_slots:
            slot = client.snapshot_slots[channel]
            slot.frame, slot.seq = frame, seq
            self.metrics.coalesced(channel)
            return True
        if client.queue is not None and len(client.queue) >= self.config.send_queue_size:
            if kind is ChannelKind.SNAPSHOT:
                self.metrics.coalesced(
                    channel
                )  # dropped in favour of what is queued: it is stale soon
                return False
            self.metrics.dropped(channel)
            self._close_soon(
                client, CLOSE_SLOW_CONSUMER, self._resume_reason(client), "slow_consumer"
            )
            return False
        pending = _Pending(channel, frame, seq)
        if client.queue is None:
            client.queue = deque()
        client.queue.append(pending)
        if kind is ChannelKind.SNAPSHOT:
            client.snapshot_slots[channel] = pending
        self.metrics.enqueued(len(client.queue))
        if client.drain_task is None:
            client.drain_task = asyncio.get_running_loop().create_task(self._drain(client))
        return True

    async def _drain(self, client: Client) -> None:
        try:
            while client.queue and not client.closing:
                await client.transport.drained()
                while client.queue and client.transport.writable() and not client.closing:
                    pending = client.queue.popleft()  # a deque: non-empty here
                    if client.snapshot_slots.get(pending.channel) is pending:
                        del client.snapshot_slots[pending.channel]
                    if not client.transport.write_frame(pending.frame.data, pending.frame):
                        client.queue = None
                        client.snapshot_slots.clear()
                        return
                    subscription = client.subscriptions.get(pending.channel)
                    if subscription is not None:
                        subscription.delivered = pending.seq
            if not client.queue:
                client.queue = None  # caught up: back on the fast path
        finally:
            client.drain_task = None

    def _resume_reason(self, client: Client) -> str:
        reason = "slow consumer; resume"
        for name, subscription in client.subscriptions.items():
            if self.channels[name].kind is ChannelKind.EVENTS:
                part = f" {name}={self.epoch}:{subscription.delivered}"
                if len(reason.encode()) + len(part.encode()) > MAX_CLOSE_REASON:
                    break
                reason += part
        return reason

    def post(
        self,
        client: Client,
        message: BaseModel | bytes,
        channel: str = "",
        seq: int = 0,
        *,
        tag: str | None = None,
    ) -> bool:
        """Send to one client in order with everything else it is sent, without waiting.

        Replies, errors and replayed history go through here, so that a reply is
        never overtaken by a live message published while it was being written.
        An already encoded ``message`` is counted in ``frames_out_total`` under
        ``tag`` (its ``type``), when given.
        """
        if isinstance(message, bytes):
            data = message
        else:
            data = client.session.reply(message)
            tag = self.binding.tag_of(message)
        if tag is not None:
            self.metrics.frame_out(tag)
        kind = self.channels[channel].kind if channel else ChannelKind.EVENTS
        return self._deliver(client, channel, kind, PreparedFrame(data), seq)

    # -- connection lifecycle ---------------------------------------------------------

    def admit(self) -> bool:
        """Whether one more connection fits under the limit."""
        return len(self.clients) < self.config.max_connections

    async def connect(
        self, transport: ClientTransport, principal: Principal | None = None
    ) -> Client:
        """Register a connection and send its ``welcome``."""
        if len(self.clients) >= self.config.max_connections:
            # Handshakes that all passed admit() at once: the limit is enforced here too.
            await transport.close(CLOSE_TRY_AGAIN_LATER, "too many connections; retry later")
            raise ConnectionRefusedError("connection limit reached")
        session = Session(self.binding, secrets.token_hex(8), self.config.limits)
        client = Client(session, transport)
        client.tokens, client.refilled_at = self._burst, time.monotonic()
        self.clients[client.id] = client
        self.metrics.connection_opened()
        try:
            self.set_principal(client, principal, authenticate=False)
            welcome = self.welcome_for(self, client)
            frame = session.welcome(welcome, authenticated=principal is not None)
            await transport.send(frame)
            self.metrics.frame_out(self.binding.tag_of(welcome))
        except BaseException:
            self.disconnect(client, "error")
            raise
        subject = principal.subject if principal is not None else None
        log.info("connected", extra={"session_id": client.id, "subject": subject})
        return client

    def set_principal(
        self, client: Client, principal: Principal | None, *, authenticate: bool = True
    ) -> None:
        """Attach verified credentials (at the handshake or in-band) and watch their expiry."""
        client.principal = principal
        if client.expiry is not None:
            client.expiry.cancel()
            client.expiry = None
        if principal is not None and principal.expires_at_ms is not None:
            delay = max(0.0, principal.expires_at_ms / 1000 - self.clock())
            client.expiry = asyncio.get_running_loop().call_later(delay, self._expire, client)
        if authenticate and principal is not None:
            client.session.authenticate()

    def _expire(self, client: Client) -> None:
        """The token ran out without a refresh: say so (spec ``error``), then close with 1008."""
        client.expiry = None
        if client.closing or client.id not in self.clients:
            return
        self.post(
            client,
            client.session.error(Problem("unauthorized", "token expired")),
            tag=self.error_tag,
        )
        self._close_soon(client, CLOSE_POLICY_VIOLATION, "token expired", "token_expired")

    async def receive(self, client: Client, frame: str | bytes) -> Close | None:
        """Handle one frame from a client; the :class:`Close` to apply, if any."""
        if client.closing:
            return None
        if self.config.max_messages_per_s > 0 and not self._take_token(client):
            if client.tokens <= -self._burst:
                return client.session.close(CLOSE_POLICY_VIOLATION, "inbound rate limit exceeded")
            retry_ms = math.ceil((1 - client.tokens) / self.config.max_messages_per_s * 1000)
            problem = Problem(
                "rate_limited",
                f"more than {self.config.max_messages_per_s:g} messages/s",
                client.session.request_id_of(frame),
                retry_after_ms=retry_ms,
            )
            self.metrics.validation_failed("in", "rate_limited")
            self.post(client, client.session.error(problem), tag=self.error_tag)
            return None
        result = client.session.receive(frame)
        if isinstance(result, Close):
            self.metrics.frame_in("invalid")
            return result
        if isinstance(result, Rejected):
            self.metrics.frame_in("invalid")
            self.metrics.validation_failed("in", result.problem.code)
            self.post(client, result.frame, tag=self.error_tag)
            return result.close
        return await self._dispatch(client, result)

    async def _dispatch(self, client: Client, received: MessageReceived) -> Close | None:
        self.metrics.frame_in(received.tag)
        handler = self.handlers.get(received.tag)
        if handler is None:
            log.warning("no handler for %r; frame ignored", received.tag)
            return None
        try:
            reply = await handler(self, client, received.message)
        except Exception:
            # Our fault, not the peer's: say so, keep the connection, keep serving others.
            log.exception("handler for %r failed (session %s)", received.tag, client.id)
            request_id = getattr(received.message, self.binding.request_id or "", None)
            problem = Problem(
                "internal",
                "the server failed to handle this message",
                request_id if isinstance(request_id, str) else None,
            )
            self.post(client, client.session.error(problem), tag=self.error_tag)
            return None
        if reply is not None and not client.closing:
            self.post(client, reply)
        return None

    @property
    def _burst(self) -> float:
        return 2 * self.config.max_messages_per_s

    def _take_token(self, client: Client) -> bool:
        now = time.monotonic()
        rate = self.config.max_messages_per_s
        client.tokens = min(self._burst, client.tokens + (now - client.refilled_at) * rate)
        client.refilled_at = now
        client.tokens -= 1
        return client.tokens >= 0

    def subscribe(self, client: Client, channel: str, filter_: Any = None) -> Subscription:
        subscription = Subscription(client, channel, filter_, self.current(channel).seq)
        client.subscriptions[channel] = subscription
        self.subscribers[channel][client.id] = subscription
        return subscription

    def unsubscribe(self, client: Client, channel: str) -> None:
        client.subscriptions.pop(channel, None)
        self.subscribers.get(channel, {}).pop(client.id, None)
        pending = client.snapshot_slots.pop(channel, None)
        if pending is not None and client.queue is not None:
            client.queue.remove(pending)

    def disconnect(self, client: Client, reason: str) -> None:
        """Forget a client whose connection ended; safe to call more than once."""
        if self.clients.pop(client.id, None) is None:
            return
        for channel in list(client.subscriptions):
            self.subscribers[channel].pop(client.id, None)
        client.closing = True
        client.queue = None
        client.snapshot_slots.clear()
        if client.drain_task is not None:
            client.drain_task.cancel()
        if client.expiry is not None:
            client.expiry.cancel()
            client.expiry = None
        self.metrics.connection_closed(client.close_reason or reason)
        if (client.close_reason or reason) == "heartbeat":
            self.metrics.heartbeat_missed()
        log.info(
            "disconnected", extra={"session_id": client.id, "reason": client.close_reason or reason}
        )

    def _close_soon(self, client: Client, code: int, reason: str, label: str) -> None:
        if client.closing:
            return
        client.closing = True
        client.close_reason = label
        task = asyncio.get_running_loop().create_task(client.transport.close(code, reason))
        self._closing.add(task)
        task.add_done_callback(self._closing.discard)

    async def close_all(
        self, code: int = CLOSE_GOING_AWAY, reason: str = "server shutting down"
    ) -> None:
        """Close every client with ``code``; used by graceful shutdown."""
        clients = list(self.clients.values())
        for client in clients:
            client.close_reason = client.close_reason or "shutdown"
            client.closing = True
        await asyncio.gather(
            *(c.transport.close(code, reason) for c in clients), return_exceptions=True
        )
        if self._closing:
            await asyncio.gather(*self._closing, return_exceptions=True)


def _filter_key(filter_: Any) -> Any:
    if isinstance(filter_, BaseModel):
        return filter_.model_dump_json()
    return repr(filter_)


def glob_match(name: str, patterns: Iterable[str] | None) -> bool:
    """Whether ``name`` matches any glob (``*``, ``?``); no patterns match everything."""
    if patterns is None:
        return True
    return glob_matcher(tuple(patterns))(name)


@functools.lru_cache(maxsize=1024)
def glob_matcher(patterns: tuple[str, ...]) -> Callable[[str], bool]:
    """A test for "matches any of ``patterns``" (case-sensitive), compiled once.

    One regular expression for all the patterns, where ``fnmatchcase`` would run one
    per pattern and name: narrowing a 1,000-topic snapshot for a filter of 64 + 64
    patterns took 18 ms that way, 0.3 ms this way (``bench/filters.py``). The hub
    narrows once per distinct filter and publish, so that is per tick and filter.
    """
    if not patterns:
        return lambda name: False
    match = re.compile("|".join(fnmatch.translate(p) for p in patterns)).match
    return lambda name: match(name) is not None
