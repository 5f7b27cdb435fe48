"""specwire.codegen.lint: each rule catches the document it is there for."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from specdocs import WriteSpec, minimal

from specwire.codegen.lint import Problem, find_metaschema, lint

REPO = Path(__file__).resolve().parents[3]
METASCHEMA = REPO / "node_modules" / "@asyncapi" / "specs" / "schemas" / "3.0.0.json"


@pytest.fixture(autouse=True)
def _metaschema_installed() -> None:
    assert METASCHEMA.is_file(), "the AsyncAPI meta-schema is missing: run `npm ci`"


def _problems(path: Path) -> list[Problem]:
    return lint(path, METASCHEMA)


def _only(problems: list[Problem], rule: str) -> list[str]:
    return [f"{p.severity}: {p.location.pointer}: {p.message}" for p in problems if p.rule == rule]


def test_the_baseline_is_clean(write_spec: WriteSpec) -> None:
    assert _problems(write_spec()) == []


def test_meta_schema(write_spec: WriteSpec) -> None:
    doc = minimal()
    del doc["info"]["version"]
    doc["channels"]["live"]["adress"] = "/typo"
    found = _only(_problems(write_spec(doc)), "meta-schema")
    assert any(
        p.startswith("error: /info:") and "'version' is a required property" in p for p in found
    )
    assert any("/channels/live" in p for p in found)


def test_meta_schema_lookup(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, write_spec: WriteSpec
) -> None:
    assert find_metaschema("3.0.0", REPO) == METASCHEMA
    assert find_metaschema("3.0.9", REPO) == METASCHEMA  # the newest of the same minor
    monkeypatch.chdir(tmp_path)
    assert find_metaschema("3.0.0", tmp_path) is None
    monkeypatch.setenv("SPECWIRE_ASYNCAPI_SPECS", str(METASCHEMA.parents[1]))
    assert find_metaschema("3.0.0", tmp_path) == METASCHEMA
    monkeypatch.delenv("SPECWIRE_ASYNCAPI_SPECS")
    path = write_spec()
    assert _only(lint(path), "meta-schema") == [
        "warning: : no @asyncapi/specs meta-schema found (npm install @asyncapi/specs)"
    ]
    assert _only(lint(path, require_metaschema=True), "meta-schema")[0].startswith("error: ")


def test_unresolved_references_anywhere(write_spec: WriteSpec) -> None:
    doc = minimal()
    doc["components"]["schemas"]["Ping"]["properties"]["meta"] = {
        "$ref": "#/components/schemas/Meta"
    }
    doc["components"]["schemas"]["Pong"]["properties"]["more"] = {"$ref": "other.yaml#/Missing"}
    problems = _problems(write_spec(doc, files={"other.yaml": {"Present": {}}}))
    assert _only(problems, "ref") == [
        "error: /components/schemas/Ping/properties/meta/$ref: unresolved reference "
        "'#/components/schemas/Meta': the reference points to nothing here",
        "error: /components/schemas/Pong/properties/more/$ref: unresolved reference "
        "'other.yaml#/Missing': the reference points to nothing here",
    ]


def test_unreadable_referenced_file(write_spec: WriteSpec) -> None:
    doc = minimal()
    doc["components"]["schemas"]["Ping"]["properties"]["meta"] = {"$ref": "broken.yaml#/X"}
    found = _only(_problems(write_spec(doc, files={"broken.yaml": "a: [\n"})), "ref")
    assert len(found) == 1
    assert "invalid YAML" in found[0]


def test_operation_messages_must_come_from_their_channel(write_spec: WriteSpec) -> None:
    doc = minimal()
    doc["operations"]["sendTick"]["messages"] = [
        {"$ref": "#/components/messages/tick"},
        {"payload": {"type": "string"}},
    ]
    doc["channels"]["other"] = {
        "address": "/other",
        "messages": {"x": {"payload": {"type": "string"}}},
    }
    doc["operations"]["ping"]["reply"]["messages"] = [{"$ref": "#/channels/other/messages/x"}]
    found = _only(_problems(write_spec(doc)), "channel-membership")
    assert found == [
        "error: /operations/ping/reply/messages/0/$ref: '#/channels/other/messages/x' is not a "
        "message of channel 'live'; reference it as '#/channels/live/messages/<name>'",
        "error: /operations/sendTick/messages/0/$ref: '#/components/messages/tick' is not a "
        "message of channel 'live'; reference it as '#/channels/live/messages/<name>'",
        "error: /operations/sendTick/messages/1: operation messages must be references to channel messages",
    ]


def test_address_parameters(write_spec: WriteSpec) -> None:
    doc = minimal()
    doc["channels"]["live"]["address"] = "/ws/{room}"
    doc["channels"]["live"]["parameters"] = {"tenant": {"description": "Tenant id."}}
    found = _only(_problems(write_spec(doc)), "address-parameters")
    assert found == [
        "error: /channels/live/address: address parameter {room} is not declared in parameters",
        "error: /channels/live/parameters/tenant: parameter 'tenant' does not appear in the address '/ws/{room}'",
    ]


def test_examples_must_match_their_schemas(write_spec: WriteSpec) -> None:
    doc = minimal()
    doc["components"]["messages"]["ping"]["examples"].append({"payload": {"type": "ping", "id": 7}})
    doc["components"]["messages"]["tick"]["examples"] = [
        {"name": "cheap", "payload": {"type": "tick", "price": -1}}
    ]
    doc["components"]["messages"]["tick"]["headers"] = {"type": "object", "required": ["trace"]}
    doc["components"]["messages"]["tick"]["examples"].append({"headers": {}})
    del doc["components"]["messages"]["pong"]["examples"]
    found = _only(_problems(write_spec(doc)), "examples")
    assert found == [
        "error: /components/messages/ping/examples/1/payload: example #1 does not match the payload "
        "schema at '/id': 7 is not of type 'string'",
        "error: /components/messages/tick/examples/0/payload: example cheap does not match the "
        "payload schema at '/price': -1 is less than the minimum of 0",
        "error: /components/messages/tick/examples/1/headers: example #1 does not match the headers "
        "schema at '/': 'trace' is a required property",
        "warning: /components/messages/pong: message 'pong' has no examples",
    ]


def _same_tag(doc: dict[str, Any]) -> None:
    doc["components"]["schemas"]["Pong"]["properties"]["type"]["const"] = "ping"
    doc["components"]["messages"]["pong"]["examples"] = [{"payload": {"type": "ping", "id": "p"}}]


def _no_tag(doc: dict[str, Any]) -> None:
    for name in ("Ping", "Pong"):
        doc["components"]["schemas"][name]["required"] = ["id"]


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (
            _same_tag,
            "error: /channels/live/messages: messages 'ping' and 'pong' share type=\"ping\"; a frame cannot be told apart",
        ),
        (
            _no_tag,
            "warning: /channels/live/messages: the channel's messages have no common constant tag "
            "(such as a 'type' property with 'const'); a frame is told apart only by trying each schema",
        ),
    ],
)
def test_messages_sharing_a_channel_must_be_told_apart(
    write_spec: WriteSpec, change: Callable[[dict[str, Any]], None], expected: str
) -> None:
    doc = minimal()
    change(doc)
    assert _only(_problems(write_spec(doc)), "exclusive-messages") == [expected]


def test_weak_but_legal_documents_get_warnings(write_spec: WriteSpec) -> None:
    doc = minimal()
    doc["components"]["messages"]["tick"]["payload"] = {
        "schemaFormat": "application/vnd.apache.avro;version=1.9.0",
        "schema": {"type": "record", "name": "Tick", "fields": []},
    }
    doc["components"]["schemas"]["Ping"]["properties"]["flag"] = {
        "type": "boolean",
        "default": "no",
    }
    problems = _problems(write_spec(doc))
    assert {p.severity for p in problems} == {"warning"}
    # An opaque payload has no tag either, so the channel's messages cannot be told apart.
    assert {p.rule for p in problems} == {"payload-format", "default", "exclusive-messages"}


def test_a_document_that_does_not_parse(tmp_path: Path) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text("asyncapi: [\n", encoding="utf-8")
    (problem,) = lint(path, METASCHEMA)
    assert (problem.severity, problem.rule) == ("error", "parse")
    assert problem.render(tmp_path).startswith("broken.yaml:/: error: invalid YAML")


def test_a_structural_error_after_refs_resolve(write_spec: WriteSpec) -> None:
    doc = minimal()
    doc["operations"]["ping"]["action"] = "publish"
    problems = _problems(write_spec(doc))
    assert [p.rule for p in problems if p.rule == "structure"] == ["structure"]
