"""Connections the contract runner opens, and the transcript of every frame they carry.

A :class:`Link` is one WebSocket connection with a background reader: every frame
the server sends is timestamped, parsed, classified against the document and kept
in order, so a check waits for "the first frame after this one that matches" with a
deadline and returns as soon as it arrives. Every frame in both directions also
goes to the :class:`Recorder` (the ``--transcript`` NDJSON file).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus
from websockets.frames import Frame as WireFrame
from websockets.frames import Opcode

from specwire.contract.model import Classification, ContractSpec

__all__ = ["Credentials", "Frame", "Link", "Recorder", "Refused", "Session", "excerpt"]

SERVER = "server->client"
CLIENT = "client->server"


def excerpt(data: str | bytes, limit: int = 240) -> str:
    """A short, printable view of a frame for evidence."""
    if isinstance(data, bytes):
        shown = data[: limit // 2].hex()
        more = "..." if len(data) > limit // 2 else ""
        return f"<binary {len(data)} bytes: {shown}{more}>"
    text = data if len(data) <= limit else data[:limit] + f"... ({len(data)} chars)"
    return text.replace("\n", "\\n")


@dataclass
class Frame:
    """One frame the server sent, as received."""

    link: str
    index: int
    mono: float
    wall: float
    data: str | bytes
    value: Any = None
    json_ok: bool = False
    classification: Classification | None = None
    problem: str | None = None
    """Why this frame is not exactly one server message; ``None`` when it is one."""

    @property
    def message(self) -> str | None:
        """The id of the one message this frame is, if it is exactly one."""
        if self.classification is not None and len(self.classification.matches) == 1:
            return self.classification.matches[0]
        return None

    def show(self) -> str:
        return f"[{self.link}#{self.index}] {excerpt(self.data)}"


@dataclass
class Recorder:
    """Every frame of the run in both directions, for the transcript and the final check."""

    entries: list[dict[str, Any]] = field(default_factory=list)
    server_frames: list[Frame] = field(default_factory=list)

    def record(
        self, link: str, direction: str, kind: str, data: str | bytes | None = None, **extra: Any
    ) -> None:
        entry: dict[str, Any] = {
            "mono": time.monotonic(),
            "wall": time.time(),
            "direction": direction,
            "connection": link,
            "kind": kind,
        }
        if isinstance(data, str):
            entry["text"] = data
        elif isinstance(data, bytes):
            try:
                entry["text"] = data.decode("utf-8") if kind == "text" else None
            except UnicodeDecodeError:
                entry["text"] = None
            if entry["text"] is None:
                del entry["text"]
                entry["base64"] = base64.b64encode(data).decode("ascii")
        entry.update(extra)
        self.entries.append(entry)

    def ndjson(self) -> str:
        # ASCII only: U+2028, U+0085 and the like stay escaped, so any line splitter works.
        return "".join(json.dumps(e) + "\n" for e in self.entries)


@dataclass(frozen=True)
class Credentials:
    """What to add to a handshake: headers and query parameters."""

    headers: tuple[tuple[str, str], ...] = ()
    query: tuple[tuple[str, str], ...] = ()

    @property
    def empty(self) -> bool:
        return not self.headers and not self.query

    def url(self, url: str) -> str:
        if not self.query:
            return url
        parts = urlsplit(url)
        query = [*parse_qsl(parts.query, keep_blank_values=True), *self.query]
        return urlunsplit(parts._replace(query=urlencode(query)))


class Refused(Exception):
    """The server refused the opening handshake."""

    def __init__(self, status: int | None, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail


class Link:
    """One connection to the server under test."""

    def __init__(
        self, session: Session, name: str, connection: ClientConnection, opened: float
    ) -> None:
        self.session = session
        self.name = name
        self.connection = connection
        self.opened = opened
        self.frames: list[Frame] = []
        self.close_code: int | None = None
        self.close_reason = ""
        self.closed_at: float | None = None
        self.sent_ids: set[str] = set()
        """Correlation ids sent on this connection (as JSON), to tell late replies apart."""
        self._changed = asyncio.Event()
        self._closing = False
        self._reader = asyncio.get_running_loop().create_task(self._read(), name=f"read {name}")

    @property
    def closed(self) -> bool:
        return self.closed_at is not None

    def closed_with(self) -> str:
        if not self.closed:
            return "open"
        return f"close code {self.close_code} {self.close_reason!r}"

    def _signal(self) -> None:
        changed, self._changed = self._changed, asyncio.Event()
        changed.set()

    async def _read(self) -> None:
        recorder = self.session.recorder
        try:
            while True:
                data = await self.connection.recv()
                frame = Frame(self.name, len(self.frames), time.monotonic(), time.time(), data)
                recorder.record(
                    self.name, SERVER, "text" if isinstance(data, str) else "binary", data
                )
                self.session.judge(frame)
                self.frames.append(frame)
                recorder.server_frames.append(frame)
                self._signal()
        except ConnectionClosed:
            pass
        finally:
            connection = self.connection
            self.close_code = connection.close_code
            self.close_reason = connection.close_reason or ""
            self.closed_at = time.monotonic()
            sent = connection.protocol.close_sent
            if (
                not self._closing
                and sent is not None
                and sent.code in (1002, 1007)
                and connection.protocol.close_rcvd is None
            ):
                # Our side failed the connection: the server sent something unreadable.
                frame = Frame(self.name, len(self.frames), time.monotonic(), time.time(), b"")
                frame.problem = f"unreadable frame: we closed with {sent.code} ({sent.reason})"
                self.frames.append(frame)
                recorder.server_frames.append(frame)
            recorder.record(
                self.name, SERVER, "close", code=self.close_code, reason=self.close_reason
            )
            self._signal()

    # -- sending ----------------------------------------------------------------------

    async def send(self, payload: Any) -> bool:
        """Send a JSON value (or a ``str`` as is, ``bytes`` as a binary frame)."""
        if isinstance(payload, str | bytes):
            data: str | bytes = payload
        else:
            data = json.dumps(payload, ensure_ascii=False)
        kind = "binary" if isinstance(data, bytes) else "text"
        self.session.recorder.record(self.name, CLIENT, kind, data)
        try:
            await self.connection.send(data)
        except ConnectionClosed:
            return False
        return True

    async def send_raw_text(self, data: bytes) -> bool:
        """A text frame with exactly these bytes, valid UTF-8 or not."""
        self.session.recorder.record(self.name, CLIENT, "text", data)
        try:
            async with self.connection.send_context():
                self.connection.protocol.send_frame(WireFrame(Opcode.TEXT, data))
        except ConnectionClosed:
            return False
        return True

    async def ping(self, timeout: float) -> float | None:
        """A protocol ping; the round trip in seconds, or ``None`` without a pong in time."""
        self.session.recorder.record(self.name, CLIENT, "ping")
        try:
            waiter = await self.connection.ping()
            latency = await asyncio.wait_for(waiter, timeout)
        except (TimeoutError, ConnectionClosed):
            return None
        self.session.recorder.record(self.name, SERVER, "pong", latency_s=latency)
        return latency

    # -- waiting ----------------------------------------------------------------------

    async def wait_for(
        self, predicate: Callable[[Frame], bool], timeout: float, start: int = 0
    ) -> Frame | None:
        """The first frame from index ``start`` that satisfies ``predicate``.

        Returns as soon as it arrives; ``None`` after ``timeout`` seconds or when the
        connection closes first.
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        index = start
        while True:
            changed = self._changed
            while index < len(self.frames):
                frame = self.frames[index]
                index += 1
                if predicate(frame):
                    return frame
            if self.closed:
                return None
            remaining = deadline - loop.time()
            if remaining <= 0:
                return None
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(changed.wait(), remaining)

    async def first_frame(self, timeout: float) -> Frame | None:
        return await self.wait_for(lambda _: True, timeout)

    async def wait_closed(self, timeout: float) -> bool:
        await self.wait_for(lambda _: False, timeout)
        return self.closed

    async def close(self) -> None:
        self._closing = True
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.connection.close(), 2.0)
        self._reader.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await self._reader


