"""The intermediate representation between an AsyncAPI document and the emitters.

Plain frozen dataclasses: what the document says, references followed and traits
applied, with nothing about any output language. Every emitter reads only this.

Directions are those of the application the document describes (for a WebSocket
API, the server): ``send`` operations and the replies to ``receive`` operations are
what it sends; ``receive`` operations and the replies to ``send`` operations are
what it receives.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Any

from specwire.codegen.loader import Location

__all__ = [
    "Channel",
    "CorrelationId",
    "Direction",
    "Example",
    "Message",
    "Operation",
    "Reply",
    "Spec",
    "Tag",
]


class Direction(Enum):
    """Who sends a message, seen from the application the document describes."""

    SEND = "send"
    """The application sends it: server to client, for a WebSocket server."""
    RECEIVE = "receive"
    """The application receives it: client to server, for a WebSocket server."""


@dataclass(frozen=True)
class Tag:
    """The property that tells a message from its neighbours, and its constant value."""

    property: str
    value: Any


@dataclass(frozen=True)
class CorrelationId:
    description: str | None
    location: str
    """A runtime expression such as ``$message.payload#/id``."""

    @property
    def payload_property(self) -> str | None:
        """The top-level payload property that carries the id, when it is one."""
        prefix = "$message.payload#/"
        rest = self.location[len(prefix) :] if self.location.startswith(prefix) else ""
        return rest if rest and "/" not in rest else None


@dataclass(frozen=True)
class Example:
    name: str | None
    summary: str | None
    payload: Any
    headers: Any
    has_payload: bool
    has_headers: bool
    location: Location


@dataclass(frozen=True)
class Message:
    """One message, keyed by its id in the document."""

    id: str
    name: str | None
    title: str | None
    summary: str | None
    description: str | None
    content_type: str | None
    payload: Any
    """The payload's JSON Schema as written (references not yet bundled); ``None`` if absent."""
    payload_location: Location | None
    headers: Any
    headers_location: Location | None
    correlation_id: CorrelationId | None
    examples: tuple[Example, ...]
    location: Location
    schema_format: str | None
    """A payload's ``schemaFormat`` when it is not JSON Schema (the payload is then opaque)."""
    extensions: tuple[tuple[str, Any], ...] = ()
    """``x-`` properties of the message (after traits), in document order."""


@dataclass(frozen=True)
class Channel:
    id: str
    address: str | None
    title: str | None
    description: str | None
    messages: tuple[str, ...]
    """Message ids, in the order the channel lists them."""
    message_keys: tuple[tuple[str, str], ...]
    """(key in the channel's ``messages``, message id) pairs."""
    parameters: tuple[str, ...]
    bindings: Any
    location: Location


@dataclass(frozen=True)
class Reply:
    channel: str | None
    messages: tuple[str, ...]
    location: Location


@dataclass(frozen=True)
class Operation:
    id: str
    action: Direction
    channel: str
    messages: tuple[str, ...]
    """The operation's messages; every message of its channel when it lists none."""
    reply: Reply | None
    title: str | None
    summary: str | None
    description: str | None
    extensions: tuple[tuple[str, Any], ...]
    location: Location


@dataclass(frozen=True)
class Spec:
    """A whole AsyncAPI document."""

    asyncapi: str
    title: str
    version: str
    description: str | None
    default_content_type: str | None
    servers: tuple[tuple[str, Any], ...]
    channels: tuple[Channel, ...]
    operations: tuple[Operation, ...]
    messages: tuple[Message, ...]
    schemas: tuple[tuple[str, Any], ...]
    """``components/schemas`` as written, in document order."""
    security_schemes: tuple[tuple[str, Any], ...]
    source: Location

    def message(self, message_id: str) -> Message:
        for message in self.messages:
            if message.id == message_id:
                return message
        raise KeyError(message_id)

    def channel(self, channel_id: str) -> Channel:
        for channel in self.channels:
            if channel.id == channel_id:
                return channel
        raise KeyError(channel_id)

    def messages_in(self, direction: Direction) -> tuple[str, ...]:
        """Ids of the messages that travel in ``direction``, in document order, once each."""
        ids: list[str] = []
        for operation in self.operations:
            ids.extend(operation.messages if operation.action is direction else ())
            if operation.reply is not None and operation.action is not direction:
                ids.extend(operation.reply.messages)
        wanted = set(ids)
        return tuple(message.id for message in self.messages if message.id in wanted)
