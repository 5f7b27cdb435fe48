"""specwire.protocol.session: the core, frame by frame, with the console protocol."""

from __future__ import annotations

import json
from importlib import resources
from typing import Any

import pytest
from console_live_updates import (
    Ping,
    Pong,
    Subscribe,
    Welcome,
    encode,
)
from hypothesis import given, settings
from hypothesis import strategies as st
from jsonschema import Draft7Validator

from specwire.protocol import (
    CLOSE_MESSAGE_TOO_BIG,
    CLOSE_POLICY_VIOLATION,
    Close,
    Limits,
    LocalProtocolError,
    MessageReceived,
    OutboundInvalid,
    Rejected,
    Session,
    State,
    encode_outbound,
)
from specwire.protocol.console import console_binding

SCHEMAS = resources.files("console_live_updates") / "schemas"
SERVER_TO_CLIENT = Draft7Validator(json.loads((SCHEMAS / "server-to-client.json").read_text()))
BINDING = console_binding()


def welcome() -> Welcome:
    return Welcome.model_validate(
        {
            "type": "welcome",
            "session_id": "s-1",
            "protocol_version": "1.0.0",
            "server_time_ms": 1750000000000,
            "heartbeat_interval_ms": 54000,
            "heartbeat_timeout_ms": 60000,
            "limits": {
                "max_message_bytes": 524288,
                "max_subscriptions": 16,
                "max_messages_per_s": 20,
                "send_queue_size": 256,
            },
            "channels": [
                {
                    "name": "metrics",
                    "kind": "snapshot",
                    "interval_ms": 2000,
                    "history_max_messages": 60,
                    "required_scope": "metrics:read",
                },
            ],
            "authenticated": False,
            "scopes": [],
        }
    )


@pytest.fixture
def session() -> Session:
    s = Session(BINDING, "s-1", Limits(max_message_bytes=1024, max_invalid_frames=3))
    frame = s.welcome(welcome(), authenticated=False)
    assert SERVER_TO_CLIENT.is_valid(json.loads(frame))
    assert s.state is State.OPEN
    return s


def rejected(result: object) -> dict[str, Any]:
    assert isinstance(result, Rejected)
    body: dict[str, Any] = json.loads(result.frame)
    assert SERVER_TO_CLIENT.is_valid(body), body  # every error is a spec-valid frame
    return body


def test_a_valid_frame_becomes_a_typed_message(session: Session) -> None:
    result = session.receive('{"type":"ping","id":"p-1","timestamp_ms":5}')
    assert isinstance(result, MessageReceived)
    assert result.tag == "ping"
    assert result.message == Ping(type="ping", id="p-1", timestamp_ms=5)


@pytest.mark.parametrize(
    ("frame", "code", "request_id", "paths"),
    [
        ("{not json", "invalid_json", None, None),
        ('{"type":"ping","id":"\\ud800"}', "invalid_json", None, None),
        ("[1,2]", "invalid_message", None, [""]),
        ('{"id":"r-1"}', "invalid_message", "r-1", ["/type"]),
        ('{"type":"teleport","id":"r-2"}', "unknown_type", "r-2", ["/type"]),
        ('{"type":5}', "unknown_type", None, ["/type"]),
        (
            '{"type":"subscribe","id":"r-3","channels":[{"name":"weather"}]}',
            "invalid_message",
            "r-3",
            ["/channels/0/name"],
        ),
        ('{"type":"ping","id":"r-4","extra":true}', "invalid_message", "r-4", ["/extra"]),
        ('{"type":"ping","id":7}', "invalid_message", None, ["/id"]),
        ('{"type":"ping","id":"' + "x" * 200 + '"}', "invalid_message", None, ["/id"]),
        ('{"type":"ping","id":"p","timestamp_ms":"5"}', "invalid_message", "p", ["/timestamp_ms"]),
        (
            '{"type":"subscribe","id":"a~b/c","channels":[]}',
            "invalid_message",
            "a~b/c",
            ["/channels"],
        ),
    ],
)
def test_invalid_frames_get_the_spec_error(
    session: Session, frame: str, code: str, request_id: str | None, paths: list[str] | None
) -> None:
    body = rejected(session.receive(frame))
    assert body["code"] == code
    assert body.get("id") == request_id
    if paths is not None:
        assert [d["path"] for d in body["details"]] == paths
    assert session.open  # the connection stays up


