"""specwire.contract.diff: every rule, in both directions, and the ``diff`` command."""

from __future__ import annotations

import argparse
import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from specdocs import minimal

from specwire.contract.diff import (
    FORMAT,
    RULES,
    DiffReport,
    Finding,
    add_parser,
    diff_documents,
    run,
)

REPO = Path(__file__).resolve().parents[3]
DATA = REPO / "tests" / "data" / "diff"

Doc = dict[str, Any]
Edit = Callable[[Doc], None]

# The payload each direction's schema rules are tried on: `tick` is sent by the server,
# `ping` is sent by clients (the server receives it).
SERVER_SENT = ("tick", "messages/tick/payload")
CLIENT_SENT = ("ping", "messages/ping/payload")


def tick(doc: Doc) -> Doc:
    schema: Doc = doc["components"]["messages"]["tick"]["payload"]
    return schema


def ping(doc: Doc) -> Doc:
    schema: Doc = doc["components"]["schemas"]["Ping"]
    return schema


PAYLOADS: dict[str, Callable[[Doc], Doc]] = {"tick": tick, "ping": ping}


def base() -> Doc:
    """``minimal()`` with the same extra properties on a server-sent and a client-sent payload."""
    doc = minimal()
    for payload in (tick(doc), ping(doc)):
        payload["required"].extend(["count", "version"])
        payload["properties"].update(
            {
                "count": {"type": "integer", "minimum": 0, "maximum": 10},
                "version": {"const": 1},
                "kind": {"type": "string", "enum": ["a", "b"]},
                "note": {"type": ["string", "null"], "maxLength": 20, "pattern": "^x"},
                "when": {"type": "string", "format": "date-time"},
                "value": {"oneOf": [{"type": "integer"}, {"type": "string"}]},
                "entries": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "additionalProperties": False,
                        "required": ["n"],
                        "properties": {"n": {"type": "integer"}, "label": {"type": "string"}},
                    },
                },
            }
        )
    return doc


def write(path: Path, doc: Doc) -> Path:
    path.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
    return path


def compare(tmp_path: Path, edit: Edit, start: Doc | None = None) -> DiffReport:
    old = start if start is not None else base()
    new = copy.deepcopy(old)
    edit(new)
    return diff_documents(write(tmp_path / "old.yaml", old), write(tmp_path / "new.yaml", new))


def only(report: DiffReport, rule: str) -> Finding:
    found = [f for f in report.findings if f.rule == rule]
    assert len(found) == 1, report.render()
    return found[0]


def rules(report: DiffReport) -> list[str]:
    return [f.rule for f in report.findings]


# -- documents that do not change ---------------------------------------------------------


def test_identical_documents_have_no_findings(tmp_path: Path) -> None:
    report = compare(tmp_path, lambda doc: None)
    assert report.findings == ()
    assert report.breaking == ()


def test_our_document_against_itself() -> None:
    spec = REPO / "asyncapi.yaml"
    assert diff_documents(spec, spec).findings == ()


def test_descriptions_and_examples_are_not_findings(tmp_path: Path) -> None:
    def edit(doc: Doc) -> None:
        tick(doc)["properties"]["price"]["description"] = "Price in EUR."
        doc["components"]["messages"]["tick"]["examples"] = []
        doc["info"]["description"] = "Other words."

    assert compare(tmp_path, edit).findings == ()


# -- messages --------------------------------------------------------------------------


def test_message_the_server_no_longer_sends_breaks_clients(tmp_path: Path) -> None:
    report = compare(tmp_path, lambda doc: doc["operations"].pop("sendTick"))
    found = only(report, "message-removed")
    assert (found.severity, found.breaks, found.location) == (
        "breaking",
        "clients",
        "messages/tick",
    )
    assert "no longer sends" in found.text
    assert only(report, "operation-removed").breaks == "clients"


def test_message_the_server_no_longer_receives_breaks_clients(tmp_path: Path) -> None:
    def edit(doc: Doc) -> None:
        doc["operations"]["ping"]["messages"] = [{"$ref": "#/channels/live/messages/tick"}]

    report = compare(tmp_path, edit)
    removed = [f for f in report.findings if f.rule == "message-removed"]
    assert [(f.location, f.breaks) for f in removed] == [("messages/ping", "clients")]
    assert "refused" in removed[0].text
    added = only(report, "message-added")  # tick now also travels from clients
    assert (added.location, added.severity, added.breaks) == (
        "messages/tick",
        "non-breaking",
        "none",
    )


def add_message(doc: Doc, action: str, name: str) -> None:
    doc["components"]["messages"][name] = {
        "payload": {
            "type": "object",
            "additionalProperties": False,
            "required": ["type"],
            "properties": {"type": {"const": name}},
        }
    }
    doc["channels"]["live"]["messages"][name] = {"$ref": f"#/components/messages/{name}"}
    doc["operations"][name] = {
        "action": action,
        "channel": {"$ref": "#/channels/live"},
        "messages": [{"$ref": f"#/channels/live/messages/{name}"}],
    }


def test_message_the_server_starts_sending_is_not_breaking(tmp_path: Path) -> None:
    report = compare(tmp_path, lambda doc: add_message(doc, "send", "news"))
    found = only(report, "message-added")
    assert (found.severity, found.breaks, found.location) == (
        "non-breaking",
        "none",
        "messages/news",
    )
    assert "clients must ignore unknown message types" in found.text
    assert only(report, "operation-added").severity == "non-breaking"
    assert report.breaking == ()


