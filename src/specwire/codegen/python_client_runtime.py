"""The machinery of the generated client: connection, reconnects, requests, heartbeats, resume.

This module is copied verbatim into every generated package as ``_client_runtime.py``;
the package's ``client.py`` subclasses :class:`BaseClient` with one typed method per
request of its document and describes the document in a :class:`Protocol`. It
depends on pydantic, websockets and the standard library only.

One task reads the connection and handles every frame in order, without awaiting:
replies settle their requests, pushed messages go to the handlers registered with
:meth:`BaseClient.on` or else to the iterator, and resume positions are tracked, so
nothing is reordered between the connection and the application.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import json
import logging
import random
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Generator, Mapping
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, ClassVar, Generic, Literal, TypeAlias, TypeVar, cast

from pydantic import BaseModel, TypeAdapter, ValidationError
from pydantic_core import InitErrorDetails, PydanticCustomError, to_json, to_jsonable_python
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidURI

__all__ = [
    "Backoff",
    "BaseClient",
    "ClientClosed",
    "ClientError",
    "ClientEvent",
    "ConnectionLost",
    "Disconnected",
    "Protocol",
    "Reconnected",
    "RequestSpec",
    "RequestTimeout",
    "Resume",
    "Resync",
    "ServerError",
    "SubscriptionFailed",
    "decode_nothing",
]

logger = logging.getLogger(__name__.rpartition(".")[0] + ".client")

M = TypeVar("M")
C = TypeVar("C", bound="BaseClient[Any]")
T = TypeVar("T")

NORMAL_CLOSURE = 1000


# -- configuration ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Backoff:
    """When to reconnect: exponential backoff with full jitter.

    The wait before attempt ``n`` (from 0) is drawn uniformly from
    ``[0, min(max, initial * 2**n))``. The count starts again once a connection has
    been restored and stayed open ``reset_after`` seconds. After ``max_attempts``
    failed attempts in a row (``None``: never) the client gives up with
    :class:`ConnectionLost`.
    """

    initial: float = 0.5
    max: float = 30.0
    max_attempts: int | None = None
    reset_after: float = 5.0

    def __post_init__(self) -> None:
        if self.initial <= 0 or self.max < self.initial:
            raise ValueError("Backoff needs 0 < initial <= max")
        if self.max_attempts is not None and self.max_attempts < 1:
            raise ValueError("Backoff.max_attempts must be at least 1 (or None)")
        if self.reset_after < 0:
            raise ValueError("Backoff.reset_after must not be negative")

    def ceiling(self, attempt: int) -> float:
        """The longest wait before attempt ``attempt``."""
        return min(self.max, self.initial * 2.0 ** min(attempt, 64))

    def delay(self, attempt: int) -> float:
        """A wait before attempt ``attempt`` (full jitter)."""
        return random.uniform(0.0, self.ceiling(attempt))  # noqa: S311 - jitter, not a secret


@dataclass(frozen=True, slots=True)
class Resume:
    """How subscriptions resume: the names of the fields involved (``x-specwire-resume``)."""

    channels: tuple[str, ...]
    """The channels whose messages carry positions and can resume."""
    list: str
    name: str
    since: str
    reply_list: str
    recovered: str
    channel: str
    epoch: str
    seq: str


@dataclass(frozen=True, slots=True)
class RequestSpec:
    """One request: the type of its message, what answers it, and its role."""

    message: Any
    replies: tuple[Any, ...] = ()
    """Types of the replies that answer it (none: nothing is awaited)."""
    errors: tuple[Any, ...] = ()
    """Types of the replies that make it fail with :class:`ServerError`."""
    role: str | None = None
    """``subscribe``, ``unsubscribe``, ``heartbeat``, ``auth`` or ``None``."""


@dataclass(frozen=True, slots=True)
class Protocol:
    """What the runtime needs to know about a document (written by the generator)."""

    decode: Callable[[bytes | str], Any]
    """Decode and validate one server frame (raises ``ValidationError``)."""
    correlation: str | None
    """The payload field a request and its reply share, if any."""
    server_error: type[ServerError]
    requests: Mapping[str, RequestSpec]
    """Method name -> the request it sends."""
    replies: tuple[Any, ...] = ()
    """Types that only ever come as replies: one that matches no request is dropped."""
    resume: Resume | None = None

    def role(self, role: str) -> str | None:
        """The method name of the request with ``role``, if any."""
        return next((m for m, r in self.requests.items() if r.role == role), None)


# -- events and errors -----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Disconnected:
    """The connection was lost; the client is reconnecting."""

    code: int | None
    """The WebSocket close code, or ``None`` when the connection was not closed cleanly."""
    reason: str


@dataclass(frozen=True, slots=True)
class Reconnected:
    """A new connection is open; subscriptions are being restored.

    Any :class:`Resync` or :class:`SubscriptionFailed` for the restored subscriptions
    comes after this event and before the restored channels' messages.
    """

    attempts: int
    """Connection attempts it took."""
    downtime: float
    """Seconds without a connection."""


@dataclass(frozen=True, slots=True)
class Resync:
    """Messages of ``channel`` may have been missed: refetch its state.

    ``reason`` is ``"not_recovered"`` when the server could not replay the history
    after the last message delivered (it is bounded, or the server restarted), and
    ``"epoch_changed"`` when messages of a new epoch arrive (positions of another
    epoch are not comparable). Messages after this event continue from the new
    position.
    """

    channel: str
    reason: Literal["not_recovered", "epoch_changed"]
    epoch: str | None
    """The epoch messages continue in, when known."""
    seq: int | None
    """The position messages continue after, when known."""


@dataclass(frozen=True, slots=True)
class SubscriptionFailed:
    """Restoring subscriptions after a reconnect failed: ``channels`` are not subscribed."""

    channels: tuple[str, ...]
    error: BaseException


ClientEvent: TypeAlias = Disconnected | Reconnected | Resync | SubscriptionFailed
"""What the client itself reports, alongside the server's messages."""