class Session:
    """Everything one contract run shares: the document, the server, the transcript."""

    def __init__(
        self,
        url: str,
        contract: ContractSpec,
        credentials: Credentials,
        *,
        timeout: float,
        recorder: Recorder | None = None,
    ) -> None:
        self.url = url
        self.contract = contract
        self.credentials = credentials
        self.timeout = timeout
        self.recorder = recorder or Recorder()
        self.links: list[Link] = []
        self._serial = 0
        self._ids = 0
        self.greets: bool | None = None
        """Whether the server sends a first frame on its own (``None``: not known yet)."""

    def judge(self, frame: Frame) -> None:
        """Parse and classify a server frame (sets ``value``, ``classification``, ``problem``)."""
        if isinstance(frame.data, bytes):
            frame.problem = "binary frame: the server sends JSON text frames"
            return
        try:
            frame.value = json.loads(frame.data)
        except ValueError as exc:
            frame.problem = f"not JSON: {exc}"
            return
        frame.json_ok = True
        frame.classification = self.contract.classify(frame.value)
        frame.problem = frame.classification.problem

    def next_id(self, message_id: str, tokens: tuple[str, ...]) -> Any:
        self._ids += 1
        return self.contract.fresh_id(message_id, tokens, self._ids, "contract")

    async def open(self, *, credentials: Credentials | None = None) -> Link:
        """A new connection (with the run's credentials unless others are given).

        Raises :class:`Refused` when the server refuses the handshake.
        """
        given = self.credentials if credentials is None else credentials
        self._serial += 1
        name = f"c{self._serial}"
        url = given.url(self.url)
        self.recorder.record(name, CLIENT, "open", url=url)
        try:
            connection = await connect(
                url,
                additional_headers=list(given.headers),
                open_timeout=self.timeout,
                close_timeout=2.0,
                ping_interval=None,
                max_size=None,
                compression=None,
            )
        except InvalidStatus as exc:
            status = exc.response.status_code
            body = (exc.response.body or b"").decode("utf-8", "replace").strip()[:120]
            self.recorder.record(name, SERVER, "refused", status=status)
            raise Refused(status, f"HTTP {status} {body}".strip()) from None
        except (InvalidHandshake, OSError, TimeoutError) as exc:
            self.recorder.record(name, SERVER, "refused", error=str(exc))
            raise Refused(None, f"{type(exc).__name__}: {exc}") from None
        link = Link(self, name, connection, time.monotonic())
        self.links.append(link)
        return link

    async def close_all(self) -> None:
        links, self.links = self.links, []
        await asyncio.gather(*(link.close() for link in links))


def credentials_for(
    contract: ContractSpec, token: str | None, headers: Sequence[tuple[str, str]]
) -> Credentials:
    """Where ``token`` goes according to the document's security schemes.

    The first scheme (in document order) that can carry a token is used: ``http``
    bearer (``Authorization: Bearer``), ``httpApiKey`` in a header or the query.
    Without a usable scheme, the token goes in ``Authorization: Bearer``.
    """
    extra_headers = list(headers)
    query: list[tuple[str, str]] = []
    if token is not None:
        placed = False
        for _, scheme in contract.security_schemes():
            kind = scheme.get("type")
            if kind == "http" and str(scheme.get("scheme", "")).lower() == "bearer":
                extra_headers.append(("Authorization", f"Bearer {token}"))
                placed = True
            elif kind in ("httpApiKey", "apiKey") and isinstance(scheme.get("name"), str):
                where = scheme.get("in")
                if where == "query":
                    query.append((scheme["name"], token))
                    placed = True
                elif where == "header":
                    extra_headers.append((scheme["name"], token))
                    placed = True
            if placed:
                break
        if not placed:
            extra_headers.append(("Authorization", f"Bearer {token}"))
    return Credentials(tuple(extra_headers), tuple(query))