def test_message_the_server_starts_receiving_is_not_breaking(tmp_path: Path) -> None:
    report = compare(tmp_path, lambda doc: add_message(doc, "receive", "hello"))
    found = only(report, "message-added")
    assert (found.severity, found.breaks) == ("non-breaking", "none")
    assert "servers on the new document" in found.text


def test_renamed_message_with_the_same_tag_is_information(tmp_path: Path) -> None:
    def edit(doc: Doc) -> None:
        messages = doc["components"]["messages"]
        messages["tock"] = messages.pop("tick")
        doc["channels"]["live"]["messages"]["tick"] = {"$ref": "#/components/messages/tock"}
        tick_payload = messages["tock"]["payload"]
        tick_payload["properties"]["price"]["minimum"] = 1

    report = compare(tmp_path, edit)
    renamed = only(report, "message-renamed")
    assert (renamed.severity, renamed.location) == ("info", "messages/tick")
    # The payloads are still compared, under the new id.
    assert only(report, "constraint-tightened").location == "messages/tock/payload/price"
    assert "message-removed" not in rules(report)


@pytest.mark.parametrize("name", ["tick", "ping"])
def test_changed_tag_value_breaks_both(tmp_path: Path, name: str) -> None:
    def edit(doc: Doc) -> None:
        PAYLOADS[name](doc)["properties"]["type"]["const"] = name + "2"

    report = compare(tmp_path, edit)
    assert rules(report) == ["tag-changed"]  # not also a const-changed on /type
    found = report.findings[0]
    assert (found.severity, found.breaks, found.location) == (
        "breaking",
        "both",
        f"messages/{name}",
    )
    assert f'type="{name}2"' in found.text


AVRO = "application/vnd.apache.avro;version=1.9.0"


def avro_tick(doc: Doc, price_type: str = "double") -> None:
    """The tick's payload as an Avro record: a schema language the diff cannot read."""
    message = doc["components"]["messages"]["tick"]
    message["payload"] = {
        "schemaFormat": AVRO,
        "schema": {
            "type": "record",
            "name": "Tick",
            "fields": [{"name": "price", "type": price_type}],
        },
    }
    message["examples"] = []


def test_a_payload_that_becomes_opaque_or_json_schema_breaks_both(tmp_path: Path) -> None:
    found = only(compare(tmp_path, avro_tick), "payload-opaque")
    assert (found.severity, found.breaks, found.location) == (
        "breaking",
        "both",
        "messages/tick/payload",
    )
    assert f"from JSON Schema to {AVRO}" in found.text
    opaque = base()
    avro_tick(opaque)
    back = only(compare(tmp_path, lambda doc: doc.update(base()), start=opaque), "payload-opaque")
    assert f"from {AVRO} to JSON Schema" in back.text


def test_a_change_inside_an_opaque_payload_is_a_warning_to_review(tmp_path: Path) -> None:
    opaque = base()
    avro_tick(opaque)
    assert compare(tmp_path, lambda doc: None, start=opaque).findings == ()
    report = compare(tmp_path, lambda doc: avro_tick(doc, "string"), start=opaque)
    found = only(report, "opaque-payload-changed")
    assert (found.severity, found.location) == ("warning", "messages/tick/payload")
    assert "review it by hand" in found.text
    assert report.breaking == ()


# -- schema rules, in both directions ---------------------------------------------------------


def _set(path: list[str | int], value: Any) -> Callable[[Doc], None]:
    def edit(payload: Doc) -> None:
        target: Any = payload
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value

    return edit


def _delete(path: list[str]) -> Callable[[Doc], None]:
    def edit(payload: Doc) -> None:
        target = payload
        for key in path[:-1]:
            target = target[key]
        del target[path[-1]]

    return edit


def _remove_property(name: str) -> Callable[[Doc], None]:
    def edit(payload: Doc) -> None:
        del payload["properties"][name]
        if name in payload["required"]:
            payload["required"].remove(name)

    return edit


def _add_property(name: str, required: bool) -> Callable[[Doc], None]:
    def edit(payload: Doc) -> None:
        payload["properties"][name] = {"type": "string"}
        if required:
            payload["required"].append(name)

    return edit


def _require(name: str) -> Callable[[Doc], None]:
    return lambda payload: payload["required"].append(name)


def _unrequire(name: str) -> Callable[[Doc], None]:
    return lambda payload: payload["required"].remove(name)


def _in_items(edit: Callable[[Doc], None]) -> Callable[[Doc], None]:
    return lambda payload: edit(payload["properties"]["entries"]["items"])


def _variants(edit: Callable[[list[Any]], object]) -> Callable[[Doc], None]:
    def apply(payload: Doc) -> None:
        edit(payload["properties"]["value"]["oneOf"])

    return apply


def _open(payload: Doc) -> None:
    payload["additionalProperties"] = True


