"""specwire.codegen.build: from a document to the IR."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from specdocs import WriteSpec, minimal

from specwire.codegen.build import load_spec, merge_patch
from specwire.codegen.ir import Direction
from specwire.codegen.loader import DocumentError


def test_minimal_document(write_spec: WriteSpec) -> None:
    spec = load_spec(write_spec())
    assert (spec.title, spec.version, spec.asyncapi) == ("Tick Feed", "1.2.0", "3.0.0")
    assert [m.id for m in spec.messages] == ["ping", "pong", "tick"]
    assert spec.messages_in(Direction.SEND) == ("pong", "tick")
    assert spec.messages_in(Direction.RECEIVE) == ("ping",)
    ping = spec.operations[0]
    assert ping.reply is not None and ping.reply.messages == ("pong",)
    assert spec.message("ping").correlation_id is not None
    assert spec.message("ping").correlation_id.payload_property == "id"
    assert spec.message("tick").examples[0].payload == {
        "type": "tick",
        "price": 1.5,
        "volume": None,
    }
    assert spec.channel("live").message_keys == (
        ("ping", "ping"),
        ("pong", "pong"),
        ("tick", "tick"),
    )
    with pytest.raises(KeyError):
        spec.message("nope")
    with pytest.raises(KeyError):
        spec.channel("nope")


def test_merge_patch_follows_rfc_7386() -> None:
    assert merge_patch({"a": 1, "b": {"c": 2, "d": 3}}, {"b": {"c": None, "e": 4}, "f": [1]}) == {
        "a": 1,
        "b": {"d": 3, "e": 4},
        "f": [1],
    }
    assert merge_patch({"a": 1}, "x") == "x"


def test_traits_are_merged_and_the_message_wins(write_spec: WriteSpec) -> None:
    doc = minimal()
    doc["components"]["messageTraits"] = {
        "common": {
            "summary": "from the trait",
            "title": "Trait title",
            "headers": {"type": "object", "properties": {"x-trace": {"type": "string"}}},
        }
    }
    doc["components"]["messages"]["tick"]["traits"] = [
        {"$ref": "#/components/messageTraits/common"}
    ]
    spec = load_spec(write_spec(doc))
    tick = spec.message("tick")
    assert tick.title == "Tick"  # the message's own field wins
    assert tick.headers == {"type": "object", "properties": {"x-trace": {"type": "string"}}}
    assert tick.headers_location is not None
    assert tick.headers_location.pointer == "/components/messageTraits/common/headers"


def test_a_message_only_in_a_channel_takes_its_channel_key(write_spec: WriteSpec) -> None:
    doc = minimal()
    doc["channels"]["side"] = {
        "address": "/side",
        "messages": {
            "notice": {"$ref": "messages.yaml#/notice"},
            "inline": {"payload": {"type": "string"}},
        },
    }
    path = write_spec(doc, files={"messages.yaml": {"notice": {"payload": {"type": "integer"}}}})
    spec = load_spec(path)
    assert [m.id for m in spec.messages][-2:] == ["notice", "inline"]
    assert spec.message("notice").payload == {"type": "integer"}


def test_same_key_in_two_channels_gets_distinct_ids(write_spec: WriteSpec) -> None:
    doc = minimal()
    doc["channels"]["a"] = {"address": "a", "messages": {"event": {"payload": {"type": "string"}}}}
    doc["channels"]["b"] = {"address": "b", "messages": {"event": {"payload": {"type": "integer"}}}}
    spec = load_spec(write_spec(doc))
    assert spec.channel("a").messages == ("event",)
    assert spec.channel("b").messages == ("event2",)


def test_operation_without_messages_takes_its_channel_messages(write_spec: WriteSpec) -> None:
    doc = minimal()
    del doc["operations"]["sendTick"]["messages"]
    doc["operations"]["ping"]["reply"] = {"channel": {"$ref": "#/channels/live"}}
    spec = load_spec(write_spec(doc))
    assert spec.operations[1].messages == ("ping", "pong", "tick")
    reply = spec.operations[0].reply
    assert reply is not None and reply.messages == ("ping", "pong", "tick")


def test_reply_without_channel_or_messages(write_spec: WriteSpec) -> None:
    doc = minimal()
    doc["operations"]["ping"]["reply"] = {"address": {"location": "$message.header#/replyTo"}}
    spec = load_spec(write_spec(doc))
    reply = spec.operations[0].reply
    assert reply is not None and (reply.channel, reply.messages) == (None, ())


def test_operation_message_refs_resolve_to_their_ids(write_spec: WriteSpec) -> None:
    doc = minimal()
    # Referencing the component directly (lint flags it) still finds the message.
    doc["operations"]["sendTick"]["messages"] = [{"$ref": "#/components/messages/tick"}]
    spec = load_spec(write_spec(doc))
    assert spec.operations[1].messages == ("tick",)


@pytest.mark.parametrize(
    ("fmt", "opaque"),
    [
        ("application/vnd.aai.asyncapi+json;version=3.0.0", False),
        ("application/schema+yaml;version=draft-07", False),
        ("application/vnd.apache.avro;version=1.9.0", True),
    ],
)
def test_multi_format_payloads(write_spec: WriteSpec, fmt: str, opaque: bool) -> None:
    doc = minimal()
    doc["components"]["messages"]["tick"]["payload"] = {
        "schemaFormat": fmt,
        "schema": {"type": "string"},
    }
    tick = load_spec(write_spec(doc)).message("tick")
    assert (tick.schema_format is not None) is opaque
    if not opaque:
        assert tick.payload == {"type": "string"}
        assert tick.payload_location is not None
        assert tick.payload_location.pointer.endswith("/payload/schema")


def _broken(change: Any) -> dict[str, Any]:
    doc = copy.deepcopy(minimal())
    change(doc)
    return doc


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        (lambda d: d.update(asyncapi="2.6.0"), "unsupported AsyncAPI version '2.6.0'"),
        (
            lambda d: d["operations"]["ping"].update(action="publish"),
            "action must be 'send' or 'receive'",
        ),
        (
            lambda d: d["operations"]["ping"].update(channel={"address": "x"}),
            "must reference a channel",
        ),
        (lambda d: d["components"]["messages"].update(bad=[1, 2]), "a message must be an object"),
    ],
)
def test_structural_errors(write_spec: WriteSpec, change: Any, reason: str) -> None:
    with pytest.raises(DocumentError, match=reason):
        load_spec(write_spec(_broken(change)))


def test_a_document_must_be_an_object(tmp_path: Any) -> None:
    path = tmp_path / "list.yaml"
    path.write_text("- 1\n", encoding="utf-8")
    with pytest.raises(DocumentError, match="must be an object"):
        load_spec(path)


def test_operation_traits_are_merged(write_spec: WriteSpec) -> None:
    doc = minimal()
    doc["components"]["operationTraits"] = {
        "documented": {
            "summary": "From the trait.",
            "description": "Trait text.",
            "x-cadence-ms": 2000,
        }
    }
    doc["operations"]["sendTick"]["traits"] = [{"$ref": "#/components/operationTraits/documented"}]
    doc["operations"]["sendTick"]["summary"] = "Own summary."
    operation = load_spec(write_spec(doc)).operations[1]
    assert (operation.summary, operation.description) == ("Own summary.", "Trait text.")
    assert operation.extensions == (("x-cadence-ms", 2000),)
