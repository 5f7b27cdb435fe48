"""Emit standalone JSON Schemas: one per message and one per direction.

Each file is a self-contained draft-07 schema, so any JSON Schema tool (jsonschema,
Ajv, a browser) can validate a frame without knowing AsyncAPI. A direction's schema
is a ``oneOf`` of its messages with an OpenAPI-style ``discriminator`` annotation
when the messages carry a tag; without a tag it is an ``anyOf``, since nothing then
makes the messages mutually exclusive.
"""

from __future__ import annotations

import json
from typing import Any

from specwire.codegen.ir import Direction, Spec
from specwire.codegen.schemas import Bundle, find_tag

__all__ = ["DIRECTION_FILES", "emit_jsonschema"]

DIRECTION_FILES = {
    Direction.SEND: "server-to-client.json",
    Direction.RECEIVE: "client-to-server.json",
}


def _dump(schema: dict[str, Any]) -> str:
    return json.dumps(schema, indent=2, ensure_ascii=False) + "\n"


def emit_jsonschema(spec: Spec, bundle: Bundle) -> dict[str, str]:
    """File name (relative, ``/``-separated) -> JSON text."""
    files: dict[str, str] = {}
    for message in spec.messages:
        definition = bundle.payloads[message.id]
        root: dict[str, Any] = {"title": message.title or message.name or message.id}
        if message.summary or message.description:
            root["description"] = message.description or message.summary
        root["$ref"] = f"#/definitions/{definition}"
        files[f"messages/{message.id}.json"] = _dump(bundle.standalone(root, [definition]))
    for direction, file_name in DIRECTION_FILES.items():
        ids = spec.messages_in(direction)
        if not ids:
            continue
        definitions = list(dict.fromkeys(bundle.payloads[m] for m in ids))
        tag = find_tag(bundle, definitions)
        who = "sends" if direction is Direction.SEND else "receives"
        root = {
            "title": f"{spec.title}: every message the application {who}",
            "oneOf" if tag else "anyOf": [{"$ref": f"#/definitions/{d}"} for d in definitions],
        }
        if tag is not None and len(definitions) > 1:
            root["discriminator"] = {"propertyName": tag.property}
        files[file_name] = _dump(bundle.standalone(root, definitions))
    files["bundle.json"] = _dump(bundle.document())
    return files