# (id, edit of the payload, rule, property path, who breaks when the server sends it,
#  who breaks when clients send it). "none" means a non-breaking change.
SCHEMA_CASES: list[tuple[str, Callable[[Doc], None], str, str, str, str]] = [
    ("required-removed", _remove_property("count"), "required-property-removed", "/count", "both", "both"),
    ("optional-removed", _remove_property("kind"), "optional-property-removed", "/kind", "servers", "clients"),
    ("required-added", _add_property("extra", True), "required-property-added", "/extra", "both", "both"),
    ("optional-added", _add_property("extra", False), "optional-property-added", "/extra", "clients", "none"),
    ("became-required", _require("kind"), "property-became-required", "/kind", "servers", "clients"),
    ("became-optional", _unrequire("count"), "property-became-optional", "/count", "clients", "none"),
    ("type-narrowed-null", _set(["properties", "note", "type"], "string"), "type-narrowed", "/note", "servers", "clients"),
    ("type-widened", _set(["properties", "count", "type"], "number"), "type-widened", "/count", "clients", "none"),
    ("type-changed", _set(["properties", "count", "type"], "string"), "type-changed", "/count", "both", "both"),
    ("enum-value-added", _set(["properties", "kind", "enum"], ["a", "b", "c"]), "enum-value-added", "/kind", "clients", "none"),
    ("enum-value-removed", _set(["properties", "kind", "enum"], ["a"]), "enum-value-removed", "/kind", "servers", "clients"),
    ("enum-removed", _delete(["properties", "kind", "enum"]), "enum-removed", "/kind", "clients", "none"),
    ("enum-added", _set(["properties", "when", "enum"], ["2026-01-01T00:00:00Z"]), "enum-added", "/when", "servers", "clients"),
    ("const-changed", _set(["properties", "version", "const"], 2), "const-changed", "/version", "both", "both"),
    ("const-added", _set(["properties", "kind", "const"], "a"), "const-added", "/kind", "servers", "clients"),
    ("const-removed", _delete(["properties", "version", "const"]), "const-removed", "/version", "clients", "none"),
    ("maximum-lowered", _set(["properties", "count", "maximum"], 5), "constraint-tightened", "/count", "servers", "clients"),
    ("maximum-raised", _set(["properties", "count", "maximum"], 50), "constraint-loosened", "/count", "clients", "none"),
    ("minimum-raised", _set(["properties", "count", "minimum"], 1), "constraint-tightened", "/count", "servers", "clients"),
    ("max-length-dropped", _delete(["properties", "note", "maxLength"]), "constraint-loosened", "/note", "clients", "none"),
    ("min-items-added", _set(["properties", "entries", "minItems"], 1), "constraint-tightened", "/entries", "servers", "clients"),
    ("max-items-added", _set(["properties", "entries", "maxItems"], 3), "constraint-tightened", "/entries", "servers", "clients"),
    ("pattern-changed", _set(["properties", "note", "pattern"], "^y"), "pattern-changed", "/note", "both", "clients"),
    ("pattern-dropped", _delete(["properties", "note", "pattern"]), "constraint-loosened", "/note", "clients", "none"),
    ("extras-allowed", _open, "additional-properties-allowed", "", "clients", "none"),
    ("array-removed", _remove_property("entries"), "optional-property-removed", "/entries", "servers", "clients"),
    ("items-became-required", _in_items(_require("label")), "property-became-required", "/entries/*/label", "servers", "clients"),
    ("items-property-removed", _in_items(_remove_property("n")), "required-property-removed", "/entries/*/n", "both", "both"),
    ("variant-added", _variants(lambda members: members.append({"type": "boolean"})), "variant-added", "/value", "clients", "none"),
    ("variant-removed", _variants(lambda members: members.pop()), "variant-removed", "/value", "servers", "clients"),
    ("variant-tightened", _set(["properties", "value", "oneOf", 1, "maxLength"], 3), "constraint-tightened", "/value/oneOf/1", "servers", "clients"),
]  # fmt: skip


@pytest.mark.parametrize(
    "direction", [SERVER_SENT, CLIENT_SENT], ids=["server-sent", "client-sent"]
)
@pytest.mark.parametrize("case", [pytest.param(case, id=case[0]) for case in SCHEMA_CASES])
def test_schema_rule(
    tmp_path: Path,
    direction: tuple[str, str],
    case: tuple[str, Callable[[Doc], None], str, str, str, str],
) -> None:
    _, edit, rule, path, server_sent, client_sent = case
    name, location = direction
    report = compare(tmp_path, lambda doc: edit(PAYLOADS[name](doc)))
    found = only(report, rule)
    expected = server_sent if direction is SERVER_SENT else client_sent
    assert found.breaks == expected, found.render()
    assert found.severity == ("non-breaking" if expected == "none" else "breaking")
    assert found.location == location + path
    assert found.text.startswith(f"`{name}`: ")
    assert rule in RULES


def test_number_narrowed_to_integer(tmp_path: Path) -> None:
    # `price` is a number: integer accepts less, which old servers (writers of tick) break on.
    report = compare(tmp_path, lambda doc: tick(doc)["properties"]["price"].update(type="integer"))
    found = only(report, "type-narrowed")
    assert (found.breaks, found.location) == ("servers", "messages/tick/payload/price")
    assert "new clients reject" in found.text


@pytest.mark.parametrize(
    ("name", "required", "breaks"),
    [
        ("tick", True, "servers"),
        ("tick", False, "none"),
        ("ping", True, "clients"),
        ("ping", False, "none"),
    ],
)
def test_properties_of_an_open_object(
    tmp_path: Path, name: str, required: bool, breaks: str
) -> None:
    """Without ``additionalProperties: false`` old readers ignore new properties."""
    start = base()
    _open(PAYLOADS[name](start))
    report = compare(
        tmp_path, lambda doc: _add_property("extra", required)(PAYLOADS[name](doc)), start
    )
    rule = "required-property-added" if required else "optional-property-added"
    assert only(report, rule).breaks == breaks


