"""The ASGI transport: the hub behind a Starlette or FastAPI WebSocket route.

``websocket_endpoint(hub)`` is a WebSocket endpoint to mount next to an
application's HTTP routes (``WebSocketRoute("/ws", endpoint)``, or FastAPI's
``app.add_api_websocket_route("/ws", endpoint)``); :func:`create_app` wraps it in a
minimal Starlette app and :func:`start_asgi_server` runs that (or any app) on
uvicorn in the current event loop. It behaves as the native transport
(:mod:`specwire.runtime.transports.native`) does.

**The handshake** is where a connection is refused, with a real HTTP status: 403
for an ``Origin`` that is not allowed (or several ``Origin`` headers), 503 at the
connection limit, 401 for an invalid token, or for none when the hub requires one
(with ``WWW-Authenticate: Bearer``, RFC 6750 section 3). They go out through the
ASGI *WebSocket Denial Response* extension (``websocket.http.response``), which
uvicorn's ``websockets-sansio`` and ``websockets`` layers offer. A server without
it gets ``websocket.close`` before ``accept`` instead, with 1008 (403, 401) or 1013
(503); the ASGI specification turns that into HTTP 403. A client that does not send
its whole handshake within ``handshake_timeout_s`` is dropped by the HTTP protocol
:func:`start_asgi_server` gives uvicorn (:mod:`specwire.runtime.transports.deadline`).

**Writing without waiting.** The hub's fast path (``write_frame``) is synchronous:
one publish hands the same frame to every subscriber without yielding, and must
neither block nor reorder. ASGI sends only through ``await send(...)``, so each
connection gets one of two transports:

* :class:`AsgiTransport`, on any ASGI server: a bounded per-connection buffer of
  frames (``high_water``, 32 by default) drained in order by one writer task. It
  is unwritable from ``high_water`` frames up, so the hub's own bounded queue takes
  over, with its snapshot coalescing and its 4000 close on event overflow;
  ``drained()`` returns once the buffer is down to ``low_water`` (8). A frame in
  the buffer counts as delivered (it is in the resume position a 4000 close
  carries), so a close is sent *after* the buffer is flushed, within the hub's
  ``close_timeout_s``. The cost: a task per connection (a few KB), a ``str``
  made per frame and client at send time (an ASGI message carries text), and a
  task switch per frame: BENCHMARKING.md measured a writer task per client at
  0.49 of ``broadcast()``'s fan-out rate. A peer that stops reading is abandoned
  after ``close_timeout_s``: the writer and the endpoint are cancelled and the
  hub forgets the client; the socket itself is the server's to drop (generic
  ASGI has no abort).
* :class:`UvicornTransport`, when the connection is served by
  :func:`uvicorn_ws_protocol` (a subclass of uvicorn's ``websockets-sansio``
  protocol, which :func:`start_asgi_server` uses): it writes the pre-built frame's
  bytes straight to the connection's asyncio transport, as the native transport
  does (frames from a server are unmasked, RFC 6455 section 5.1, so with
  compression off one frame serves every client; BENCHMARKING.md measured 1.30x
  ``broadcast()``). Backpressure is the asyncio transport's own: unwritable while
  it is paused, ``drained()`` waits for it to resume, and a close that has not
  completed within ``close_timeout_s`` aborts the TCP connection.

  This reads uvicorn internals: the protocol's ``conn`` (the ``websockets``
  ``ServerProtocol``, for its state, extensions and close frames), ``transport``,
  ``writable`` (the ``asyncio.Event`` it clears in ``pause_writing``) and
  ``close_sent``, plus ``run_asgi`` and ``connection_lost`` to hook. Each
  connection checks their presence and types when its application starts and
  falls back to :class:`AsgiTransport` if anything differs, so a uvicorn release
  that changes them costs speed, not correctness. Text, closes and the handshake
  still go through ASGI.

**Reading** goes through ``websocket.receive()``; the hub's session enforces
``max_message_bytes`` (close 1009), so the limit holds even when the server's
(uvicorn's ``ws_max_size``) is larger; :func:`start_asgi_server` sets both.

**Heartbeats** are the server's protocol pings: :func:`start_asgi_server` sets
uvicorn's ``ws_ping_interval`` and ``ws_ping_timeout`` from the hub's config.
Disconnects are counted with the native transport's reasons; ``heartbeat`` (a
ping never answered) is told apart only by :class:`UvicornTransport`.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import os
import socket
from collections import deque
from collections.abc import Awaitable, Callable, Generator, Iterable
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import TYPE_CHECKING, Any

from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect
from websockets.protocol import State
from websockets.server import ServerProtocol

from specwire.protocol import CLOSE_MESSAGE_TOO_BIG, CLOSE_POLICY_VIOLATION
from specwire.runtime.auth import InvalidToken, OriginPolicy, Principal, token_from_handshake
from specwire.runtime.hub import (
    CLOSE_GOING_AWAY,
    CLOSE_INTERNAL_ERROR,
    CLOSE_SERVICE_RESTART,
    Client,
    Hub,
    HubConfig,
    PreparedFrame,
    unmasked_text_frame,
)
from specwire.runtime.transports import ws_url
from specwire.runtime.transports.deadline import uvicorn_http_protocol

if TYPE_CHECKING:
    import uvicorn

__all__ = [
    "DIRECT_WRITE_EXTENSION",
    "AsgiServer",
    "AsgiTransport",
    "UvicornTransport",
    "create_app",
    "start_asgi_server",
    "uvicorn_http_protocol",
    "uvicorn_ws_protocol",
    "websocket_endpoint",
    "websocket_not_found",
]

log = logging.getLogger("specwire.transport.asgi")

CLOSE_TRY_AGAIN_LATER = 1013
DENIAL_RESPONSE_EXTENSION = "websocket.http.response"
DIRECT_WRITE_EXTENSION = "specwire.direct_write"
"""The ASGI scope extension through which :func:`uvicorn_ws_protocol` offers direct writes."""

Endpoint = Callable[[WebSocket], Awaitable[None]]

# What a send raises once the peer is gone: uvicorn's ClientDisconnected is an OSError,
# Starlette turns it into WebSocketDisconnect, and both raise RuntimeError (Starlette's
# WebSocketDisconnected among them) for a send after a close.
_GONE = (OSError, RuntimeError, WebSocketDisconnect)


# -- the endpoint -----------------------------------------------------------------------


def websocket_endpoint(hub: Hub, *, origins: Iterable[str] | OriginPolicy = ()) -> Endpoint:
    """A Starlette/FastAPI WebSocket endpoint that serves ``hub``."""
    policy = origins if isinstance(origins, OriginPolicy) else OriginPolicy.from_strings(origins)

    async def hub_websocket(websocket: WebSocket) -> None:
        try:
            principal = await _authorize(hub, policy, websocket)
        except _Refused as refusal:
            await _refuse(websocket, refusal)
            return
        await websocket.accept()
        await _serve(hub, websocket, _transport_for(websocket, hub.config), principal)

    return hub_websocket


async def websocket_not_found(websocket: WebSocket) -> None:
    """Refuse a WebSocket handshake on a path with no endpoint: HTTP 404.

    Starlette answers an unrouted WebSocket with a close before ``accept``, which
    a server turns into 403; mount this last as ``WebSocketRoute("/{path:path}", ...)``
    to say 404 as the native transport does.
    """
    await _refuse(
        websocket,
        _Refused(
            HTTPStatus.NOT_FOUND, "no WebSocket endpoint at this path\n", CLOSE_POLICY_VIOLATION
        ),
    )


class _Refused(Exception):
    def __init__(
        self,
        status: HTTPStatus,
        body: str,
        close_code: int,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(body)
        self.status = status
        self.body = body
        self.close_code = close_code
        """What a server without denial responses gets instead, before ``accept``."""
        self.headers = headers


async def _authorize(hub: Hub, policy: OriginPolicy, websocket: WebSocket) -> Principal | None:
    """The principal of a handshake the hub takes; raises :class:`_Refused` otherwise."""
    origins = websocket.headers.getlist("origin")
    # Browsers send one Origin; several are not a browser's, and which one to check is moot.
    if len(origins) > 1 or not policy.allows(origins[0] if origins else None):
        hub.metrics.connection_refused("origin")
        raise _Refused(HTTPStatus.FORBIDDEN, "origin not allowed\n", CLOSE_POLICY_VIOLATION)
    if not hub.admit():
        hub.metrics.connection_refused("limit")
        raise _Refused(
            HTTPStatus.SERVICE_UNAVAILABLE,
            "too many connections; retry later\n",
            CLOSE_TRY_AGAIN_LATER,
        )
    headers = [
        (name.decode("latin-1"), value.decode("latin-1")) for name, value in websocket.headers.raw
    ]
    query = websocket.scope.get("query_string", b"").decode("latin-1")
    token = token_from_handshake(headers, query)
    if token is not None and hub.verifier is not None:
        try:
            return await hub.verifier.verify(token)
        except InvalidToken as exc:
            hub.metrics.connection_refused("unauthorized")
            raise _Refused(
                HTTPStatus.UNAUTHORIZED,
                f"{exc.reason}\n",
                CLOSE_POLICY_VIOLATION,
                {"WWW-Authenticate": 'Bearer error="invalid_token"'},
            ) from None
    if hub.auth_required:
        hub.metrics.connection_refused("unauthorized")
        raise _Refused(
            HTTPStatus.UNAUTHORIZED,
            "a token is required\n",
            CLOSE_POLICY_VIOLATION,
            {"WWW-Authenticate": "Bearer"},
        )
    return None


async def _refuse(websocket: WebSocket, refusal: _Refused) -> None:
    if DENIAL_RESPONSE_EXTENSION in (websocket.scope.get("extensions") or {}):
        response = PlainTextResponse(refusal.body, refusal.status, refusal.headers)
        await websocket.send_denial_response(response)
    else:
        await websocket.close(refusal.close_code, refusal.body.strip())


async def _serve(
    hub: Hub, websocket: WebSocket, transport: _Transport, principal: Principal | None
) -> None:
    client: Client | None = None
    reason = "client"
    closing: asyncio.Task[None] | None = None
    loop = asyncio.get_running_loop()
    transport.start()
    try:
        client = await hub.connect(transport, principal)
        while True:
            message = await websocket.receive()
            if message["type"] == "websocket.disconnect":
                if reason == "client":
                    reason = transport.peer_reason(message.get("code"))
                break
            if closing is not None:
                continue  # what the peer sent before it saw our close
            text = message.get("text")
            frame: str | bytes = text if text is not None else message.get("bytes") or b""
            close = await hub.receive(client, frame)
            if close is not None:
                reason = "too_big" if close.code == CLOSE_MESSAGE_TOO_BIG else "policy"
                closing = loop.create_task(transport.close(close.code, close.reason))
    except asyncio.CancelledError:
        task = asyncio.current_task()
        # An abandoned peer (it stopped reading) is dropped by cancelling this endpoint.
        if not transport.abandoned or (task is not None and task.uncancel() > 0):
            raise
    except Exception:
        log.exception("closing a connection after an unexpected error")
        reason = "error"
        if closing is None:
            closing = loop.create_task(transport.close(CLOSE_INTERNAL_ERROR, "internal error"))
    finally:
        transport.reading = False
        if closing is not None:
            await closing
        await transport.finish()
        if client is None:  # hub.connect registered the client, then raised
            client = next((c for c in hub.clients.values() if c.transport is transport), None)
        if client is not None:
            hub.disconnect(client, reason)  # a close the hub decided carries its own label


def _transport_for(websocket: WebSocket, config: HubConfig) -> _Transport:
    extension = (websocket.scope.get("extensions") or {}).get(DIRECT_WRITE_EXTENSION)
    link = extension.get("link") if isinstance(extension, dict) else None
    if isinstance(link, _UvicornLink) and link.open():
        return UvicornTransport(websocket, link, close_timeout=config.close_timeout_s)
    return AsgiTransport(websocket, close_timeout=config.close_timeout_s)


# -- transports -------------------------------------------------------------------------


class _Transport:
    """What both transports share with the endpoint that runs them."""

    def __init__(self, websocket: WebSocket, close_timeout: float) -> None:
        self.websocket = websocket
        self.close_timeout = close_timeout
        self.abandoned = False
        """The peer did not take our close in time and was dropped."""
        self.reading = True
        """The endpoint is still reading, so cancelling it ends the connection."""
        self._reader = asyncio.current_task()

    def start(self) -> None:
        """Called by the endpoint once the handshake is accepted."""

    async def finish(self) -> None:
        """Called by the endpoint once the connection is over; leaves no task behind."""

    def peer_reason(self, code: int | None) -> str:
        """The disconnect reason of a connection that ended without our close."""
        return "too_big" if code == CLOSE_MESSAGE_TOO_BIG else "client"

    def write_frame(self, data: bytes, prepared: PreparedFrame) -> bool:
        raise NotImplementedError

    def writable(self) -> bool:
        raise NotImplementedError

    def offer(self, prepared: PreparedFrame) -> bool:
        return self.writable() and self.write_frame(prepared.data, prepared)

    async def drained(self) -> None:
        raise NotImplementedError

    async def close(self, code: int, reason: str) -> None:
        raise NotImplementedError

    async def send(self, data: bytes) -> None:
        """Send one text frame, ordered where it was called, then wait for room.

        Never raises for a connection that is gone: the endpoint sees the disconnect.
        """
        self.write_frame(data, PreparedFrame(data))
        await self.drained()


class AsgiTransport(_Transport):
    """The hub's view of a WebSocket on any ASGI server: a bounded buffer and one writer."""

    def __init__(
        self,
        websocket: WebSocket,
        *,
        close_timeout: float = 5.0,
        high_water: int = 32,
        low_water: int = 8,
    ) -> None:
        if not 0 <= low_water < high_water:
            raise ValueError("need 0 <= low_water < high_water")
        super().__init__(websocket, close_timeout)
        self.high_water = high_water
        self.low_water = low_water
        self._frames: deque[bytes] = deque()
        self._open = True
        self._close_frame: tuple[int, str] | None = None
        self._wakeup = asyncio.Event()
        self._room = asyncio.Event()
        self._room.set()
        self._writer: asyncio.Task[None] | None = None

    @property
    def buffered(self) -> int:
        return len(self._frames)

    def start(self) -> None:
        if self._writer is None:
            self._writer = asyncio.get_running_loop().create_task(self._write())

    def write_frame(self, data: bytes, prepared: PreparedFrame) -> bool:
        if not self._open:
            return False
        self._frames.append(data)
        if len(self._frames) >= self.high_water:
            self._room.clear()
        self._wakeup.set()
        return True

    def writable(self) -> bool:
        return len(self._frames) < self.high_water

    async def drained(self) -> None:
        await self._room.wait()

    async def close(self, code: int, reason: str) -> None:
        """Flush what was accepted, then close; drop the peer if that takes too long."""
        if self._open:
            self._open = False
            self._close_frame = (code, reason)
            self._room.set()  # nothing more is taken: whoever waits for room, stop
            self._wakeup.set()
        writer = self._writer
        if writer is None or writer.done():
            return
        done, _ = await asyncio.wait({writer}, timeout=self.close_timeout)
        if not done:
            log.info("peer did not take its frames and close within %.1f s", self.close_timeout)
            self._abandon()

    async def finish(self) -> None:
        self._open = False
        self._room.set()
        if self._writer is not None and not self._writer.done():
            self._writer.cancel()
            await asyncio.wait({self._writer})

    def _abandon(self) -> None:
        if self.abandoned:
            return
        self.abandoned = True
        self._open = False
        self._frames.clear()
        if self._writer is not None:
            self._writer.cancel()
        reader = self._reader
        if self.reading and reader is not None and reader is not asyncio.current_task():
            reader.cancel()

    async def _write(self) -> None:
        frames = self._frames
        send = self.websocket.send
        try:
            while True:
                if frames:
                    data = frames.popleft()
                    if len(frames) <= self.low_water:
                        self._room.set()
                    await send({"type": "websocket.send", "text": data.decode()})
                elif self._close_frame is not None:
                    code, reason = self._close_frame
                    await send({"type": "websocket.close", "code": code, "reason": reason})
                    return
                else:
                    self._wakeup.clear()
                    await self._wakeup.wait()
        except _GONE:
            log.debug("send failed; the peer is gone", exc_info=True)
        finally:
            self._open = False
            frames.clear()
            self._room.set()


