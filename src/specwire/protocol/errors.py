"""Whose fault it is: the peer broke the contract, or this side did."""

from __future__ import annotations

__all__ = ["LocalProtocolError", "OutboundInvalid", "ProtocolError"]


class ProtocolError(Exception):
    """Base of every error the protocol core raises."""


class LocalProtocolError(ProtocolError):
    """This side asked for something the protocol does not allow (a bug in the caller)."""


class OutboundInvalid(LocalProtocolError):
    """A message this side tried to send does not match the spec; it never reaches a socket."""

    def __init__(self, message_type: str, errors: list[dict[str, object]]) -> None:
        first = errors[0] if errors else {}
        super().__init__(
            f"outbound {message_type!r} does not match the spec: {first.get('msg', '')}"
        )
        self.message_type = message_type
        self.errors = errors