@pytest.mark.parametrize(("name", "breaks"), [("tick", "clients"), ("ping", "servers")])
def test_removed_required_property_of_an_open_object_breaks_readers(
    tmp_path: Path, name: str, breaks: str
) -> None:
    start = base()
    _open(PAYLOADS[name](start))
    report = compare(tmp_path, lambda doc: _remove_property("count")(PAYLOADS[name](doc)), start)
    found = only(report, "required-property-removed")
    assert found.breaks == breaks
    assert "still accepts it" in found.text


def test_format_change_is_a_warning(tmp_path: Path) -> None:
    report = compare(tmp_path, lambda doc: tick(doc)["properties"]["when"].update(format="date"))
    found = only(report, "format-changed")
    assert (found.severity, found.breaks) == ("warning", "none")
    assert report.breaking == ()


def test_changes_inside_referenced_definitions_follow_the_property_path(tmp_path: Path) -> None:
    def shared(doc: Doc) -> None:
        doc["components"]["schemas"]["Id"] = {"type": "string", "maxLength": 10}
        ping(doc)["properties"]["id"] = {"$ref": "#/components/schemas/Id"}
        doc["components"]["schemas"]["Pong"]["properties"]["id"] = {
            "$ref": "#/components/schemas/Id"
        }

    start = base()
    shared(start)
    report = compare(
        tmp_path, lambda doc: doc["components"]["schemas"]["Id"].update(maxLength=5), start
    )
    assert [(f.location, f.breaks) for f in report.findings] == [
        ("messages/ping/payload/id", "clients"),  # old clients may send 6 to 10 characters
        ("messages/pong/payload/id", "servers"),  # old servers may send them to new clients
    ]


def test_nullable_through_any_of(tmp_path: Path) -> None:
    def edit(doc: Doc) -> None:
        tick(doc)["properties"]["count"] = {
            "anyOf": [{"type": "integer", "minimum": 0, "maximum": 10}, {"type": "null"}]
        }

    report = compare(tmp_path, edit)
    assert rules(report) == ["variant-added"]
    assert report.findings[0].location == "messages/tick/payload/count"
    assert report.findings[0].breaks == "clients"


def test_recursive_schemas_terminate(tmp_path: Path) -> None:
    def tree(doc: Doc) -> None:
        doc["components"]["schemas"]["Node"] = {
            "type": "object",
            "properties": {
                "children": {"type": "array", "items": {"$ref": "#/components/schemas/Node"}}
            },
        }
        tick(doc)["properties"]["tree"] = {"$ref": "#/components/schemas/Node"}

    start = base()
    tree(start)
    report = compare(
        tmp_path,
        lambda doc: doc["components"]["schemas"]["Node"]["properties"].update(
            name={"type": "string"}
        ),
        start,
    )
    assert [(f.rule, f.location) for f in report.findings] == [
        ("optional-property-added", "messages/tick/payload/tree/name")
    ]


# -- operations and channels -------------------------------------------------------------


def test_operation_action_changed(tmp_path: Path) -> None:
    report = compare(tmp_path, lambda doc: doc["operations"]["sendTick"].update(action="receive"))
    found = only(report, "operation-action-changed")
    assert (found.breaks, found.location) == ("both", "operations/sendTick/action")
    assert only(report, "message-removed").breaks == "clients"


def test_channel_address_changed(tmp_path: Path) -> None:
    report = compare(tmp_path, lambda doc: doc["channels"]["live"].update(address="/v2/ws"))
    found = only(report, "channel-address-changed")
    assert (found.severity, found.breaks, found.location) == (
        "breaking",
        "both",
        "channels/live/address",
    )
    assert rules(report) == ["channel-address-changed"]  # not once more per operation on it


def test_operation_moved_to_another_address(tmp_path: Path) -> None:
    def edit(doc: Doc) -> None:
        doc["channels"]["other"] = {
            "address": "/other",
            "messages": {"tick": {"$ref": "#/components/messages/tick"}},
        }
        doc["operations"]["sendTick"] = {
            "action": "send",
            "channel": {"$ref": "#/channels/other"},
            "messages": [{"$ref": "#/channels/other/messages/tick"}],
        }

    report = compare(tmp_path, edit)
    assert only(report, "operation-channel-changed").breaks == "both"
    assert only(report, "channel-added").severity == "non-breaking"


def test_channel_removed(tmp_path: Path) -> None:
    start = base()
    start["channels"]["spare"] = {"address": "/spare"}
    report = compare(tmp_path, lambda doc: doc["channels"].pop("spare"), start)
    found = only(report, "channel-removed")
    assert (found.breaks, found.location) == ("clients", "channels/spare")


def _reply(doc: Doc) -> Doc:
    reply: Doc = doc["operations"]["ping"]["reply"]
    return reply


def test_reply_removed_breaks_clients(tmp_path: Path) -> None:
    report = compare(tmp_path, lambda doc: doc["operations"]["ping"].pop("reply"))
    found = only(report, "reply-removed")
    assert (found.breaks, found.location) == ("clients", "operations/ping/reply")
    assert only(report, "message-removed").location == "messages/pong"


