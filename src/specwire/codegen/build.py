"""Turn a loaded AsyncAPI 3 document into the IR (:mod:`specwire.codegen.ir`).

References are followed (across files), message traits are merged into their
messages, and every message gets its id: its key under ``components/messages``, or,
for a message that lives only in a channel, its key in that channel's ``messages``.
"""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any

from specwire.codegen.ir import (
    Channel,
    CorrelationId,
    Direction,
    Example,
    Message,
    Operation,
    Reply,
    Spec,
)
from specwire.codegen.loader import DocumentError, Location, Workspace

__all__ = ["JSON_SCHEMA_FORMATS", "build_spec", "load_spec", "merge_patch"]

JSON_SCHEMA_FORMATS = re.compile(
    r"^application/(vnd\.aai\.asyncapi|schema)(\+(json|yaml))?(;version=[\w.\-]+)?$"
)
"""``schemaFormat`` values whose schema is JSON Schema (AsyncAPI Schema or draft-07)."""


def merge_patch(target: Any, patch: Any) -> Any:
    """Apply a JSON Merge Patch (RFC 7386): the algorithm AsyncAPI uses to apply traits."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _mapping(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


class _Builder:
    def __init__(self, workspace: Workspace) -> None:
        self.ws = workspace
        self.root = Location(workspace.root)
        self.doc = workspace.document(workspace.root)
        # Every place a message can be reached at (a reference or its target) -> message id.
        self.message_ids: dict[Location, str] = {}
        self.messages: dict[str, Message] = {}
        self.channel_ids: dict[Location, str] = {}

    # -- messages ---------------------------------------------------------------------

    def _traits_applied(
        self, value: dict[str, Any], location: Location
    ) -> tuple[dict[str, Any], dict[str, Location]]:
        """The message with its traits merged in; the message's own fields win.

        Returns the merged object and, for each top-level field, where it was written,
        so that references inside it resolve relative to the right file.
        """
        merged: dict[str, Any] = {}
        origins: dict[str, Location] = {}
        traits = value.get("traits")
        for index, trait_ref in enumerate(traits if isinstance(traits, list) else ()):
            trait, trait_location = self.ws.resolve(trait_ref, location.child("traits", index))
            if isinstance(trait, list):  # a [trait, parameters] pair from AsyncAPI 2 style
                trait = trait[0] if trait else {}
            for key, field_value in _mapping(trait).items():
                origins[key] = trait_location.child(key)
                merged[key] = merge_patch(merged.get(key), field_value)
        for key, field_value in value.items():
            if key == "traits":
                continue
            origins[key] = location.child(key)
            merged[key] = merge_patch(merged.get(key), field_value)
        return merged, origins

    def _message(self, message_id: str, value: Any, location: Location) -> Message:
        if not isinstance(value, dict):
            raise DocumentError(location, "a message must be an object")
        merged, origins = self._traits_applied(value, location)
        payload = merged.get("payload")
        payload_location = origins.get("payload")
        schema_format: str | None = None
        if isinstance(payload, dict) and "schemaFormat" in payload and "schema" in payload:
            fmt = str(payload["schemaFormat"])
            if JSON_SCHEMA_FORMATS.match(fmt):
                payload = payload["schema"]
                payload_location = payload_location.child("schema") if payload_location else None
            else:
                schema_format = fmt
        correlation = None
        if "correlationId" in merged:
            corr, _ = self.ws.resolve(merged["correlationId"], origins["correlationId"])
            corr = _mapping(corr)
            correlation = CorrelationId(
                _text(corr.get("description")), str(corr.get("location", ""))
            )
        examples: list[Example] = []
        raw_examples = merged.get("examples")
        for index, raw_example in enumerate(raw_examples if isinstance(raw_examples, list) else ()):
            example = _mapping(raw_example)
            examples.append(
                Example(
                    name=_text(example.get("name")),
                    summary=_text(example.get("summary")),
                    payload=example.get("payload"),
                    headers=example.get("headers"),
                    has_payload="payload" in example,
                    has_headers="headers" in example,
                    location=origins["examples"].child(index),
                )
            )
        return Message(
            id=message_id,
            name=_text(merged.get("name")),
            title=_text(merged.get("title")),
            summary=_text(merged.get("summary")),
            description=_text(merged.get("description")),
            content_type=_text(merged.get("contentType"))
            or _text(self.doc.get("defaultContentType")),
            payload=payload,
            payload_location=payload_location,
            headers=merged.get("headers"),
            headers_location=origins.get("headers"),
            correlation_id=correlation,
            examples=tuple(examples),
            location=location,
            schema_format=schema_format,
            extensions=tuple((k, v) for k, v in merged.items() if k.startswith("x-")),
        )

    def _register_message(self, message_id: str, ref: Any, at: Location) -> str:
        value, target = self.ws.resolve(ref, at)
        known = self.message_ids.get(target)
        if known is not None:
            self.message_ids[at] = known
            return known
        unique = message_id
        counter = 2
        while unique in self.messages:
            unique = f"{message_id}{counter}"
            counter += 1
        self.messages[unique] = self._message(unique, value, target)
        self.message_ids[at] = unique
        self.message_ids[target] = unique
        return unique

    # -- document ---------------------------------------------------------------------

    def build(self) -> Spec:
        doc = self.doc
        if not isinstance(doc, dict):
            raise DocumentError(self.root, "an AsyncAPI document must be an object")
        version = str(doc.get("asyncapi", ""))
        if not re.match(r"^3\.[01]\.\d+$", version):
            raise DocumentError(
                self.root.child("asyncapi"),
                f"unsupported AsyncAPI version {version!r} (3.0.x and 3.1.x are)",
            )
        info = _mapping(doc.get("info"))
        components = _mapping(doc.get("components"))

        components_location = self.root.child("components", "messages")
        for key, value in _mapping(components.get("messages")).items():
            self._register_message(key, value, components_location.child(key))

        channels: list[Channel] = []
        for channel_id, channel_ref in _mapping(doc.get("channels")).items():
            written_at = self.root.child("channels", channel_id)
            channel, channel_location = self.ws.resolve(channel_ref, written_at)
            channel = _mapping(channel)
            self.channel_ids[written_at] = channel_id
            self.channel_ids[channel_location] = channel_id
            keys: list[tuple[str, str]] = []
            for key, message_ref in _mapping(channel.get("messages")).items():
                keys.append(
                    (
                        key,
                        self._register_message(
                            key, message_ref, channel_location.child("messages", key)
                        ),
                    )
                )
            channels.append(
                Channel(
                    id=channel_id,
                    address=_text(channel.get("address")),
                    title=_text(channel.get("title")),
                    description=_text(channel.get("description")),
                    messages=tuple(dict.fromkeys(message_id for _, message_id in keys)),
                    message_keys=tuple(keys),
                    parameters=tuple(_mapping(channel.get("parameters"))),
                    bindings=channel.get("bindings"),
                    location=channel_location,
                )
            )

        operations = [
            self._operation(
                operation_id, value, self.root.child("operations", operation_id), channels
            )
            for operation_id, value in _mapping(doc.get("operations")).items()
        ]
        return Spec(
            asyncapi=version,
            title=str(info.get("title", "")),
            version=str(info.get("version", "")),
            description=_text(info.get("description")),
            default_content_type=_text(doc.get("defaultContentType")),
            servers=tuple(_mapping(doc.get("servers")).items()),
            channels=tuple(channels),
            operations=tuple(operations),
            messages=tuple(self.messages.values()),
            schemas=tuple(_mapping(components.get("schemas")).items()),
            security_schemes=tuple(_mapping(components.get("securitySchemes")).items()),
            source=self.root,
        )

    def _channel_of(self, ref: Any, at: Location) -> str | None:
        if not isinstance(ref, dict) or "$ref" not in ref:
            return None
        target = self.ws.target(ref["$ref"], at.child("$ref"))
        if target in self.channel_ids:
            return self.channel_ids[target]
        _, resolved = self.ws.resolve(ref, at)
        return self.channel_ids.get(resolved)

    def _message_refs(self, refs: Any, at: Location) -> tuple[str, ...]:
        ids: list[str] = []
        for index, ref in enumerate(refs if isinstance(refs, list) else ()):
            ref_at = at.child(index)
            _, target = self.ws.resolve(ref, ref_at)
            written = (
                self.ws.target(ref["$ref"], ref_at.child("$ref"))
                if isinstance(ref, dict) and "$ref" in ref
                else None
            )
            message_id = self.message_ids.get(written) if written else None
            message_id = message_id or self.message_ids.get(target)
            if message_id is None:
                message_id = self._register_message(f"message{len(self.messages) + 1}", ref, ref_at)
            ids.append(message_id)
        return tuple(dict.fromkeys(ids))

    def _operation(
        self, operation_id: str, ref: Any, written_at: Location, channels: list[Channel]
    ) -> Operation:
        raw, location = self.ws.resolve(ref, written_at)
        # Operation traits (AsyncAPI 3) merge like message traits: the operation's own fields win.
        value, _ = self._traits_applied(_mapping(raw), location)
        action = value.get("action")
        if action not in ("send", "receive"):
            raise DocumentError(
                location.child("action"), f"action must be 'send' or 'receive', not {action!r}"
            )
        channel_id = self._channel_of(value.get("channel"), location.child("channel"))
        if channel_id is None:
            raise DocumentError(
                location.child("channel"), "the operation's channel must reference a channel"
            )
        channel = next(c for c in channels if c.id == channel_id)
        messages = (
            self._message_refs(value["messages"], location.child("messages"))
            if "messages" in value
            else channel.messages
        )
        reply = None
        if "reply" in value:
            reply_value, reply_location = self.ws.resolve(value["reply"], location.child("reply"))
            reply_value = _mapping(reply_value)
            reply_channel = self._channel_of(
                reply_value.get("channel"), reply_location.child("channel")
            )
            if "messages" in reply_value:
                reply_messages = self._message_refs(
                    reply_value["messages"], reply_location.child("messages")
                )
            elif reply_channel is not None:
                reply_messages = next(c for c in channels if c.id == reply_channel).messages
            else:
                reply_messages = ()
            reply = Reply(reply_channel, reply_messages, reply_location)
        return Operation(
            id=operation_id,
            action=Direction(action),
            channel=channel_id,
            messages=messages,
            reply=reply,
            title=_text(value.get("title")),
            summary=_text(value.get("summary")),
            description=_text(value.get("description")),
            extensions=tuple((k, v) for k, v in value.items() if k.startswith("x-")),
            location=location,
        )


def build_spec(workspace: Workspace) -> Spec:
    """Build the IR of the document a workspace was opened on."""
    return _Builder(workspace).build()


def load_spec(path: str | Path) -> Spec:
    """Read an AsyncAPI 3.0/3.1 document (YAML or JSON, with its referenced files) into the IR."""
    return build_spec(Workspace.open(path))
