"""The sans-I/O session: frames in, typed messages or spec-declared errors out.

A :class:`Session` never touches a socket, a clock or an event loop. The runtime
hands it each frame the transport received (``str`` for a text frame, ``bytes`` for
a binary one) and acts on what it returns; it asks the session to encode what it
sends. Its lifecycle is the table in :mod:`specwire.protocol._state`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ValidationError

from specwire.protocol._state import Event, State, next_state
from specwire.protocol.binding import Detail, Problem, ProtocolBinding
from specwire.protocol.errors import LocalProtocolError, OutboundInvalid

__all__ = [
    "CLOSE_MESSAGE_TOO_BIG",
    "CLOSE_POLICY_VIOLATION",
    "Close",
    "Limits",
    "MessageReceived",
    "Rejected",
    "Session",
    "check_outbound",
    "decode_outbound",
    "encode_outbound",
]

CLOSE_POLICY_VIOLATION = 1008
CLOSE_MESSAGE_TOO_BIG = 1009

MAX_REASON = 512
MAX_MESSAGE = 1024
MAX_REQUEST_ID = 128
MAX_EXCERPT = 32


@dataclass(frozen=True)
class Limits:
    max_message_bytes: int = 512 * 1024
    """A bigger inbound frame closes the connection with 1009."""
    max_invalid_frames: int = 10
    """Invalid frames a connection may send before it is closed with 1008."""


@dataclass(frozen=True)
class MessageReceived:
    message: BaseModel
    tag: str


@dataclass(frozen=True)
class Rejected:
    """An invalid frame: send ``frame`` (the spec's error), and ``close`` if abuse goes on."""

    frame: bytes
    problem: Problem
    close: Close | None = None


@dataclass(frozen=True)
class Close:
    code: int
    reason: str


def _pointer(loc: tuple[int | str, ...]) -> str:
    return "".join("/" + str(token).replace("~", "~0").replace("/", "~1") for token in loc)


def _excerpt(value: object) -> str:
    """A short, escaped excerpt of raw input: never more of it than this is echoed."""
    text = json.dumps(value, ensure_ascii=True)
    return text if len(text) <= MAX_EXCERPT else text[: MAX_EXCERPT - 1] + "…"


def encode_outbound(binding: ProtocolBinding, message: BaseModel) -> bytes:
    """Encode a server message and check the bytes against the spec, once.

    What is checked is exactly what would go on the wire, so a model built with
    ``model_construct`` or mutated behind pydantic's back cannot slip through.
    Raises :class:`OutboundInvalid`.
    """
    data = binding.encode(message)
    try:
        binding.validate_outbound(data)
    except ValidationError as exc:
        raise _invalid(binding.tag_of(message), exc) from None
    return data


def decode_outbound(binding: ProtocolBinding, data: bytes) -> BaseModel:
    """Check already encoded server bytes against the spec; the message they hold.

    For a sender that encodes a large message itself: the bytes are validated once,
    as they will go on the wire. Raises :class:`OutboundInvalid`.
    """
    try:
        return binding.validate_outbound(data)
    except ValidationError as exc:
        raise _invalid(_tag_in(data, binding.tag), exc) from None


def check_outbound(binding: ProtocolBinding, data: bytes) -> str:
    """Check already encoded server bytes against the spec; the tag they carry.

    :func:`decode_outbound`'s verdict at about two thirds of its cost for a large message: the
    same rules build plain data instead of models (``binding.check_outbound``).
    Raises :class:`OutboundInvalid`.
    """
    check = binding.check_outbound
    if check is None:
        return binding.tag_of(decode_outbound(binding, data))
    try:
        value = check(data)
    except ValidationError as exc:
        raise _invalid(_tag_in(data, binding.tag), exc) from None
    tag = value.get(binding.tag) if isinstance(value, dict) else None
    return tag if isinstance(tag, str) else "?"


def _invalid(message_type: str, exc: ValidationError) -> OutboundInvalid:
    errors: list[dict[str, Any]] = [
        dict(e) for e in exc.errors(include_url=False, include_input=False)
    ]
    return OutboundInvalid(message_type, errors)


def _tag_in(data: bytes, tag: str) -> str:
    """The tag an invalid frame claims, for the error; ``"?"`` when it has none."""
    try:
        value = json.loads(data).get(tag)
    except (ValueError, AttributeError):
        return "?"
    return value if isinstance(value, str) else "?"


class Session:
    """One connection's protocol state. Not thread-safe; one event loop drives it."""

    def __init__(
        self, binding: ProtocolBinding, session_id: str, limits: Limits | None = None
    ) -> None:
        self.binding = binding
        self.session_id = session_id
        self.limits = limits or Limits()
        self.state = State.CONNECTING
        self.invalid_frames = 0

    # -- lifecycle ------------------------------------------------------------------------

    def welcome(self, message: BaseModel, *, authenticated: bool) -> bytes:
        """Encode the first frame and open the session."""
        data = encode_outbound(self.binding, message)
        self.state = next_state(
            self.state, Event.WELCOMED_AUTHENTICATED if authenticated else Event.WELCOMED
        )
        return data

    def authenticate(self) -> None:
        self.state = next_state(self.state, Event.AUTHENTICATED)

    def close(self, code: int, reason: str) -> Close:
        self.state = next_state(self.state, Event.CLOSE)
        return Close(code, reason)

    def closed(self) -> None:
        self.state = next_state(self.state, Event.CLOSED)

    @property
    def open(self) -> bool:
        return self.state in (State.OPEN, State.AUTHENTICATED)

    # -- inbound --------------------------------------------------------------------------

    def receive(self, frame: str | bytes) -> MessageReceived | Rejected | Close:
        """Decode and validate one frame the client sent, in one call."""
        if not self.open:
            raise LocalProtocolError(f"cannot receive in state {self.state.value!r}")
        size = len(frame.encode()) if isinstance(frame, str) else len(frame)
        if size > self.limits.max_message_bytes:
            limit = self.limits.max_message_bytes
            problem = Problem("message_too_large", f"a message may be at most {limit} bytes")
            close = self.close(CLOSE_MESSAGE_TOO_BIG, f"message of {size} bytes exceeds {limit}")
            return Rejected(self.error(problem), problem, close)
        if isinstance(frame, bytes):
            return self._reject(
                Problem("unsupported_frame", "binary frames are not accepted; send JSON text")
            )
        try:
            message = self.binding.decode_inbound(frame)
        except ValidationError as exc:
            return self._reject(self._problem(frame, exc))
        return MessageReceived(message, self.binding.tag_of(message))

    def reply(self, message: BaseModel) -> bytes:
        """Encode a message for this client only (a reply or an error), checked against the spec."""
        return encode_outbound(self.binding, message)

    def error(self, problem: Problem) -> bytes:
        return encode_outbound(self.binding, self.binding.error(problem))

    def request_id_of(self, frame: str | bytes) -> str | None:
        """The request id of a frame that will not be processed (rate limited), if it has one."""
        return self._request_id(self._raw(frame)) if isinstance(frame, str) else None

    def _reject(self, problem: Problem) -> Rejected:
        self.invalid_frames += 1
        close = None
        if self.invalid_frames >= self.limits.max_invalid_frames:
            close = self.close(CLOSE_POLICY_VIOLATION, f"{self.invalid_frames} invalid frames")
        return Rejected(self.error(problem), problem, close)

    def _problem(self, frame: str, exc: ValidationError) -> Problem:
        errors = exc.errors(include_url=False, include_input=False)
        first = errors[0]
        if first["type"] == "json_invalid":
            return Problem(
                "invalid_json", f"invalid JSON: {first['msg'].removeprefix('Invalid JSON: ')}"
            )
        raw = self._raw(frame)
        request_id = self._request_id(raw)
        if first["type"] == "union_tag_invalid":
            expected = ", ".join(sorted(self.binding.inbound_tags))
            tag = raw.get(self.binding.tag) if isinstance(raw, dict) else None
            message = (
                f"unknown message {self.binding.tag} {_excerpt(tag)}; expected one of: {expected}"
            )
            return Problem(
                "unknown_type",
                message[:MAX_MESSAGE],
                request_id,
                (Detail(f"/{self.binding.tag}", "unknown message type"),),
            )
        if first["type"] == "union_tag_not_found":
            details: tuple[Detail, ...] = (
                Detail(f"/{self.binding.tag}", "the message type is missing"),
            )
            if not isinstance(raw, dict):
                details = (Detail("", "a message must be a JSON object"),)
            return Problem("invalid_message", details[0].reason, request_id, details)
        tagged = (
            isinstance(raw, dict) and self.binding.tag in raw and len(self.binding.inbound_tags) > 1
        )
        details = tuple(
            Detail(
                _pointer(tuple(e["loc"][1:] if tagged else e["loc"]))[:MAX_REASON],
                e["msg"][:MAX_REASON],
            )
            for e in errors
        )
        summary = f"at {details[0].path}: " if details[0].path else ""
        summary += details[0].reason
        if len(details) > 1:
            summary += f" (and {len(details) - 1} more)"
        return Problem("invalid_message", summary[:MAX_MESSAGE], request_id, details)

    @staticmethod
    def _raw(frame: str) -> object:
        # Only on the error path: valid frames are parsed once, by pydantic-core.
        try:
            return json.loads(frame)
        except ValueError:
            return None

    def _request_id(self, raw: object) -> str | None:
        if self.binding.request_id is None or not isinstance(raw, dict):
            return None
        value = raw.get(self.binding.request_id)
        if isinstance(value, str) and 0 < len(value) <= MAX_REQUEST_ID:
            return value
        return None