def test_reply_added_to_a_request_is_not_breaking(tmp_path: Path) -> None:
    start = base()
    start["operations"]["ping"].pop("reply")
    report = compare(
        tmp_path,
        lambda doc: doc["operations"]["ping"].update(
            reply={"messages": [{"$ref": "#/channels/live/messages/pong"}]}
        ),
        start,
    )
    assert only(report, "reply-added").breaks == "none"
    assert only(report, "message-added").location == "messages/pong"


def test_reply_the_server_expects_from_clients_breaks_them(tmp_path: Path) -> None:
    def edit(doc: Doc) -> None:
        doc["operations"]["sendTick"]["reply"] = {
            "messages": [{"$ref": "#/channels/live/messages/ping"}]
        }

    assert only(compare(tmp_path, edit), "reply-added").breaks == "clients"


def test_reply_messages_added_and_removed(tmp_path: Path) -> None:
    def edit(doc: Doc) -> None:
        _reply(doc)["messages"] = [{"$ref": "#/channels/live/messages/tick"}]

    report = compare(tmp_path, edit)
    added, removed = only(report, "reply-message-added"), only(report, "reply-message-removed")
    assert (added.breaks, added.location) == ("clients", "operations/ping/reply/messages/tick")
    assert (removed.breaks, removed.location) == ("clients", "operations/ping/reply/messages/pong")


def test_reply_channel_changed(tmp_path: Path) -> None:
    def edit(doc: Doc) -> None:
        doc["channels"]["answers"] = {
            "address": "/answers",
            "messages": {"pong": {"$ref": "#/components/messages/pong"}},
        }
        _reply(doc)["channel"] = {"$ref": "#/channels/answers"}
        _reply(doc)["messages"] = [{"$ref": "#/channels/answers/messages/pong"}]

    report = compare(tmp_path, edit)
    assert only(report, "reply-channel-changed").breaks == "both"


# -- servers and the handshake -----------------------------------------------------------------

BEARER = {"type": "http", "scheme": "bearer", "description": "A token in Authorization."}
QUERY_TOKEN = {"type": "httpApiKey", "in": "query", "name": "token"}


def server(doc: Doc) -> Doc:
    found: Doc = doc["servers"]["local"]
    return found


def secured(*names: str) -> Doc:
    """``base()`` whose server accepts the named schemes of ``components/securitySchemes``."""
    doc = base()
    doc["components"]["securitySchemes"] = {"bearer": BEARER, "queryToken": QUERY_TOKEN}
    server(doc)["security"] = [{"$ref": f"#/components/securitySchemes/{n}"} for n in names]
    return doc


def ws(doc: Doc) -> Doc:
    binding: Doc = doc["channels"]["live"].setdefault("bindings", {}).setdefault("ws", {})
    return binding


@pytest.mark.parametrize(
    ("field", "value"),
    [("host", "feed.example.com"), ("protocol", "wss"), ("pathname", "/v2/ws")],
)
def test_server_url_changed_breaks_both(tmp_path: Path, field: str, value: str) -> None:
    found = only(
        compare(tmp_path, lambda doc: server(doc).update({field: value})), "server-url-changed"
    )
    assert (found.severity, found.breaks, found.location) == ("breaking", "both", "servers/local")
    assert '"ws://localhost:9000/ws"' in found.text


def test_server_removed_breaks_clients_unless_another_serves_its_url(tmp_path: Path) -> None:
    start = base()
    start["servers"]["staging"] = {"host": "staging:9000", "protocol": "ws", "pathname": "/ws"}
    found = only(
        compare(tmp_path, lambda doc: doc["servers"].pop("staging"), start), "server-removed"
    )
    assert (found.severity, found.breaks, found.location) == (
        "breaking",
        "clients",
        "servers/staging",
    )

    def rename(doc: Doc) -> None:
        doc["servers"]["dev"] = doc["servers"].pop("local")

    report = compare(tmp_path, rename)
    assert (only(report, "server-removed").severity, only(report, "server-added").severity) == (
        "info",
        "non-breaking",
    )


def test_server_protocol_version_is_a_warning(tmp_path: Path) -> None:
    found = only(
        compare(tmp_path, lambda doc: server(doc).update(protocolVersion="13")),
        "server-protocol-version-changed",
    )
    assert (found.severity, found.location) == ("warning", "servers/local/protocolVersion")


def test_server_variables(tmp_path: Path) -> None:
    start = base()
    server(start)["host"] = "{region}.feed.example.com"
    server(start)["variables"] = {"region": {"$ref": "#/components/serverVariables/region"}}
    start["components"]["serverVariables"] = {
        "region": {"enum": ["eu", "us"], "default": "eu", "description": "Where."}
    }

    def edit(doc: Doc) -> None:
        doc["components"]["serverVariables"]["region"] = {"enum": ["eu", "ap"], "default": "ap"}

    report = compare(tmp_path, edit, start)
    removed = only(report, "server-variable-value-removed")
    assert (removed.breaks, removed.location) == ("clients", "servers/local/variables/region/enum")
    assert '"us"' in removed.text
    assert only(report, "server-variable-value-added").severity == "non-breaking"
    assert only(report, "server-variable-default-changed").severity == "warning"
    assert "server-url-changed" not in rules(report)


