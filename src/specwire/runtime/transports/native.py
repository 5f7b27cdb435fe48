"""The native transport: a ``websockets.asyncio.server`` in front of a hub.

The handshake is where a connection is refused, with an HTTP status a browser's
developer tools show plainly: 403 for an ``Origin`` that is not allowed, 401 for a
missing or invalid token when the hub requires one, 503 at the connection limit.
Then the hub sends ``welcome`` and every frame goes through it.

Fan-out writes one pre-built frame to each connection's transport: frames from a
server are not masked (RFC 6455 section 5.1), so with compression off the same
bytes serve every client. ``websockets.broadcast()`` rebuilds the frame for each.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any
from urllib.parse import urlsplit
from weakref import WeakKeyDictionary

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response
from websockets.protocol import State

from specwire.runtime.auth import InvalidToken, OriginPolicy, Principal, token_from_handshake
from specwire.runtime.hub import CLOSE_GOING_AWAY, Hub, PreparedFrame, unmasked_text_frame
from specwire.runtime.transports import ws_url

__all__ = ["NativeServer", "WebsocketsTransport", "start_server", "unmasked_text_frame"]

log = logging.getLogger("specwire.transport.native")


_OPEN = State.OPEN
_os_write = os.write


def _direct_fd(transport: asyncio.BaseTransport) -> int:
    """The socket a plain (not TLS) stream transport writes to, or -1."""
    sock = transport.get_extra_info("socket")
    if (
        os.name != "posix"
        or sock is None
        or transport.get_extra_info("sslcontext") is not None
        or not isinstance(transport, asyncio.WriteTransport)
    ):
        return -1
    return int(sock.fileno())


class WebsocketsTransport:
    """The hub's view of one ``websockets`` connection."""

    __slots__ = (
        "_buffered",
        "_closing",
        "_fd",
        "_protocol",
        "_write",
        "connection",
        "shared_frames",
    )

    def __init__(self, connection: ServerConnection) -> None:
        self.connection = connection
        # With an extension (compression) each connection must encode its own frames.
        self.shared_frames = not connection.protocol.extensions
        # Looked up once: offer runs once per subscriber per publish.
        self._protocol = connection.protocol
        self._write = connection.transport.write
        self._buffered = connection.transport.get_write_buffer_size
        self._closing = connection.transport.is_closing
        self._fd = _direct_fd(connection.transport) if self.shared_frames else -1

    def write_frame(self, data: bytes, prepared: PreparedFrame) -> bool:
        # The hub never sends fragmented messages, so only the state needs checking.
        if self._protocol.state is not State.OPEN:
            return False
        try:
            if self.shared_frames:
                self._write(prepared.wire(unmasked_text_frame))
            else:
                self._protocol.send_text(data)
                self.connection.send_data()
        except Exception:  # a transport that just broke: the reader sees it and disconnects
            log.debug("write failed", exc_info=True)
            return False
        return True

    def offer(self, prepared: PreparedFrame) -> bool:
        # The hub's fast path, once per subscriber per publish. While the asyncio
        # transport has nothing buffered, its write() would call send() on the socket at
        # once; doing that here saves a third of the Python work per delivery. Order is
        # kept: bytes go straight out only when none are waiting, and whatever the socket
        # does not take goes through the transport. The transport keeps its socket (and
        # so this descriptor) open until it is closing.
        if self._protocol.state is not _OPEN:
            return False
        wire = prepared.frame
        if self._fd >= 0 and wire is not None and not self._buffered() and not self._closing():
            try:
                sent = _os_write(self._fd, wire)
            except OSError:  # full (EAGAIN) or broken: the transport takes it from here
                sent = 0
            if sent == len(wire):
                return True
            return self._write_rest(wire[sent:])
        if self.connection.paused:
            return False
        return self.write_frame(prepared.data, prepared)

    def _write_rest(self, rest: bytes) -> bool:
        try:
            self._write(rest)  # the socket's error, if any, closes the connection there
        except Exception:
            log.debug("write failed", exc_info=True)
            return False
        return True

    def writable(self) -> bool:
        return not self.connection.paused

    async def drained(self) -> None:
        await self.connection.drain()

    async def send(self, data: bytes) -> None:
        await self.connection.send(data, text=True)

    async def close(self, code: int, reason: str) -> None:
        await self.connection.close(code, reason)


def _unauthorized(connection: ServerConnection, reason: str) -> Response:
    """401 with the challenge RFC 6750 section 3 asks for."""
    response = connection.respond(HTTPStatus.UNAUTHORIZED, f"{reason}\n")
    response.headers["WWW-Authenticate"] = 'Bearer realm="specwire"'
    return response