def test_raw_input_is_echoed_only_as_a_short_escaped_excerpt(session: Session) -> None:
    hostile = "<script>" + "A" * 500
    body = rejected(session.receive(json.dumps({"type": hostile, "id": "r"})))
    assert "A" * 40 not in body["message"]
    assert '"<script>AAAAAAAAAAAAAAAAAAAAAA…' in body["message"]


def test_binary_frames_are_refused(session: Session) -> None:
    assert rejected(session.receive(b'{"type":"ping","id":"p"}'))["code"] == "unsupported_frame"


def test_oversized_frames_close_with_1009(session: Session) -> None:
    result = session.receive('{"type":"ping","id":"' + "x" * 2000 + '"}')
    body = rejected(result)
    assert body["code"] == "message_too_large"
    assert isinstance(result, Rejected)
    assert result.close == Close(CLOSE_MESSAGE_TOO_BIG, "message of 2023 bytes exceeds 1024")
    assert session.state is State.CLOSING
    with pytest.raises(LocalProtocolError, match="cannot receive in state 'closing'"):
        session.receive('{"type":"ping","id":"p"}')


def test_repeated_abuse_closes_with_1008(session: Session) -> None:
    assert rejected(session.receive("x")) and session.open
    assert isinstance(session.receive('{"type":"ping","id":"ok"}'), MessageReceived)
    rejected(session.receive("y"))
    result = session.receive("z")
    assert isinstance(result, Rejected)
    assert result.close == Close(CLOSE_POLICY_VIOLATION, "3 invalid frames")
    assert session.state is State.CLOSING


def test_outbound_messages_are_checked_against_the_spec(session: Session) -> None:
    assert json.loads(session.reply(Pong(type="pong", id="p", timestamp_ms=1))) == {
        "type": "pong",
        "id": "p",
        "timestamp_ms": 1,
    }
    forged = Pong.model_construct(type="pong", id="", timestamp_ms=-1)
    with pytest.raises(OutboundInvalid, match="outbound 'pong' does not match the spec") as caught:
        session.reply(forged)
    assert caught.value.message_type == "pong"
    # A client message is not something the server may send.
    with pytest.raises(OutboundInvalid):
        encode_outbound(BINDING, Subscribe.model_construct(type="subscribe", id="s", channels=[]))
    assert encode(forged)  # the plain encoder would have written it


def test_lifecycle_follows_the_table() -> None:
    s = Session(BINDING, "s-2")
    with pytest.raises(LocalProtocolError, match="cannot receive in state 'connecting'"):
        s.receive("{}")
    with pytest.raises(
        LocalProtocolError, match="'authenticated' is not allowed in state 'connecting'"
    ):
        s.authenticate()
    s.welcome(welcome(), authenticated=True)
    assert s.state is State.AUTHENTICATED
    s.authenticate()  # an in-band refresh
    assert s.close(1001, "going away") == Close(1001, "going away")
    s.closed()
    assert s.state is State.CLOSED
    assert not s.open
    with pytest.raises(LocalProtocolError):
        s.welcome(welcome(), authenticated=False)


def test_welcome_then_in_band_auth() -> None:
    s = Session(BINDING, "s-3")
    s.welcome(welcome(), authenticated=False)
    s.authenticate()
    assert s.state is State.AUTHENTICATED


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=20,
)
hostile_objects = st.fixed_dictionaries(
    {},
    optional={
        "type": st.sampled_from(["subscribe", "unsubscribe", "ping", "auth"]) | json_values,
        "id": st.text(max_size=140) | json_values,
        "channels": json_values
        | st.lists(st.fixed_dictionaries({"name": json_values}), max_size=3),
        "token": json_values,
    },
).flatmap(
    lambda base: st.dictionaries(st.text(max_size=8), json_values, max_size=3).map(
        lambda extra: {**extra, **base}
    )
)


@settings(max_examples=400, derandomize=True, database=None, deadline=None)
@given(frame=st.text(max_size=200) | json_values.map(json.dumps) | hostile_objects.map(json.dumps))
def test_hostile_frames_never_crash_and_always_get_a_spec_answer(frame: str) -> None:
    s = Session(BINDING, "s-h", Limits(max_invalid_frames=10**9))
    s.welcome(welcome(), authenticated=False)
    result = s.receive(frame)
    if isinstance(result, Rejected):
        body = json.loads(result.frame)
        assert SERVER_TO_CLIENT.is_valid(body), body
        assert body["code"] in {"invalid_json", "invalid_message", "unknown_type"}
    else:
        assert isinstance(result, MessageReceived)
    assert s.open