def test_credentials_now_required_break_clients(tmp_path: Path) -> None:
    def edit(doc: Doc) -> None:
        doc["components"]["securitySchemes"] = {"bearer": BEARER}
        server(doc)["security"] = [{"$ref": "#/components/securitySchemes/bearer"}]

    found = only(compare(tmp_path, edit), "security-required")
    assert (found.breaks, found.location) == ("clients", "servers/local/security")
    assert "`bearer`" in found.text


def test_credentials_no_longer_required_are_not_breaking(tmp_path: Path) -> None:
    found = only(
        compare(tmp_path, lambda doc: server(doc).pop("security"), secured("bearer")),
        "security-dropped",
    )
    assert found.severity == "non-breaking"


def test_a_way_to_authenticate_removed_or_added(tmp_path: Path) -> None:
    def drop_query(doc: Doc) -> None:
        server(doc)["security"].pop()

    found = only(
        compare(tmp_path, drop_query, secured("bearer", "queryToken")), "security-scheme-removed"
    )
    assert (found.breaks, found.location) == ("clients", "servers/local/security")
    assert "`queryToken`" in found.text

    def add_query(doc: Doc) -> None:
        server(doc)["security"].append({"$ref": "#/components/securitySchemes/queryToken"})

    found = only(compare(tmp_path, add_query, secured("bearer")), "security-scheme-added")
    assert found.severity == "non-breaking"


def test_a_scheme_that_works_differently_breaks_both(tmp_path: Path) -> None:
    def edit(doc: Doc) -> None:
        doc["components"]["securitySchemes"]["queryToken"]["name"] = "access_token"

    found = only(compare(tmp_path, edit, secured("queryToken")), "security-scheme-changed")
    assert found.breaks == "both"
    assert "access_token" in found.text


def test_scheme_descriptions_and_order_are_not_findings(tmp_path: Path) -> None:
    def edit(doc: Doc) -> None:
        doc["components"]["securitySchemes"]["bearer"]["description"] = "Other words."
        server(doc)["security"].reverse()

    assert compare(tmp_path, edit, secured("bearer", "queryToken")).findings == ()


def test_inline_schemes_are_compared_by_definition(tmp_path: Path) -> None:
    start = base()
    server(start)["security"] = [dict(QUERY_TOKEN)]

    def edit(doc: Doc) -> None:
        server(doc)["security"][0]["in"] = "header"

    found = only(compare(tmp_path, edit, start), "security-scheme-changed")
    assert "`inline httpApiKey`" in found.text


OPERATION_SECURITY = REPO / "tests" / "data" / "specs" / "operation-security-asyncapi.yml"


def test_operation_security_scopes(tmp_path: Path) -> None:
    start = yaml.safe_load(OPERATION_SECURITY.read_text(encoding="utf-8"))

    def scheme(doc: Doc) -> Doc:
        found: Doc = doc["operations"]["sendAuthRevoke"]["security"][0]
        return found

    def reworded(doc: Doc) -> None:
        flow = scheme(doc)["flows"]["clientCredentials"]
        flow["availableScopes"]["subscribe:auth_revocations"] = "Other words."
        scheme(doc)["description"] = "Other words."

    assert compare(tmp_path, reworded, start).findings == ()

    def more_scopes(doc: Doc) -> None:
        scheme(doc)["scopes"].append("admin")

    found = only(compare(tmp_path, more_scopes, start), "security-scheme-changed")
    assert (found.breaks, found.location) == ("both", "operations/sendAuthRevoke/security")
    assert "`inline oauth2` for operation `sendAuthRevoke`" in found.text

    def open_to_all(doc: Doc) -> None:
        del doc["operations"]["sendAuthRevoke"]["security"]

    assert only(compare(tmp_path, open_to_all, start), "security-dropped").breaks == "none"


def test_a_required_query_parameter_breaks_clients(tmp_path: Path) -> None:
    def edit(doc: Doc) -> None:
        ws(doc)["query"] = {
            "type": "object",
            "required": ["token"],
            "properties": {"token": {"type": "string", "minLength": 1}},
        }

    found = only(compare(tmp_path, edit), "required-property-added")
    assert (found.breaks, found.location) == ("clients", "channels/live/bindings/ws/query/token")
    assert "the handshake's query string on channel `live`" in found.text
    assert "old clients may send what the new server refuses" in found.text


def test_handshake_headers_follow_client_rules(tmp_path: Path) -> None:
    start = base()
    ws(start)["headers"] = {
        "type": "object",
        "properties": {"X-Client": {"type": "string", "enum": ["web", "cli"]}},
    }

    def edit(doc: Doc) -> None:
        ws(doc)["headers"]["properties"]["X-Client"]["enum"] = ["web", "cli", "mobile"]
        ws(doc)["headers"]["properties"]["X-Trace"] = {"type": "string"}

    report = compare(tmp_path, edit, start)
    added = only(report, "enum-value-added")
    assert (added.breaks, added.location) == (
        "none",
        "channels/live/bindings/ws/headers/X-Client",
    )
    assert only(report, "optional-property-added").breaks == "none"

    def tighten(doc: Doc) -> None:
        ws(doc)["headers"]["properties"]["X-Client"]["enum"] = ["web"]

    assert only(compare(tmp_path, tighten, start), "enum-value-removed").breaks == "clients"