class UvicornTransport(_Transport):
    """The hub's view of a WebSocket served by :func:`uvicorn_ws_protocol`: direct writes."""

    def __init__(self, websocket: WebSocket, link: _UvicornLink, *, close_timeout: float) -> None:
        super().__init__(websocket, close_timeout)
        self.link = link
        self._closing = False
        # With an extension (compression) each connection must encode its own frames.
        self._shared_frames = link.shared_frames()

    def write_frame(self, data: bytes, prepared: PreparedFrame) -> bool:
        if self._closing or not self.link.open():
            return False
        try:
            if self._shared_frames:
                self.link.write(prepared.wire(unmasked_text_frame))
            else:
                self.link.write_text(data)
        except Exception:  # a transport that just broke: the reader sees it and disconnects
            log.debug("write failed", exc_info=True)
            return False
        return True

    def writable(self) -> bool:
        return self.link.writable.is_set()

    async def drained(self) -> None:
        await self.link.writable.wait()

    async def close(self, code: int, reason: str) -> None:
        """Send a close frame and wait for the closing handshake; abort after the timeout."""
        first, self._closing = not self._closing, True
        try:
            async with asyncio.timeout(self.close_timeout):
                if first and self.link.open():
                    await self.websocket.close(code, reason)
                await self.link.lost.wait()
        except TimeoutError:
            log.info("closing handshake not done within %.1f s; aborting", self.close_timeout)
            self.abandoned = True
            self.link.abort()
        except _GONE:
            log.debug("close failed; the peer is gone", exc_info=True)

    async def finish(self) -> None:
        self._closing = True

    def peer_reason(self, code: int | None) -> str:
        sent, received = self.link.close_frames()
        if received is None and sent is not None:
            # uvicorn closed first and heard nothing back (the endpoint's own closes have
            # their reasons already): a ping went unanswered, a frame was too big, or
            # uvicorn shut down without our shutdown first.
            return _UVICORN_CLOSES.get(sent, "client")
        return "client"