@dataclass
class NativeServer:
    """A running server; ``await shutdown()`` stops it gracefully."""

    hub: Hub
    server: Server
    path: str
    live: set[ServerConnection] = field(default_factory=set)
    """This server's connections that reached the hub, until their handler ends."""

    @property
    def port(self) -> int:
        socket = next(iter(self.server.sockets))
        port: int = socket.getsockname()[1]
        return port

    @property
    def url(self) -> str:
        return ws_url(next(iter(self.server.sockets)).getsockname()[0], self.port, self.path)

    async def shutdown(
        self,
        code: int = CLOSE_GOING_AWAY,
        reason: str = "server shutting down",
        timeout: float = 5.0,
    ) -> None:
        """Stop accepting, close every client with ``code``, wait for every handler to end.

        Clients get ``timeout`` seconds to finish the closing handshake; the TCP
        connections of those that have not are then aborted, so that shutdown never
        waits on a client that stopped reading.
        """
        self.server.close(close_connections=False)
        try:
            await asyncio.wait_for(self.hub.close_all(code, reason), timeout)
        except TimeoutError:
            log.warning("clients did not close within %.1f s; aborting them", timeout)
            for connection in list(self.live):
                connection.transport.abort()
        self.server.close(close_connections=True)
        await self.server.wait_closed()


async def start_server(
    hub: Hub,
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    path: str = "/ws",
    origins: Iterable[str] | OriginPolicy = (),
    compression: bool = False,
    **options: Any,
) -> NativeServer:
    """Serve ``hub`` on ``ws://host:port/path`` until shut down."""
    policy = origins if isinstance(origins, OriginPolicy) else OriginPolicy.from_strings(origins)
    principals: WeakKeyDictionary[ServerConnection, Principal | None] = WeakKeyDictionary()
    live: set[ServerConnection] = set()

    async def process_request(connection: ServerConnection, request: Request) -> Response | None:
        target = urlsplit(request.path)
        if target.path != path:
            return connection.respond(HTTPStatus.NOT_FOUND, "no WebSocket endpoint here\n")
        if not policy.allows(request.headers.get("Origin")):
            hub.metrics.connection_refused("origin")
            return connection.respond(HTTPStatus.FORBIDDEN, "origin not allowed\n")
        if not hub.admit():
            hub.metrics.connection_refused("limit")
            return connection.respond(
                HTTPStatus.SERVICE_UNAVAILABLE, "too many connections; retry later\n"
            )
        token = token_from_handshake(request.headers.raw_items(), target.query)
        principal: Principal | None = None
        if token is not None and hub.verifier is not None:
            try:
                principal = await hub.verifier.verify(token)
            except InvalidToken as exc:
                hub.metrics.connection_refused("unauthorized")
                return _unauthorized(connection, exc.reason)
        elif hub.auth_required:
            hub.metrics.connection_refused("unauthorized")
            return _unauthorized(connection, "a token is required")
        principals[connection] = principal
        return None

    async def handler(connection: ServerConnection) -> None:
        live.add(connection)
        try:
            await serve_one(connection)
        finally:
            live.discard(connection)

    async def serve_one(connection: ServerConnection) -> None:
        principal = principals.pop(connection, None)
        try:
            client = await hub.connect(WebsocketsTransport(connection), principal)
        except (ConnectionClosed, ConnectionRefusedError):
            return  # closed during the welcome, or over the limit after all: never registered
        reason = "client"
        closing: asyncio.Task[None] | None = None
        try:
            async for frame in connection:
                if closing is not None:
                    # Keep reading (and dropping) what the client sent before our close:
                    # with its backlog unread, its closing frame would never be seen.
                    continue
                close = await hub.receive(client, frame)
                if close is not None:
                    reason = "too_big" if close.code == 1009 else "policy"
                    closing = asyncio.create_task(connection.close(close.code, close.reason))
        except ConnectionClosed as exc:
            # Closes websockets decided itself: a frame over max_size, a missed pong.
            if exc.rcvd is None and exc.sent is not None:
                reason = {1009: "too_big", 1011: "heartbeat"}.get(exc.sent.code, reason)
        finally:
            if closing is not None:
                await closing
            hub.disconnect(client, reason)

    config = hub.config
    server = await serve(
        handler,
        host,
        port,
        process_request=process_request,
        compression="deflate" if compression else None,
        max_size=config.limits.max_message_bytes,
        close_timeout=config.close_timeout_s,
        open_timeout=config.handshake_timeout_s,
        ping_interval=config.heartbeat_interval_s,
        ping_timeout=config.heartbeat_timeout_s - config.heartbeat_interval_s
        if config.heartbeat_timeout_s > config.heartbeat_interval_s
        else config.heartbeat_timeout_s,
        **options,
    )
    return NativeServer(hub, server, path, live)