def test_ws_binding_method_and_unjudged_changes(tmp_path: Path) -> None:
    start = base()
    ws(start).update(bindingVersion="0.1.0", method="GET")
    found = only(
        compare(tmp_path, lambda doc: ws(doc).update(method="POST")), "binding-method-changed"
    )
    assert (found.breaks, found.location) == ("both", "channels/live/bindings/ws/method")
    assert (
        compare(tmp_path, lambda doc: ws(doc).update(bindingVersion="0.2.0"), start).findings == ()
    )
    found = only(
        compare(tmp_path, lambda doc: ws(doc).update({"x-max-message-bytes": 1024}), start),
        "binding-changed",
    )
    assert (found.severity, found.location) == ("warning", "channels/live/bindings/ws")


def test_bindings_of_other_protocols_are_warnings(tmp_path: Path) -> None:
    start = base()
    start["channels"]["live"]["bindings"] = {"mqtt": {"qos": 1, "bindingVersion": "0.2.0"}}
    found = only(
        compare(
            tmp_path, lambda doc: doc["channels"]["live"]["bindings"]["mqtt"].update(qos=2), start
        ),
        "binding-changed",
    )
    assert (found.severity, found.location) == ("warning", "channels/live/bindings/mqtt")


KAFKA = REPO / "tests" / "data" / "specs" / "streetlights-kafka-asyncapi.yml"


def test_bindings_of_servers_operations_and_messages_are_warnings(tmp_path: Path) -> None:
    start = yaml.safe_load(KAFKA.read_text(encoding="utf-8"))
    operation = next(iter(start["operations"]))
    message = next(iter(start["components"]["messages"]))
    server = next(iter(start["servers"]))
    start["servers"][server]["bindings"] = {"kafka": {"schemaRegistryUrl": "https://a"}}
    start["components"]["messages"][message]["bindings"] = {"kafka": {"key": {"type": "string"}}}

    def edit(doc: Doc) -> None:
        trait = doc["components"]["operationTraits"]["kafka"]["bindings"]["kafka"]
        trait["clientId"]["enum"] = ["other-app-id"]  # reached through the operation's trait
        doc["components"]["messages"][message]["bindings"]["kafka"]["key"] = {"type": "integer"}
        doc["servers"][server]["bindings"]["kafka"]["schemaRegistryUrl"] = "https://b"

    report = compare(tmp_path, edit, start)
    changed = {f.location: f.severity for f in report.findings if f.rule == "binding-changed"}
    traited = [op for op, value in start["operations"].items() if value.get("traits")]
    assert operation in traited  # every operation that takes the trait gets a finding
    assert changed == {
        **{f"operations/{op}/bindings/kafka": "warning" for op in traited},
        f"messages/{message}/bindings/kafka": "warning",
        f"servers/{server}/bindings/kafka": "warning",
    }

    def version_only(doc: Doc) -> None:
        doc["servers"][server]["bindings"]["kafka"]["bindingVersion"] = "0.5.0"

    assert compare(tmp_path, version_only, start).findings == ()


def test_bindings_through_references(tmp_path: Path) -> None:
    start = base()
    start["components"]["channelBindings"] = {
        "live": {"ws": {"query": {"type": "object", "properties": {"v": {"type": "integer"}}}}}
    }
    start["channels"]["live"]["bindings"] = {"$ref": "#/components/channelBindings/live"}

    def edit(doc: Doc) -> None:
        doc["components"]["channelBindings"]["live"]["ws"]["query"]["properties"]["v"] = {
            "type": "string"
        }

    found = only(compare(tmp_path, edit, start), "type-changed")
    assert (found.breaks, found.location) == ("both", "channels/live/bindings/ws/query/v")


# -- our own document -------------------------------------------------------------------------


def ours(tmp_path: Path, edit: Edit) -> DiffReport:
    doc = yaml.safe_load((REPO / "asyncapi.yaml").read_text(encoding="utf-8"))
    edit(doc)
    return diff_documents(REPO / "asyncapi.yaml", write(tmp_path / "asyncapi.yaml", doc))


def test_dropping_the_query_token_breaks_browser_clients(tmp_path: Path) -> None:
    def edit(doc: Doc) -> None:
        doc["servers"]["local"]["security"].pop()
        del doc["channels"]["live"]["bindings"]["ws"]["query"]["properties"]["token"]

    report = ours(tmp_path, edit)
    assert only(report, "security-scheme-removed").location == "servers/local/security"
    assert only(report, "optional-property-removed").location == (
        "channels/live/bindings/ws/query/token"
    )
    assert {f.breaks for f in report.breaking} == {"clients"}


def test_removed_required_field_of_metrics_snapshot_breaks_clients(tmp_path: Path) -> None:
    def edit(doc: Doc) -> None:
        schema = doc["components"]["schemas"]["MetricsSnapshot"]
        schema["required"].remove("interval_ms")
        del schema["properties"]["interval_ms"]

    report = ours(tmp_path, edit)
    found = only(report, "required-property-removed")
    assert found.location == "messages/metricsSnapshot/payload/interval_ms"
    # Old clients rely on it; and old servers still send it, which new clients (whose
    # schema forbids unknown properties) reject.
    assert (found.severity, found.breaks) == ("breaking", "both")
    assert "old clients reject what the new server sends" in found.text


def test_new_optional_field_in_subscribe_is_not_breaking(tmp_path: Path) -> None:
    def edit(doc: Doc) -> None:
        doc["components"]["schemas"]["Subscribe"]["properties"]["client_name"] = {"type": "string"}

    report = ours(tmp_path, edit)
    found = only(report, "optional-property-added")
    assert (found.severity, found.breaks) == ("non-breaking", "none")
    assert found.location == "messages/subscribe/payload/client_name"
    assert report.breaking == ()


