"""A session's lifecycle: every state, every event, and every allowed transition.

Everything that changes a session's state lives in this table (as h11 keeps its
state machine in one file). Anything not listed is a local protocol error: the
code that asked for it is wrong, not the peer.
"""

from __future__ import annotations

from enum import Enum

from specwire.protocol.errors import LocalProtocolError

__all__ = ["TRANSITIONS", "Event", "State", "next_state"]


class State(Enum):
    CONNECTING = "connecting"
    """The handshake was accepted; the ``welcome`` has not been sent yet."""
    OPEN = "open"
    """Welcomed, without credentials (a server that does not require them)."""
    AUTHENTICATED = "authenticated"
    """Welcomed, with verified credentials (at the handshake or in-band)."""
    CLOSING = "closing"
    """A close was decided; nothing more is read from the peer."""
    CLOSED = "closed"


class Event(Enum):
    WELCOMED = "welcomed"
    WELCOMED_AUTHENTICATED = "welcomed_authenticated"
    AUTHENTICATED = "authenticated"
    CLOSE = "close"
    CLOSED = "closed"


TRANSITIONS: dict[tuple[State, Event], State] = {
    (State.CONNECTING, Event.WELCOMED): State.OPEN,
    (State.CONNECTING, Event.WELCOMED_AUTHENTICATED): State.AUTHENTICATED,
    (State.CONNECTING, Event.CLOSE): State.CLOSING,
    (State.CONNECTING, Event.CLOSED): State.CLOSED,
    (State.OPEN, Event.AUTHENTICATED): State.AUTHENTICATED,
    (State.OPEN, Event.CLOSE): State.CLOSING,
    (State.OPEN, Event.CLOSED): State.CLOSED,
    (State.AUTHENTICATED, Event.AUTHENTICATED): State.AUTHENTICATED,  # an in-band refresh
    (State.AUTHENTICATED, Event.CLOSE): State.CLOSING,
    (State.AUTHENTICATED, Event.CLOSED): State.CLOSED,
    (State.CLOSING, Event.CLOSE): State.CLOSING,
    (State.CLOSING, Event.CLOSED): State.CLOSED,
    (State.CLOSED, Event.CLOSE): State.CLOSED,
    (State.CLOSED, Event.CLOSED): State.CLOSED,
}


def next_state(state: State, event: Event) -> State:
    """The state after ``event``; ``LocalProtocolError`` if the table does not allow it."""
    try:
        return TRANSITIONS[(state, event)]
    except KeyError:
        raise LocalProtocolError(
            f"{event.value!r} is not allowed in state {state.value!r}"
        ) from None
