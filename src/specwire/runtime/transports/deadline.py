"""A deadline for each whole HTTP request on uvicorn: slow or silent clients are dropped.

uvicorn times out nothing before a request has arrived: a connection that sends
nothing, or trickles its headers a byte at a time (its keep-alive timer restarts
on every byte), holds a socket for as long as it likes, and enough of them use up
the process's file descriptors. :func:`uvicorn_http_protocol` is uvicorn's ``h11``
protocol with a deadline for each whole request; ``start_asgi_server`` runs uvicorn
with it.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
from typing import Any

__all__ = ["uvicorn_http_protocol"]

log = logging.getLogger("specwire.transport.asgi")


def _request_timeout(deadline_s: float) -> bytes:
    """A 408 answer, as an RFC 9457 problem document like the console's other errors."""
    body = json.dumps(
        {
            "type": "about:blank",
            "title": "Request Timeout",
            "status": 408,
            "detail": f"The request was not complete within {deadline_s:g} s.",
        }
    ).encode()
    head = (
        "HTTP/1.1 408 Request Timeout\r\ncontent-type: application/problem+json\r\n"
        f"content-length: {len(body)}\r\nconnection: close\r\n\r\n"
    )
    return head.encode() + body


@functools.cache
def uvicorn_http_protocol(deadline_s: float) -> type[asyncio.Protocol]:
    """uvicorn's ``h11`` HTTP protocol, with a deadline for each whole request.

    Every request (headers and body, a WebSocket handshake included) must arrive
    within ``deadline_s`` of the connection opening or of the previous response;
    otherwise the connection is closed, after a ``408 Request Timeout`` (a
    problem+json document) when part of the request came and no response has
    started. Pass it as ``uvicorn.Config(app, http=uvicorn_http_protocol(10.0))``.

    It reads uvicorn internals (``conn``, the ``h11`` connection; ``transport``;
    ``handle_websocket_upgrade`` and ``on_response_complete`` to hook), present from
    uvicorn 0.30 on.
    """
    import h11  # noqa: PLC0415
    from uvicorn.protocols.http.h11_impl import H11Protocol  # noqa: PLC0415

    received = (h11.DONE, h11.MUST_CLOSE)
    unanswered = (h11.IDLE, h11.SEND_RESPONSE)  # no byte of a response has gone out
    answer = _request_timeout(deadline_s)

    class DeadlineProtocol(H11Protocol):
        specwire_deadline: asyncio.TimerHandle | None = None
        specwire_partial = False

        def _arm(self) -> None:
            self._disarm()
            self.specwire_partial = False
            self.specwire_deadline = self.loop.call_later(deadline_s, self._expired)

        def _disarm(self) -> None:
            if self.specwire_deadline is not None:
                self.specwire_deadline.cancel()
                self.specwire_deadline = None

        def _expired(self) -> None:
            self.specwire_deadline = None
            if self.transport.is_closing():
                return
            log.debug("request not complete within %.1f s; closing", deadline_s)
            if self.specwire_partial and self.conn.our_state in unanswered:
                self.transport.write(answer)
            self.transport.close()

        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            self._arm()

        def data_received(self, data: bytes) -> None:
            if self.specwire_deadline is not None:
                self.specwire_partial = True
            super().data_received(data)
            if self.conn.their_state in received:
                self._disarm()

        def handle_websocket_upgrade(self, event: Any) -> None:
            self._disarm()
            super().handle_websocket_upgrade(event)

        def on_response_complete(self) -> None:
            super().on_response_complete()  # may start on a pipelined request at once
            if not self.transport.is_closing() and self.conn.their_state not in received:
                self._arm()

        def connection_lost(self, exc: Exception | None) -> None:
            self._disarm()
            super().connection_lost(exc)

    return DeadlineProtocol