def test_new_error_code_breaks_clients(tmp_path: Path) -> None:
    report = ours(
        tmp_path, lambda doc: doc["components"]["schemas"]["ErrorCode"]["enum"].append("overloaded")
    )
    found = only(report, "enum-value-added")
    assert (found.severity, found.breaks, found.location) == (
        "breaking",
        "clients",
        "messages/error/payload/code",
    )


def test_new_channel_name_accepted_by_subscribe_is_reported_per_message(tmp_path: Path) -> None:
    """``ChannelName`` is read by the server (subscribe) and written by it (welcome...)."""
    report = ours(
        tmp_path, lambda doc: doc["components"]["schemas"]["ChannelName"]["enum"].append("brokers")
    )
    by_message = {f.location.split("/")[1]: f.breaks for f in report.findings}
    assert by_message["subscribe"] == "none"  # new clients need a new server to use it
    assert by_message["welcome"] == "clients"  # old clients may be told about it


# -- the report and the command ----------------------------------------------------------------


def test_breaking_findings_come_first(tmp_path: Path) -> None:
    def edit(doc: Doc) -> None:
        tick(doc)["properties"]["when"]["format"] = "date"
        add_message(doc, "send", "news")
        tick(doc)["properties"]["kind"]["enum"].append("c")

    report = compare(tmp_path, edit)
    assert [f.severity for f in report.findings] == [
        "breaking",
        "warning",
        "non-breaking",
        "non-breaking",
    ]
    lines = report.render().splitlines()
    assert lines[0].startswith("breaking (clients) messages/tick/payload/kind: `tick`: enum")
    assert lines[0].endswith("[enum-value-added]")


def test_json_report_is_stable() -> None:
    report = diff_documents(DATA / "old.yaml", DATA / "new.yaml")
    data = report.to_json()
    assert list(data) == ["format", "old", "new", "summary", "findings"]
    assert data["format"] == FORMAT == "specwire-diff/1"
    assert list(data["summary"]) == ["breaking", "warning", "non-breaking", "info"]
    for finding in data["findings"]:
        assert list(finding) == ["rule", "severity", "breaks", "location", "text"]
        assert finding["rule"] in RULES
    expected = json.loads((DATA / "expected.json").read_text(encoding="utf-8"))
    assert data["summary"] == expected["summary"]
    assert [
        [f["rule"], f["severity"], f["breaks"], f["location"]] for f in data["findings"]
    ] == expected["findings"]


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="specwire")
    add_parser(parser.add_subparsers(dest="command", required=True))
    return parser.parse_args(["diff", *argv])


def test_command_exit_codes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    old = write(tmp_path / "old.yaml", base())
    assert run(parse(str(old), str(old))) == 0
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "0 breaking, 0 warning, 0 non-breaking, 0 info" in captured.err

    doc = base()
    tick(doc)["properties"]["kind"]["enum"].append("c")  # breaking
    breaking = write(tmp_path / "breaking.yaml", doc)
    assert run(parse(str(old), str(breaking))) == 1
    assert "[enum-value-added]" in capsys.readouterr().out
    assert run(parse(str(old), str(breaking), "--fail-on", "none")) == 0

    doc = base()
    ping(doc)["properties"]["kind"]["enum"].append("c")  # not breaking
    benign = write(tmp_path / "benign.yaml", doc)
    assert run(parse(str(old), str(benign))) == 0
    assert run(parse(str(old), str(benign), "--fail-on", "any")) == 1
    assert run(parse(str(old), str(old), "--fail-on", "any")) == 0


def test_command_json_output(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    old = write(tmp_path / "old.yaml", base())
    doc = base()
    tick(doc)["properties"]["kind"]["enum"].append("c")
    new = write(tmp_path / "new.yaml", doc)
    out = tmp_path / "report.json"
    assert run(parse(str(old), str(new), "--json", str(out))) == 1
    assert "[enum-value-added]" in capsys.readouterr().out
    written = json.loads(out.read_text(encoding="utf-8"))
    assert written["summary"]["breaking"] == 1

    assert run(parse(str(old), str(new), "--json", "-")) == 1
    printed = json.loads(capsys.readouterr().out)
    assert printed == written


def test_command_defaults() -> None:
    args = parse("a.yaml", "b.yaml")
    assert (args.old, args.new, args.json, args.fail_on) == ("a.yaml", "b.yaml", None, "breaking")
    assert args.func is run


def test_unreadable_document_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    old = write(tmp_path / "old.yaml", base())
    broken = tmp_path / "broken.yaml"
    broken.write_text("asyncapi: [unclosed\n", encoding="utf-8")
    assert run(parse(str(old), str(broken))) == 2
    assert "broken.yaml:/: error: invalid YAML" in capsys.readouterr().err

    assert run(parse(str(old), str(tmp_path / "missing.yaml"))) == 2
    assert "cannot read file" in capsys.readouterr().err

    doc = base()
    tick(doc)["properties"]["count"] = {"$ref": "#/components/schemas/Nowhere"}
    dangling = write(tmp_path / "dangling.yaml", doc)
    assert run(parse(str(old), str(dangling))) == 2
    assert "dangling.yaml:/components/schemas/Nowhere: error:" in capsys.readouterr().err
