"""Emit the protocol reference as Markdown: every message, field, type, unit and example."""

from __future__ import annotations

import json
from typing import Any

from specwire.codegen.ir import Direction, Message, Spec
from specwire.codegen.schemas import Bundle

__all__ = ["emit_markdown"]

_CONSTRAINTS = (
    ("minimum", "≥ {}"),
    ("exclusiveMinimum", "> {}"),
    ("maximum", "≤ {}"),
    ("exclusiveMaximum", "< {}"),
    ("minLength", "min length {}"),
    ("maxLength", "max length {}"),
    ("minItems", "min items {}"),
    ("maxItems", "max items {}"),
    ("pattern", "pattern `{}`"),
    ("format", "format `{}`"),
    ("multipleOf", "multiple of {}"),
)


def _anchor(name: str) -> str:
    return "type-" + "".join(ch.lower() if ch.isalnum() else "-" for ch in name)


def _cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


class _Writer:
    def __init__(self, spec: Spec, bundle: Bundle) -> None:
        self.spec = spec
        self.bundle = bundle
        self.lines: list[str] = []
        self.types: list[str] = []

    def type_of(self, schema: Any) -> str:
        if schema is True or schema == {}:
            return "any"
        if not isinstance(schema, dict):
            return "never"
        if "$ref" in schema:
            name = schema["$ref"].removeprefix("#/definitions/")
            if name not in self.types:
                self.types.append(name)
            return f"[{name}](#{_anchor(name)})"
        if "const" in schema:
            return f"`{json.dumps(schema['const'])}`"
        if "enum" in schema:
            return " \\| ".join(f"`{json.dumps(v)}`" for v in schema["enum"])
        for key in ("oneOf", "anyOf"):
            if key in schema:
                word = "one of" if key == "oneOf" else "any of"
                return f"{word}: " + ", ".join(self.type_of(s) for s in schema[key])
        if "allOf" in schema:
            return "all of: " + ", ".join(self.type_of(s) for s in schema["allOf"])
        kind = schema.get("type")
        kinds = kind if isinstance(kind, list) else [kind] if kind else []
        parts: list[str] = []
        for k in kinds:
            if k == "array":
                parts.append(f"array of {self.type_of(schema.get('items', {}))}")
            elif (
                k == "object"
                and isinstance(schema.get("additionalProperties"), dict)
                and not schema.get("properties")
            ):
                parts.append(f"map of string to {self.type_of(schema['additionalProperties'])}")
            else:
                parts.append(str(k))
        return " \\| ".join(parts) or "any"

    def constraints(self, schema: Any) -> str:
        if not isinstance(schema, dict):
            return ""
        found = [template.format(schema[key]) for key, template in _CONSTRAINTS if key in schema]
        if "default" in schema:
            found.append(f"default `{json.dumps(schema['default'])}`")
        return "; ".join(found)

    def fields(self, schema: Any) -> None:
        schema = schema if isinstance(schema, dict) else {}
        properties = schema.get("properties")
        if not isinstance(properties, dict) or not properties:
            self.lines += [f"Type: {self.type_of(schema)}", ""]
            if desc := schema.get("description"):
                self.lines += [str(desc).strip(), ""]
            return
        if desc := schema.get("description"):
            self.lines += [str(desc).strip(), ""]
        required = set(schema.get("required", []))
        self.lines += ["| Field | Type | Required | Description |", "|---|---|---|---|"]
        for name, raw_prop in properties.items():
            prop = raw_prop if isinstance(raw_prop, dict) else {}
            target = self.bundle.resolve(prop)
            description = prop.get("description") or (
                target.get("description") if isinstance(target, dict) else ""
            )
            extra = self.constraints(prop)
            text = _cell(str(description or "")) + (f" ({extra})" if extra else "")
            needed = "yes" if name in required else "no"
            self.lines.append(f"| `{name}` | {self.type_of(raw_prop)} | {needed} | {text} |")
        closed = schema.get("additionalProperties") is False
        self.lines += [
            "",
            "No other fields are allowed." if closed else "Other fields are allowed.",
            "",
        ]

    def message(self, message: Message, directions: dict[str, str]) -> None:
        self.lines += [f"### `{message.name or message.id}`", ""]
        if message.title:
            self.lines += [f"**{message.title}**", ""]
        facts = [f"id `{message.id}`", directions.get(message.id, "not used by any operation")]
        if message.correlation_id:
            facts.append(f"correlation id at `{message.correlation_id.location}`")
        if message.content_type:
            facts.append(f"content type `{message.content_type}`")
        self.lines += ["; ".join(facts) + ".", ""]
        for text in (message.summary, message.description):
            if text and text.strip():
                self.lines += [text.strip(), ""]
        definition = self.bundle.payloads[message.id]
        self.lines += [f"Payload: [{definition}](#{_anchor(definition)})", ""]
        if definition not in self.types:
            self.types.append(definition)
        if message.id in self.bundle.headers:
            headers = self.bundle.headers[message.id]
            self.lines += [f"Headers: [{headers}](#{_anchor(headers)})", ""]
            if headers not in self.types:
                self.types.append(headers)
        for example in message.examples:
            if not example.has_payload:
                continue
            title = example.name or "example"
            self.lines.append(
                f"Example `{title}`" + (f": {example.summary.strip()}" if example.summary else "")
            )
            self.lines += [
                "",
                "```json",
                json.dumps(example.payload, indent=2, ensure_ascii=False),
                "```",
                "",
            ]

    def write(self) -> str:
        spec = self.spec
        self.lines += [f"# {spec.title} {spec.version}: protocol reference", ""]
        self.lines += [
            f"Generated from the AsyncAPI {spec.asyncapi} document; do not edit: change the "
            "document and regenerate.",
            "",
        ]
        if spec.description:
            self.lines += [spec.description.strip(), ""]
        if spec.servers:
            self.lines += [
                "## Servers",
                "",
                "| Server | Host | Protocol | Path |",
                "|---|---|---|---|",
            ]
            for name, raw_server in spec.servers:
                server = raw_server if isinstance(raw_server, dict) else {}
                host, path = server.get("host", ""), server.get("pathname", "")
                self.lines.append(
                    f"| `{name}` | `{host}` | {server.get('protocol', '')} | `{path}` |"
                )
            self.lines.append("")
        directions: dict[str, str] = {}
        for direction, text in (
            (Direction.SEND, "server to client"),
            (Direction.RECEIVE, "client to server"),
        ):
            for message_id in spec.messages_in(direction):
                directions[message_id] = text if message_id not in directions else "both directions"
        if spec.operations:
            self.lines += [
                "## Operations",
                "",
                "| Operation | Action | Messages | Reply |",
                "|---|---|---|---|",
            ]
            for op in spec.operations:
                names = ", ".join(f"`{spec.message(m).name or m}`" for m in op.messages)
                reply = (
                    ", ".join(f"`{spec.message(m).name or m}`" for m in op.reply.messages)
                    if op.reply
                    else ""
                )
                summary = f" {_cell(op.summary)}" if op.summary else ""
                self.lines.append(f"| `{op.id}`{summary} | {op.action.value} | {names} | {reply} |")
            self.lines.append("")
        self.lines += ["## Messages", ""]
        for message in spec.messages:
            self.message(message, directions)
        self.lines += ["## Types", ""]
        index = 0
        while index < len(self.types):
            name = self.types[index]
            index += 1
            self.lines += [f'<a id="{_anchor(name)}"></a>', "", f"### {name}", ""]
            self.fields(self.bundle.definitions[name])
        return "\n".join(self.lines).rstrip() + "\n"


def emit_markdown(spec: Spec, bundle: Bundle) -> str:
    """The protocol reference page for ``spec``."""
    return _Writer(spec, bundle).write()