# -- uvicorn ----------------------------------------------------------------------------

_UVICORN_CLOSES = {
    CLOSE_INTERNAL_ERROR: "heartbeat",  # "keepalive ping timeout"
    CLOSE_MESSAGE_TOO_BIG: "too_big",  # beyond ws_max_size
    CLOSE_SERVICE_RESTART: "shutdown",
}


class _UvicornLink:
    """Everything this module touches inside a uvicorn ``websockets-sansio`` connection."""

    __slots__ = ("_conn", "_protocol", "_transport", "lost", "writable")

    def __init__(
        self,
        protocol: Any,
        conn: ServerProtocol,
        transport: asyncio.WriteTransport,
        writable: asyncio.Event,
        lost: asyncio.Event,
    ) -> None:
        self._protocol = protocol
        self._conn = conn
        self._transport = transport
        self.writable = writable
        """Set while uvicorn's asyncio transport is below its high-water mark."""
        self.lost = lost
        """Set when the TCP connection is gone."""

    @classmethod
    def attach(cls, protocol: Any, lost: asyncio.Event) -> _UvicornLink | None:
        """A link to ``protocol``, or ``None`` if its internals are not what we expect."""
        conn = getattr(protocol, "conn", None)
        transport = getattr(protocol, "transport", None)
        writable = getattr(protocol, "writable", None)
        if (
            isinstance(conn, ServerProtocol)
            and isinstance(transport, asyncio.WriteTransport)
            and isinstance(writable, asyncio.Event)
            and isinstance(getattr(protocol, "close_sent", None), bool)
        ):
            return cls(protocol, conn, transport, writable, lost)
        _warn_no_direct_writes()
        return None

    def open(self) -> bool:
        return (
            self._conn.state is State.OPEN
            and not self._protocol.close_sent
            and not self._transport.is_closing()
        )

    def shared_frames(self) -> bool:
        return not self._conn.extensions

    def write(self, frame: bytes) -> None:
        self._transport.write(frame)

    def write_text(self, data: bytes) -> None:
        self._conn.send_text(data)
        self._transport.write(b"".join(self._conn.data_to_send()))

    def abort(self) -> None:
        self._transport.abort()

    def close_frames(self) -> tuple[int | None, int | None]:
        """The codes of the close frames sent and received, if any."""
        sent, received = self._conn.close_sent, self._conn.close_rcvd
        return (
            None if sent is None else int(sent.code),
            None if received is None else int(received.code),
        )


