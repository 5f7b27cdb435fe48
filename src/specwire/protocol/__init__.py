"""The sans-I/O protocol core: frames in, validated events out; no sockets, clocks or loops."""

from specwire.protocol._state import TRANSITIONS, Event, State
from specwire.protocol.binding import Detail, Problem, ProtocolBinding, binding_for
from specwire.protocol.errors import LocalProtocolError, OutboundInvalid, ProtocolError
from specwire.protocol.session import (
    CLOSE_MESSAGE_TOO_BIG,
    CLOSE_POLICY_VIOLATION,
    Close,
    Limits,
    MessageReceived,
    Rejected,
    Session,
    check_outbound,
    decode_outbound,
    encode_outbound,
)

__all__ = [
    "CLOSE_MESSAGE_TOO_BIG",
    "CLOSE_POLICY_VIOLATION",
    "TRANSITIONS",
    "Close",
    "Detail",
    "Event",
    "Limits",
    "LocalProtocolError",
    "MessageReceived",
    "OutboundInvalid",
    "Problem",
    "ProtocolBinding",
    "ProtocolError",
    "Rejected",
    "Session",
    "State",
    "binding_for",
    "check_outbound",
    "decode_outbound",
    "encode_outbound",
]
