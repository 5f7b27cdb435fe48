"""specwire.codegen.schemas: one draft-07 bundle for every schema of a document."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jsonschema
from specdocs import WriteSpec, minimal

from specwire.codegen.build import build_spec
from specwire.codegen.loader import Workspace
from specwire.codegen.schemas import Bundle, bundle_schemas, find_tag


def _bundle(path: Path) -> Bundle:
    ws = Workspace.open(path)
    return bundle_schemas(ws, build_spec(ws))


def test_component_schemas_keep_their_names_and_inline_payloads_get_one(
    write_spec: WriteSpec,
) -> None:
    bundle = _bundle(write_spec())
    assert list(bundle.definitions) == ["Ping", "Pong", "Tick"]
    assert bundle.payloads == {"ping": "Ping", "pong": "Pong", "tick": "Tick"}
    assert bundle.origins["Tick"].pointer == "/components/messages/tick/payload"
    jsonschema.Draft7Validator.check_schema(bundle.document())


def test_refs_across_files_become_definitions(write_spec: WriteSpec) -> None:
    doc = minimal()
    doc["components"]["schemas"]["Ping"]["properties"]["meta"] = {"$ref": "common/meta.yaml#/Meta"}
    files = {
        "common/meta.yaml": {
            "Meta": {"type": "object", "properties": {"at": {"$ref": "../time.yaml"}}},
        },
        "time.yaml": {"type": "integer", "minimum": 0},
    }
    bundle = _bundle(write_spec(doc, files=files))
    ping = bundle.definitions["Ping"]
    assert ping["properties"]["meta"] == {"$ref": "#/definitions/Meta"}
    assert bundle.definitions["Meta"]["properties"]["at"] == {"$ref": "#/definitions/time"}
    assert bundle.definitions["time"] == {"type": "integer", "minimum": 0}
    frame: dict[str, Any] = {"type": "ping", "id": "1", "meta": {"at": 5}}
    jsonschema.validate(frame, {**bundle.document(), "$ref": "#/definitions/Ping"})


def test_names_never_collide(write_spec: WriteSpec) -> None:
    doc = minimal()
    # A message id equal to a schema name, inline headers, and an inline payload named like a schema.
    doc["components"]["messages"]["ping"]["payload"] = {"type": "string"}
    doc["components"]["messages"]["ping"]["headers"] = {"type": "object"}
    bundle = _bundle(write_spec(doc))
    assert bundle.payloads["ping"] == "PingPayload"
    assert bundle.headers["ping"] == "PingHeaders"
    assert len({name.lower() for name in bundle.definitions}) == len(bundle.definitions)


def test_asyncapi_keywords_are_dropped_and_data_left_alone(write_spec: WriteSpec) -> None:
    doc = minimal()
    doc["components"]["schemas"]["Ping"].update(
        {
            "discriminator": "type",
            "externalDocs": {"url": "https://example.com"},
            "x-internal": True,
            "examples": [{"$ref": "not a reference, just data"}],
            "definitions": {"Unused": {"type": "string"}},
        }
    )
    bundle = _bundle(write_spec(doc))
    ping = bundle.definitions["Ping"]
    assert not {"discriminator", "externalDocs", "x-internal", "definitions"} & set(ping)
    assert ping["examples"] == [{"$ref": "not a reference, just data"}]
    assert bundle.discriminators == {"Ping": "type"}


def test_a_default_of_the_wrong_type_is_dropped(write_spec: WriteSpec) -> None:
    doc = minimal()
    props = doc["components"]["schemas"]["Ping"]["properties"]
    props["flag"] = {"type": "boolean", "default": "false"}
    props["count"] = {"type": "integer", "default": 3}
    props["ratio"] = {"type": "number", "default": 2}
    props["level"] = {"type": ["integer", "null"], "default": True}
    bundle = _bundle(write_spec(doc))
    out = bundle.definitions["Ping"]["properties"]
    assert "default" not in out["flag"]
    assert out["count"]["default"] == 3
    assert out["ratio"]["default"] == 2
    assert "default" not in out["level"]
    assert [loc.pointer.rsplit("/", 2)[-2] for loc in bundle.dropped_defaults] == ["flag", "level"]


def test_missing_and_foreign_payloads_accept_anything(write_spec: WriteSpec) -> None:
    doc = minimal()
    del doc["components"]["messages"]["pong"]["payload"]
    doc["components"]["messages"]["tick"]["payload"] = {
        "schemaFormat": "application/vnd.apache.avro;version=1.9.0",
        "schema": {"type": "record", "name": "Tick", "fields": []},
    }
    bundle = _bundle(write_spec(doc))
    assert bundle.definitions[bundle.payloads["pong"]] == {}
    assert bundle.definitions[bundle.payloads["tick"]] == {
        "description": "Opaque application/vnd.apache.avro;version=1.9.0 payload."
    }


def test_standalone_schemas_carry_only_what_they_need(write_spec: WriteSpec) -> None:
    bundle = _bundle(write_spec())
    alone = bundle.standalone({"$ref": "#/definitions/Ping"}, ["Ping"])
    assert list(alone["definitions"]) == ["Ping"]
    assert bundle.reachable(["Ping", "Tick"]) == ["Ping", "Tick"]


def test_resolve_stops_at_unknown_or_circular_references() -> None:
    bundle = Bundle(
        definitions={"A": {"$ref": "#/definitions/B"}, "B": {"$ref": "#/definitions/A"}}
    )
    assert bundle.resolve({"$ref": "#/definitions/A"}) == {"$ref": "#/definitions/A"}
    assert bundle.resolve({"$ref": "#/definitions/Z"}) == {"$ref": "#/definitions/Z"}


def _tagged(**props: Any) -> dict[str, Any]:
    return {"type": "object", "required": list(props), "properties": props}


def test_find_tag() -> None:
    bundle = Bundle(
        definitions={
            "A": _tagged(type={"const": "a"}, kind={"const": "x"}),
            "B": _tagged(type={"const": "b"}, kind={"const": "y"}),
            "C": _tagged(type={"const": "a"}, kind={"enum": ["z"]}),
            "D": _tagged(event={"const": "d"}),
            "Ref": {"$ref": "#/definitions/A"},
            "Loose": {"type": "object", "properties": {"type": {"const": "a"}}},
        }
    )
    assert find_tag(bundle, ["A", "B"]).property == "type"  # type: ignore[union-attr]
    # 'type' clashes between A and C, so 'kind' tells them apart.
    assert find_tag(bundle, ["A", "C"]).property == "kind"  # type: ignore[union-attr]
    assert find_tag(bundle, ["D"]) is not None
    assert find_tag(bundle, ["D"]).value == "d"  # type: ignore[union-attr]
    assert find_tag(bundle, ["A", "D"]) is None
    assert find_tag(bundle, ["Loose"]) is None  # not required
    assert find_tag(bundle, []) is None
    bundle.discriminators["A"] = "kind"
    assert find_tag(bundle, ["A", "B"]).property == "kind"  # type: ignore[union-attr]
    assert find_tag(bundle, ["Ref"]).property == "type"  # type: ignore[union-attr]