@functools.cache
def _warn_no_direct_writes() -> None:
    log.warning("uvicorn's WebSocket protocol is not what this module knows; writes are buffered")


@functools.cache
def uvicorn_ws_protocol() -> type[asyncio.Protocol]:
    """uvicorn's ``websockets-sansio`` protocol, offering direct writes to this module.

    Pass it as ``uvicorn.Config(app, ws=uvicorn_ws_protocol())`` to give a hub
    endpoint in your own application the direct-write transport. Other endpoints
    are unaffected: the offer is one extra key in the ASGI scope's ``extensions``.
    """
    # uvicorn is optional: the endpoint runs on any ASGI server.
    from uvicorn.protocols.websockets.websockets_sansio_impl import (  # noqa: PLC0415
        WebSocketsSansIOProtocol,
    )

    class DirectWriteProtocol(WebSocketsSansIOProtocol):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self.specwire_lost = asyncio.Event()

        def connection_lost(self, exc: Exception | None) -> None:
            try:
                super().connection_lost(exc)
            finally:
                self.specwire_lost.set()

        async def run_asgi(self) -> None:
            extensions = self.scope.get("extensions")
            link = _UvicornLink.attach(self, self.specwire_lost)
            if isinstance(extensions, dict) and link is not None:
                extensions[DIRECT_WRITE_EXTENSION] = {"link": link}
            await super().run_asgi()

    return DirectWriteProtocol