class ClientError(Exception):
    """Base of the client's errors."""


class ServerError(ClientError):
    """The server answered a request with an error message, held in ``error``."""

    error: Any

    def __init__(self, error: Any) -> None:
        self.error = error
        text = getattr(error, "message", None)
        code = getattr(error, "code", None)
        summary = ": ".join(str(part) for part in (code, text) if part is not None)
        super().__init__(summary or repr(error))


class RequestTimeout(ClientError, TimeoutError):
    """No reply came within the request timeout (including any wait for a connection)."""


class ConnectionLost(ClientError, ConnectionError):
    """The connection was lost before the reply came, or the client gave up reconnecting."""


class ClientClosed(ClientError):
    """The client is closed."""


# -- the client ------------------------------------------------------------------------


Token: TypeAlias = str | Callable[[], str | Awaitable[str]] | None
"""A token, or a function giving the current one (called on every connection)."""

Handler: TypeAlias = Callable[[Any], Awaitable[None]]


@dataclass(slots=True, eq=False)
class _Pending:
    future: asyncio.Future[Any]
    method: str
    request: RequestSpec
    wire: dict[str, Any]
    """The request as sent (wire names)."""


@dataclass(slots=True)
class _Ended:
    error: BaseException | None = None


@dataclass(slots=True)
class _State:
    subscriptions: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Channel name -> its subscription entry as last sent (without a position)."""
    template: dict[str, Any] | None = None
    """The last successful subscribe request: the other fields of a resubscription."""
    log: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    """Without resume hints: every successful (un)subscribe request, in order."""
    positions: dict[str, tuple[str, int]] = field(default_factory=dict)
    """Channel name -> (epoch, seq) of the last message delivered."""
    auth: dict[str, Any] | None = None
    """The last successful in-band authentication, sent again on every new connection."""


class BaseClient(Generic[M]):
    """A connection to the server that survives network failures.

    Use the generated subclass: ``async with Client.connect(url) as client: ...``.
    Iterating over the client yields every message the server pushes (and the
    client's own events) that has no handler registered with :meth:`on`.
    """

    _protocol: ClassVar[Protocol]

    def __init__(
        self,
        url: str,
        *,
        token: Token = None,
        headers: Mapping[str, str] | None = None,
        reconnect: Backoff | None = None,
        heartbeat_interval: float = 20.0,
        heartbeat_timeout: float = 10.0,
        request_timeout: float = 10.0,
        open_timeout: float = 10.0,
        on_invalid: Callable[[bytes | str, ValidationError], None] | None = None,
        max_buffered: int = 1000,
        **websocket_options: Any,
    ) -> None:
        if heartbeat_interval <= 0 or heartbeat_timeout <= 0 or request_timeout <= 0:
            raise ValueError("intervals and timeouts must be positive")
        if max_buffered < 1:
            raise ValueError("max_buffered must be at least 1")
        self.url = url
        self.token = token
        self.headers = dict(headers or {})
        self.reconnect = reconnect
        self.heartbeat_interval = heartbeat_interval
        self.heartbeat_timeout = heartbeat_timeout
        self.request_timeout = request_timeout
        self.open_timeout = open_timeout
        self.on_invalid = on_invalid
        self.max_buffered = max_buffered
        """Messages delivered but not yet taken by the application (iteration and handlers)
        at which the client stops reading the connection until half of them are taken."""
        self.websocket_options = websocket_options
        self.invalid_frames = 0
        """Frames that failed validation (each one is logged and never delivered)."""
        self.duplicates = 0
        self._numbers = 0
        """Messages dropped because they were already delivered (replayed after a resume)."""
        self._connection: ClientConnection | None = None
        self._ready = asyncio.Event()
        self._pending: dict[str, _Pending] = {}
        self._uncorrelated: list[_Pending] = []
        self._inbox: asyncio.Queue[Any] = asyncio.Queue()
        self._dispatch: asyncio.Queue[tuple[list[Handler], Any]] = asyncio.Queue()
        self._room = asyncio.Event()
        """Set while the backlog is below ``max_buffered``: the reader waits on it."""
        self._room.set()
        self._handlers: dict[type[Any], list[Handler]] = {}
        self._state = _State()
        self._closed = False
        self._ended: _Ended | None = None
        self._runner: asyncio.Task[None] | None = None
        self._dispatcher: asyncio.Task[None] | None = None

    # -- opening and closing ---------------------------------------------------------

    @classmethod
    def connect(
        cls: type[C],
        url: str,
        *,
        token: Token = None,
        headers: Mapping[str, str] | None = None,
        reconnect: Backoff | None = Backoff(),  # frozen, so shared safely
        heartbeat_interval: float = 20.0,
        heartbeat_timeout: float = 10.0,
        request_timeout: float = 10.0,
        open_timeout: float = 10.0,
        on_invalid: Callable[[bytes | str, ValidationError], None] | None = None,
        max_buffered: int = 1000,
        **websocket_options: Any,
    ) -> Connecting[C]:
        """Connect to ``url``; use as ``async with Client.connect(url) as client`` or await it.

        ``token`` goes in an ``Authorization: Bearer`` header (a function giving a token
        is called on every connection, to refresh it). ``reconnect`` says how to
        reconnect after a connection is lost (``None``: do not). The first connection
        is not retried: its failure is raised. ``heartbeat_interval`` and
        ``heartbeat_timeout`` (seconds) drive the document's heartbeat request if it
        has one, otherwise WebSocket pings. ``request_timeout`` bounds each request,
        including a wait for the connection to come back. ``on_invalid`` is called with
        every frame that fails validation. ``max_buffered`` bounds what is delivered but
        not yet taken by the application: at that many, the client stops reading (the
        server then holds or coalesces, or closes a slow consumer, and the client
        resumes). Other keyword arguments go to
        ``websockets.asyncio.client.connect`` (``ssl``, ``max_size``, ...).
        """
        client = cls(
            url,
            token=token,
            headers=headers,
            reconnect=reconnect,
            heartbeat_interval=heartbeat_interval,
            heartbeat_timeout=heartbeat_timeout,
            request_timeout=request_timeout,
            open_timeout=open_timeout,
            on_invalid=on_invalid,
            max_buffered=max_buffered,
            **websocket_options,
        )
        return Connecting(client)

    async def _start(self) -> None:
        connection = await self._open()
        self._dispatcher = asyncio.create_task(self._dispatch_loop())
        self._runner = asyncio.create_task(self._run(connection))

    async def close(self) -> None:
        """Close the connection (code 1000) and stop; iteration ends after what is buffered."""
        if self._closed:
            return
        self._closed = True
        self._ready.clear()
        connection = self._connection
        if connection is not None:
            with contextlib.suppress(Exception):
                await connection.close()
        runner = self._runner
        if runner is not None and not runner.done():
            runner.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await runner
        self._finish(None)
        dispatcher = self._dispatcher
        if dispatcher is not None and dispatcher is not asyncio.current_task():
            dispatcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await dispatcher

    @property
    def connected(self) -> bool:
        """Whether a connection is open and its subscriptions are restored."""
        return self._ready.is_set()

    @property
    def positions(self) -> Mapping[str, tuple[str, int]]:
        """Channel -> ``(epoch, seq)`` of the last message delivered, for resumable channels."""
        return dict(self._state.positions)

    async def wait_closed(self) -> None:
        """Wait until the client stops (closed, or it gave up reconnecting)."""
        runner = self._runner
        if runner is not None:
            await asyncio.shield(runner)

    # -- delivery ----------------------------------------------------------------------

    def on(
        self, kind: type[T]
    ) -> Callable[[Callable[[T], Awaitable[None]]], Callable[[T], Awaitable[None]]]:
        """Register an ``async`` handler for messages (or client events) of type ``kind``.

        Handlers run one at a time, in arrival order, in a task of their own, so a
        handler may make requests. A message of a type with handlers goes to them and
        is not yielded by iteration. A handler's exception is logged.
        """

        def register(handler: Callable[[T], Awaitable[None]]) -> Callable[[T], Awaitable[None]]:
            self._handlers.setdefault(kind, []).append(cast(Handler, handler))
            return handler

        return register

    def __aiter__(self) -> AsyncIterator[M | ClientEvent]:
        return self

    async def __anext__(self) -> M | ClientEvent:
        item = await self._inbox.get()
        self._taken()
        if isinstance(item, _Ended):
            self._inbox.put_nowait(item)  # every later iteration ends too
            if item.error is not None:
                raise item.error
            raise StopAsyncIteration
        return cast("M | ClientEvent", item)

    def _deliver(self, item: Any) -> None:
        handlers = [h for kind in type(item).__mro__ for h in self._handlers.get(kind, ())]
        if handlers:
            self._dispatch.put_nowait((handlers, item))
        else:
            self._inbox.put_nowait(item)
        if self._backlog() >= self.max_buffered:
            self._room.clear()  # the reader stops until the application catches up

    def _backlog(self) -> int:
        return self._inbox.qsize() + self._dispatch.qsize()

    def _taken(self) -> None:
        if not self._room.is_set() and self._backlog() <= self.max_buffered // 2:
            self._room.set()

    async def _dispatch_loop(self) -> None:
        while not self._closed:
            handlers, item = await self._dispatch.get()
            self._taken()
            try:
                for handler in handlers:
                    try:
                        await handler(item)
                    except Exception:
                        logger.exception("handler %r failed on %r", handler, type(item).__name__)
            finally:
                self._dispatch.task_done()

    # -- requests ----------------------------------------------------------------------

    @staticmethod
    def _new_id() -> str:
        """A fresh correlation id."""
        return uuid.uuid4().hex

    def _new_number(self) -> int:
        """A fresh correlation number (for documents whose correlation ids are integers)."""
        self._numbers += 1
        return self._numbers

    async def _call(self, method: str, message: Any) -> Any:
        """Send the request ``method`` and return its reply (``None`` when none is awaited)."""
        if self._ended is not None or self._closed:
            raise ClientClosed("the client is closed")
        try:
            async with asyncio.timeout(self.request_timeout):
                await self._ready.wait()
                connection = self._connection
                if connection is None or self._ended is not None:
                    raise ClientClosed("the client is closed")
                return await self._exchange(connection, method, message)
        except TimeoutError as exc:
            raise RequestTimeout(f"no reply to {method} within {self.request_timeout} s") from exc

    async def _exchange(self, connection: ClientConnection, method: str, message: Any) -> Any:
        request = self._protocol.requests[method]
        data = to_json(message, by_alias=True)
        wire = to_jsonable_python(message, by_alias=True)
        wire = wire if isinstance(wire, dict) else {}
        if not request.replies and not request.errors:
            await self._send(connection, data)
            self._remember(method, wire, None)
            return None
        pending = _Pending(asyncio.get_running_loop().create_future(), method, request, wire)
        correlation = self._protocol.correlation
        key = wire.get(correlation) if correlation is not None else None
        if isinstance(key, str | int):
            self._pending[str(key)] = pending
        else:
            self._uncorrelated.append(pending)
        try:
            await self._send(connection, data)
            return await pending.future
        finally:
            if isinstance(key, str | int):
                if self._pending.get(str(key)) is pending:
                    del self._pending[str(key)]
            elif pending in self._uncorrelated:
                self._uncorrelated.remove(pending)

    @staticmethod
    async def _send(connection: ClientConnection, data: bytes) -> None:
        try:
            await connection.send(data, text=True)
        except ConnectionClosed as exc:
            raise ConnectionLost("the connection was lost while sending") from exc

    # -- the connection loop -----------------------------------------------------------

    async def _open(self) -> ClientConnection:
        headers = dict(self.headers)
        token = self.token
        if callable(token):
            produced = token()
            token = await produced if inspect.isawaitable(produced) else produced
        if token:
            headers["Authorization"] = f"Bearer {token}"
        options: dict[str, Any] = {"open_timeout": self.open_timeout, **self.websocket_options}
        if self._protocol.role("heartbeat") is not None:
            options.setdefault("ping_interval", None)
        else:
            options.setdefault("ping_interval", self.heartbeat_interval)
            options.setdefault("ping_timeout", self.heartbeat_timeout)
        return await connect(self.url, additional_headers=headers, **options)

    async def _run(self, connection: ClientConnection) -> None:
        loop = asyncio.get_running_loop()
        attempt = 0
        restore = False
        error: BaseException | None = None
        try:
            while True:
                opened = loop.time()
                restored, code, reason = await self._serve(connection, restore=restore)
                self._lost()
                if self._closed or self.reconnect is None or code == NORMAL_CLOSURE:
                    if not self._closed and code != NORMAL_CLOSURE:
                        error = ConnectionLost(f"connection lost ({code}: {reason})")
                    return
                logger.warning("connection lost (close code %s %r); reconnecting", code, reason)
                self._deliver(Disconnected(code, reason))
                if restored and loop.time() - opened >= self.reconnect.reset_after:
                    attempt = 0
                down = loop.time()
                attempts = 0
                while True:
                    limit = self.reconnect.max_attempts
                    if limit is not None and attempts >= limit:
                        error = ConnectionLost(f"gave up reconnecting after {attempts} attempts")
                        return
                    await asyncio.sleep(self.reconnect.delay(attempt))
                    attempt += 1
                    attempts += 1
                    try:
                        connection = await self._open()
                    except (OSError, TimeoutError, InvalidHandshake, InvalidURI) as exc:
                        logger.info("reconnect attempt %d failed: %s", attempts, exc)
                        continue
                    break
                self._deliver(Reconnected(attempts, loop.time() - down))
                restore = True
        except Exception as exc:
            logger.exception("the client stopped")
            error = exc
            raise
        finally:
            self._lost()
            self._finish(error)

    async def _serve(
        self, connection: ClientConnection, *, restore: bool
    ) -> tuple[bool, int | None, str]:
        """Run one connection until it closes: (restored, close code, close reason)."""
        self._connection = connection
        reader = asyncio.create_task(self._read(connection))
        heartbeat: asyncio.Task[None] | None = None
        restored = False
        try:
            if restore:
                restoring = asyncio.create_task(self._restore(connection))
                await asyncio.wait({reader, restoring}, return_when=asyncio.FIRST_COMPLETED)
                if not restoring.done():
                    restoring.cancel()
                with contextlib.suppress(asyncio.CancelledError, ClientError):
                    await restoring
            if not reader.done():
                restored = True
                self._ready.set()
                if self._protocol.role("heartbeat") is not None:
                    heartbeat = asyncio.create_task(self._heartbeat(connection))
            await reader
        finally:
            self._ready.clear()
            for task in (heartbeat, reader):
                if task is not None and not task.done():
                    task.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await task
            if self._closed:
                with contextlib.suppress(Exception):
                    await connection.close()
        close = connection.protocol.close_rcvd
        return restored, close.code if close else None, close.reason if close else ""

    def _lost(self) -> None:
        self._connection = None
        self._ready.clear()
        failure = ConnectionLost("the connection was lost before the reply came")
        for pending in [*self._pending.values(), *self._uncorrelated]:
            if not pending.future.done():
                pending.future.set_exception(failure)
        self._pending.clear()
        self._uncorrelated.clear()

    def _finish(self, error: BaseException | None) -> None:
        if self._ended is None:
            self._ended = _Ended(error)
            self._inbox.put_nowait(self._ended)

    def _heartbeat_message(self) -> Any:
        """A new heartbeat request (the generated client defines it when the document has one)."""
        raise NotImplementedError

    async def _heartbeat(self, connection: ClientConnection) -> None:
        method = self._protocol.role("heartbeat")
        if method is None:
            return
        while True:
            await asyncio.sleep(self.heartbeat_interval)
            if not self._room.is_set():
                continue  # not reading on purpose: a missing reply would prove nothing
            try:
                async with asyncio.timeout(self.heartbeat_timeout):
                    await self._exchange(connection, method, self._heartbeat_message())
            except TimeoutError:
                logger.warning(
                    "no heartbeat reply within %s s: the connection is dead", self.heartbeat_timeout
                )
                connection.transport.abort()
                return
            except ServerError as exc:
                logger.warning("the heartbeat was refused: %s", exc)
            except ClientError:
                return

    async def _restore(self, connection: ClientConnection) -> None:
        """Authenticate again and resubscribe on a new connection (bounded by request_timeout)."""
        try:
            async with asyncio.timeout(self.request_timeout):
                await self._restore_state(connection)
        except TimeoutError:
            logger.warning("no reply while restoring the session: the connection is dead")
            connection.transport.abort()

    async def _restore_state(self, connection: ClientConnection) -> None:
        protocol = self._protocol
        state = self._state
        auth = protocol.role("auth")
        if state.auth is not None and auth is not None:
            try:
                await self._replay(connection, auth, state.auth)
            except ServerError as exc:
                logger.warning("in-band authentication failed after a reconnect: %s", exc)
                state.auth = None
        subscribe = protocol.role("subscribe")
        if subscribe is None:
            return
        resume = protocol.resume
        if resume is None:
            log, state.log = state.log, []
            for method, request in log:
                try:
                    await self._replay(connection, method, request)
                except (ServerError, ValidationError) as exc:
                    logger.warning("repeating %s after a reconnect failed: %s", method, exc)
                    self._deliver(SubscriptionFailed((), exc))
            return
        if not state.subscriptions or state.template is None:
            return
        entries = []
        for name, subscription in state.subscriptions.items():
            entry = subscription
            position = state.positions.get(name)
            if name in resume.channels and position is not None:
                entry = {
                    **entry,
                    resume.since: {resume.epoch: position[0], resume.seq: position[1]},
                }
            entries.append(entry)
        try:
            await self._replay(connection, subscribe, {**state.template, resume.list: entries})
        except (ServerError, ValidationError) as exc:
            channels = tuple(state.subscriptions)
            logger.warning("resubscribing to %s failed: %s", ", ".join(channels), exc)
            state.subscriptions.clear()
            for channel in channels:
                state.positions.pop(channel, None)
            self._deliver(SubscriptionFailed(channels, exc))

    async def _replay(
        self, connection: ClientConnection, method: str, wire: dict[str, Any]
    ) -> None:
        """Send a request made before (as wire data) again, with a fresh correlation id."""
        request = self._protocol.requests[method]
        correlation = self._protocol.correlation
        if correlation is not None and correlation in wire:
            wire = {**wire, correlation: self._new_id()}
        message = _adapter(request.message).validate_json(json.dumps(wire))
        await self._exchange(connection, method, message)

    # -- inbound -----------------------------------------------------------------------

    async def _read(self, connection: ClientConnection) -> None:
        with contextlib.suppress(ConnectionClosed):
            async for frame in connection:
                await self._room.wait()  # bounded: no more than the application takes
                try:
                    self._on_frame(frame)
                except Exception:
                    logger.exception("a frame could not be handled")

    def _on_frame(self, frame: bytes | str) -> None:
        try:
            message = self._protocol.decode(frame)
        except ValidationError as exc:
            self.invalid_frames += 1
            excerpt = frame[:200]
            logger.warning("invalid frame dropped: %r (%d errors)", excerpt, exc.error_count())
            if self.on_invalid is not None:
                try:
                    self.on_invalid(frame, exc)
                except Exception:
                    logger.exception("on_invalid failed")
            return
        pending = self._match(message)
        if pending is not None:
            self._settle(pending, message)
            return
        if any(_matches(message, kind) for kind in self._protocol.replies):
            logger.debug("late or unknown reply dropped: %r", type(message).__name__)
            return
        if self._track(message):
            self._deliver(message)

    def _match(self, message: Any) -> _Pending | None:
        correlation = self._protocol.correlation
        if correlation is not None:
            key = _field(message, correlation)
            pending = self._pending.get(str(key)) if isinstance(key, str | int) else None
            if pending is not None and _answers(message, pending.request):
                return self._pending.pop(str(key))
        for pending in self._uncorrelated:
            if _answers(message, pending.request):
                self._uncorrelated.remove(pending)
                return pending
        return None

    def _settle(self, pending: _Pending, message: Any) -> None:
        if pending.future.done():
            return
        if any(_matches(message, kind) for kind in pending.request.errors):
            pending.future.set_exception(self._protocol.server_error(message))
            return
        self._remember(pending.method, pending.wire, message)
        pending.future.set_result(message)

    def _remember(self, method: str, wire: dict[str, Any], reply: Any) -> None:
        """Keep what a successful request changed: subscriptions, positions, credentials."""
        protocol = self._protocol
        state = self._state
        role = protocol.requests[method].role
        if role == "auth":
            state.auth = wire
            return
        if role not in ("subscribe", "unsubscribe"):
            return
        resume = protocol.resume
        if resume is None:
            state.log.append((method, wire))
            return
        entries = wire.get(resume.list)
        if not isinstance(entries, list):
            return
        if role == "unsubscribe":
            for entry in entries:
                name = entry.get(resume.name) if isinstance(entry, dict) else entry
                if isinstance(name, str):
                    state.subscriptions.pop(name, None)
                    state.positions.pop(name, None)
            return
        state.template = {k: v for k, v in wire.items() if k != resume.list}
        since: dict[str, tuple[str, int] | None] = {}
        for entry in entries:
            if not isinstance(entry, dict) or not isinstance(entry.get(resume.name), str):
                continue
            name = entry[resume.name]
            state.subscriptions[name] = {k: v for k, v in entry.items() if k != resume.since}
            since[name] = _position(entry.get(resume.since), resume)
        self._resumed(reply, since, resume)

    def _resumed(
        self, reply: Any, since: dict[str, tuple[str, int] | None], resume: Resume
    ) -> None:
        """Positions from a subscribe reply: where each resumable channel continues."""
        state = self._state
        for entry in _field(reply, resume.reply_list) or ():
            name = _field(entry, resume.name)
            if name not in resume.channels or name not in since:
                continue
            recovered = _field(entry, resume.recovered)
            current = _entry_position(entry, resume)
            asked = since[name]
            if recovered is True and asked is not None:
                state.positions[name] = asked
            elif recovered is False:
                if current is not None:
                    state.positions[name] = current
                else:
                    state.positions.pop(name, None)
                self._deliver(
                    Resync(
                        name,
                        "not_recovered",
                        current[0] if current else None,
                        current[1] if current else None,
                    )
                )
            elif current is not None:
                state.positions[name] = current

    def _track(self, message: Any) -> bool:
        """Whether to deliver ``message``: drop duplicates, report a new epoch."""
        resume = self._protocol.resume
        if resume is None:
            return True
        channel = _field(message, resume.channel)
        if channel not in resume.channels:
            return True
        epoch = _field(message, resume.epoch)
        seq = _field(message, resume.seq)
        if not isinstance(epoch, str) or not isinstance(seq, int):
            return True
        last = self._state.positions.get(channel)
        if last is not None and last[0] == epoch and seq <= last[1]:
            self.duplicates += 1
            logger.debug("duplicate dropped: %s %s:%d", channel, epoch, seq)
            return False
        if last is not None and last[0] != epoch:
            self._deliver(Resync(channel, "epoch_changed", epoch, seq - 1))
        self._state.positions[channel] = (epoch, seq)
        return True


class Connecting(Generic[C]):
    """``Client.connect(...)``: an async context manager, or awaitable for an open client."""

    def __init__(self, client: C) -> None:
        self.client = client

    async def _open(self) -> C:
        await self.client._start()
        return self.client

    def __await__(self) -> Generator[Any, None, C]:
        return self._open().__await__()

    async def __aenter__(self) -> C:
        return await self._open()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.client.close()


# -- helpers ---------------------------------------------------------------------------

_adapters: dict[int, tuple[Any, TypeAdapter[Any]]] = {}
_aliases: dict[tuple[type[Any], str], str | None] = {}


def _adapter(kind: Any) -> TypeAdapter[Any]:
    held = _adapters.get(id(kind))
    if held is None or held[0] is not kind:
        held = _adapters[id(kind)] = (kind, TypeAdapter(kind))
    return held[1]


def _matches(value: Any, kind: Any) -> bool:
    """Whether a decoded message is of ``kind`` (a model class, or a type alias of models)."""
    if isinstance(kind, type):
        return isinstance(value, kind)
    try:
        _adapter(kind).validate_python(value, strict=True)
    except ValidationError:
        return False
    return True


def _answers(message: Any, request: RequestSpec) -> bool:
    return any(_matches(message, kind) for kind in (*request.replies, *request.errors))


def _field(value: Any, wire: str) -> Any:
    """The value of the field named ``wire`` on the wire (its alias), or ``None``."""
    if isinstance(value, dict):
        return value.get(wire)
    if not isinstance(value, BaseModel):
        return None
    kind = type(value)
    key = (kind, wire)
    if key not in _aliases:
        _aliases[key] = next(
            (name for name, info in kind.model_fields.items() if (info.alias or name) == wire),
            None,
        )
    name = _aliases[key]
    if name is None:
        extra = value.model_extra or {}
        return extra.get(wire)
    return getattr(value, name, None)


def _position(value: Any, resume: Resume) -> tuple[str, int] | None:
    epoch, seq = _field(value, resume.epoch), _field(value, resume.seq)
    if isinstance(epoch, str) and isinstance(seq, int) and not isinstance(seq, bool):
        return epoch, seq
    return None


def _entry_position(entry: Any, resume: Resume) -> tuple[str, int] | None:
    """The position a subscribe reply entry reports: the field holding an epoch and a seq."""
    if not isinstance(entry, BaseModel):
        return None
    for name in type(entry).model_fields:
        position = _position(getattr(entry, name, None), resume)
        if position is not None:
            return position
    return None


def decode_nothing(frame: bytes | str) -> Any:
    """The decoder of a document whose server sends nothing: every frame is invalid."""
    error = PydanticCustomError(
        "unexpected_message", "the document defines no message the server sends"
    )
    raise ValidationError.from_exception_data(
        "ServerMessage", [InitErrorDetails(type=error, loc=(), input=frame)]
    )