@functools.cache
def _embedded_server_class() -> type[uvicorn.Server]:
    import uvicorn  # noqa: PLC0415

    class EmbeddedServer(uvicorn.Server):
        """uvicorn without its signal handlers: the application that embeds it owns those."""

        @contextlib.contextmanager
        def capture_signals(self) -> Generator[None, None, None]:
            yield

    return EmbeddedServer


def create_app(
    hub: Hub, *, path: str = "/ws", origins: Iterable[str] | OriginPolicy = ()
) -> Starlette:
    """A Starlette app with the hub at ``path``; other WebSocket paths get 404."""
    return Starlette(
        routes=[
            WebSocketRoute(path, websocket_endpoint(hub, origins=origins)),
            WebSocketRoute("/{path:path}", websocket_not_found),
        ]
    )


@dataclass
class AsgiServer:
    """A uvicorn server running in this event loop; ``await shutdown()`` stops it gracefully."""

    hub: Hub
    server: uvicorn.Server
    port: int
    path: str
    host: str = "127.0.0.1"
    _task: asyncio.Task[None] = field(repr=False, kw_only=True)

    @property
    def url(self) -> str:
        return ws_url(self.host, self.port, self.path)

    async def shutdown(
        self,
        code: int = CLOSE_GOING_AWAY,
        reason: str = "server shutting down",
        timeout: float = 5.0,
    ) -> None:
        """Stop accepting, close every client with ``code``, stop uvicorn; safe to repeat.

        Clients get ``timeout`` seconds to close; uvicorn gets what is left of it (at
        least half a second) to stop, and then its connections are aborted.
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        for listener in getattr(self.server, "servers", ()):
            listener.close()
        try:
            await asyncio.wait_for(self.hub.close_all(code, reason), timeout)
        except TimeoutError:
            log.warning("clients did not close within %.1f s; uvicorn drops the rest", timeout)
        self.server.should_exit = True
        # uvicorn notices should_exit within 0.1 s, then waits 0.1 s for its connections.
        grace = max(deadline - loop.time(), 0.5)
        done, _ = await asyncio.wait({self._task}, timeout=grace)
        if not done:
            log.warning("uvicorn did not stop within %.1f s; aborting its connections", timeout)
            await self._force_stop()
        self._task.result()

    async def _force_stop(self) -> None:
        self.server.force_exit = True
        state = self.server.server_state
        for connection in list(state.connections):
            transport = getattr(connection, "transport", None)
            if isinstance(transport, asyncio.Transport):
                transport.abort()
        tasks = set(state.tasks)
        for task in tasks:
            task.cancel()
        await asyncio.wait({self._task, *tasks})


async def start_asgi_server(
    hub: Hub,
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    path: str = "/ws",
    origins: Iterable[str] | OriginPolicy = (),
    compression: bool = False,
    app: Any = None,
    **uvicorn_options: Any,
) -> AsgiServer:
    """Serve ``hub`` at ``ws://host:port/path`` on uvicorn, in this event loop.

    ``app`` serves another ASGI application instead of :func:`create_app`'s, one
    that mounts :func:`websocket_endpoint` itself (``path`` then only names the URL
    and ``origins`` is the endpoint's business). ``uvicorn_options`` go to
    ``uvicorn.Config`` after ours: the hub's limits and heartbeats, compression
    off, no lifespan, logging left to the host application (``log_config=None``),
    and :func:`uvicorn_ws_protocol` (``ws="websockets-sansio"`` gives the buffered
    transport instead). uvicorn does not install signal handlers here.
    """
    import uvicorn  # noqa: PLC0415

    config = hub.config
    options: dict[str, Any] = {
        "http": uvicorn_http_protocol(config.handshake_timeout_s),
        "ws": uvicorn_ws_protocol(),
        "ws_max_size": config.limits.max_message_bytes,
        "ws_ping_interval": config.heartbeat_interval_s,
        "ws_ping_timeout": _ping_timeout(config),
        "ws_per_message_deflate": compression,
        "lifespan": "off",
        "log_level": "warning",
        "log_config": None,
    }
    options.update(uvicorn_options)
    if app is None:
        app = create_app(hub, path=path, origins=origins)
    server = _embedded_server_class()(uvicorn.Config(app, **options))
    # Bound here rather than by uvicorn, so that port 0 works and the port is known.
    family, kind, proto, _, address = socket.getaddrinfo(
        host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
    )[0]
    listener = socket.socket(family, kind, proto)
    try:
        if os.name == "posix":  # as asyncio does: rebinding a port in TIME_WAIT is fine
            listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(address)
    except OSError:
        listener.close()
        raise
    bound = listener.getsockname()
    loop = asyncio.get_running_loop()
    task = loop.create_task(server.serve(sockets=[listener]), name=f"uvicorn {bound[1]}")
    # uvicorn has no event for started: poll it, within a deadline.
    deadline = loop.time() + 5.0
    while not server.started:
        if task.done() or loop.time() > deadline:
            task.cancel()
            await asyncio.wait({task})
            listener.close()
            if not task.cancelled():
                task.result()
            raise RuntimeError("uvicorn did not start")
        await asyncio.sleep(0.005)
    return AsgiServer(hub, server, bound[1], path, str(bound[0]), _task=task)


def _ping_timeout(config: HubConfig) -> float:
    """How long a ping may wait for its pong, so that a peer is dead after heartbeat_timeout_s."""
    if config.heartbeat_timeout_s > config.heartbeat_interval_s:
        return config.heartbeat_timeout_s - config.heartbeat_interval_s
    return config.heartbeat_timeout_s
