"""``specwire check``: the rules a sound AsyncAPI 3 document keeps, beyond parsing.

Errors make a document unfit to generate from or to hold a server to; warnings mark
what is legal but weak (no examples, messages a client cannot tell apart). Third-party
documents therefore get warnings, not failures, for style.

Rules:

* ``meta-schema``: the document validates against the official AsyncAPI meta-schema
  (the ``@asyncapi/specs`` npm package, when it can be found).
* ``ref``: every ``$ref`` resolves, in this file or another.
* ``channel-membership``: an operation's messages, and its reply's, are messages of
  its channel (of the reply's channel), referenced through that channel.
* ``address-parameters``: every ``{parameter}`` in a channel address is declared,
  and every declared parameter is used.
* ``examples``: every message example validates against its payload and headers.
* ``exclusive-messages``: messages that share a channel can be told apart by a
  ``const`` tag; a shared tag value is an error, no tag at all a warning.
* ``payload-format`` (warning): a payload whose ``schemaFormat`` is not JSON Schema
  (Avro, Protobuf...) is treated as opaque.
* ``default`` (warning): a ``default`` that does not have its schema's type is ignored.
* ``parse`` and ``structure``: the document cannot be read, or lacks what every
  document needs (a supported version, operations with an action and a channel).
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import jsonschema
import jsonschema.exceptions

from specwire.codegen.build import build_spec
from specwire.codegen.ir import Spec
from specwire.codegen.loader import DocumentError, Location, Workspace
from specwire.codegen.schemas import Bundle, bundle_schemas, find_tag, object_tags

__all__ = ["Problem", "find_metaschema", "lint"]

Severity = Literal["error", "warning"]
_DATA_KEYS = frozenset({"examples", "example", "const", "enum", "default"})


@dataclass(frozen=True, order=True)
class Problem:
    location: Location
    severity: Severity
    rule: str
    message: str

    def render(self, base: Path | None = None) -> str:
        return f"{self.location.display(base)}: {self.severity}: {self.message} [{self.rule}]"


def find_metaschema(version: str, start: Path) -> Path | None:
    """The official meta-schema for ``version`` from an installed ``@asyncapi/specs``.

    Looked up in ``$SPECWIRE_ASYNCAPI_SPECS`` (the package folder), then in every
    ``node_modules`` from ``start`` up, then from the current directory up.
    """
    candidates: list[Path] = []
    if env := os.environ.get("SPECWIRE_ASYNCAPI_SPECS"):
        candidates.append(Path(env))
    for base in (start.resolve(), Path.cwd().resolve()):
        candidates.extend(
            folder / "node_modules" / "@asyncapi" / "specs" for folder in (base, *base.parents)
        )
    for package in candidates:
        exact = package / "schemas" / f"{version}.json"
        if exact.is_file():
            return exact
        minor = ".".join(version.split(".")[:2])
        same_minor = sorted((package / "schemas").glob(f"{minor}.*[0-9].json"))
        if same_minor:
            return same_minor[-1]
    return None


class _Linter:
    def __init__(
        self, workspace: Workspace, metaschema: Path | None, require_metaschema: bool
    ) -> None:
        self.ws = workspace
        self.root = Location(workspace.root)
        self.metaschema = metaschema
        self.require_metaschema = require_metaschema
        self.problems: list[Problem] = []

    def add(self, location: Location, severity: Severity, rule: str, message: str) -> None:
        self.problems.append(Problem(location, severity, rule, message))

    # -- document-level rules -----------------------------------------------------------

    def check_metaschema(self) -> None:
        doc = self.ws.document(self.ws.root)
        version = str(doc.get("asyncapi", "")) if isinstance(doc, dict) else ""
        path = self.metaschema or find_metaschema(version, self.ws.root.parent)
        if path is None:
            severity: Severity = "error" if self.require_metaschema else "warning"
            self.add(
                self.root,
                severity,
                "meta-schema",
                "no @asyncapi/specs meta-schema found (npm install @asyncapi/specs)",
            )
            return
        schema = json.loads(path.read_text(encoding="utf-8"))
        validator = jsonschema.validators.validator_for(schema)(schema)
        for error in sorted(
            validator.iter_errors(doc), key=lambda e: [str(p) for p in e.absolute_path]
        ):
            best = jsonschema.exceptions.best_match([error]) or error
            location = Location(self.ws.root, "".join(f"/{p}" for p in best.absolute_path))
            self.add(location, "error", "meta-schema", best.message)

    def walk_refs(
        self, value: Any, location: Location, seen_files: set[Path]
    ) -> Iterator[tuple[str, Location]]:
        if isinstance(value, dict):
            ref = value.get("$ref")
            if isinstance(ref, str):
                yield ref, location
            for key, item in value.items():
                if key not in _DATA_KEYS and not str(key).startswith("x-"):
                    yield from self.walk_refs(item, location.child(str(key)), seen_files)
        elif isinstance(value, list):
            for index, item in enumerate(value):
                yield from self.walk_refs(item, location.child(index), seen_files)

    def check_refs(self) -> bool:
        ok = True
        pending = [self.ws.root]
        seen: set[Path] = set()
        while pending:
            file = pending.pop()
            if file in seen:
                continue
            seen.add(file)
            try:
                doc = self.ws.document(file)
            except DocumentError as exc:
                self.add(exc.location, "error", "ref", exc.reason)
                ok = False
                continue
            for ref, at in self.walk_refs(doc, Location(file), seen):
                try:
                    target = self.ws.target(ref, at)
                    self.ws.get(target)
                except DocumentError as exc:
                    self.add(
                        at.child("$ref"),
                        "error",
                        "ref",
                        f"unresolved reference {ref!r}: {exc.reason}",
                    )
                    ok = False
                    continue
                if target.file not in seen:
                    pending.append(target.file)
        return ok

    # -- IR-level rules -----------------------------------------------------------------

    def check_membership(self, spec: Spec) -> None:
        doc = self.ws.document(self.ws.root)
        for operation in spec.operations:
            raw = doc["operations"][operation.id]
            raw, op_location = self.ws.resolve(raw, self.root.child("operations", operation.id))
            self._members(
                raw.get("messages"), op_location.child("messages"), operation.channel, "operation"
            )
            reply = raw.get("reply")
            if isinstance(reply, dict) and operation.reply is not None:
                reply, reply_location = self.ws.resolve(reply, op_location.child("reply"))
                channel = operation.reply.channel or operation.channel
                if "channel" in reply or operation.reply.channel is None:
                    self._members(
                        reply.get("messages"), reply_location.child("messages"), channel, "reply"
                    )

    def _members(self, refs: Any, location: Location, channel_id: str, what: str) -> None:
        channel_location = Location(self.ws.root, f"/channels/{channel_id}")
        channel, channel_at = self.ws.at(channel_location)
        allowed = {
            channel_location.child("messages", key) for key in (channel.get("messages") or {})
        }
        allowed |= {channel_at.child("messages", key) for key in (channel.get("messages") or {})}
        for index, ref in enumerate(refs if isinstance(refs, list) else ()):
            at = location.child(index)
            if not isinstance(ref, dict) or not isinstance(ref.get("$ref"), str):
                self.add(
                    at,
                    "error",
                    "channel-membership",
                    f"{what} messages must be references to channel messages",
                )
                continue
            target = self.ws.target(ref["$ref"], at.child("$ref"))
            if target not in allowed:
                self.add(
                    at.child("$ref"),
                    "error",
                    "channel-membership",
                    f"{ref['$ref']!r} is not a message of channel {channel_id!r}; "
                    f"reference it as '#/channels/{channel_id}/messages/<name>'",
                )

    def check_parameters(self, spec: Spec) -> None:
        for channel in spec.channels:
            used = re.findall(r"\{([^{}]+)\}", channel.address or "")
            for name in used:
                if name not in channel.parameters:
                    self.add(
                        channel.location.child("address"),
                        "error",
                        "address-parameters",
                        f"address parameter {{{name}}} is not declared in parameters",
                    )
            for name in channel.parameters:
                if name not in used:
                    self.add(
                        channel.location.child("parameters", name),
                        "error",
                        "address-parameters",
                        f"parameter {name!r} does not appear in the address {channel.address!r}",
                    )

    def check_examples(self, spec: Spec, bundle: Bundle) -> None:
        registry_doc = bundle.document()
        for message in spec.messages:
            if not message.examples:
                self.add(
                    message.location,
                    "warning",
                    "examples",
                    f"message {message.id!r} has no examples",
                )
            if message.schema_format:
                self.add(
                    message.location.child("payload"),
                    "warning",
                    "payload-format",
                    f"payload schemaFormat {message.schema_format!r} is not JSON Schema; "
                    "the payload is treated as opaque",
                )
                continue
            for example in message.examples:
                parts = [
                    (
                        "payload",
                        bundle.payloads.get(message.id),
                        example.payload,
                        example.has_payload,
                    )
                ]
                parts.append(
                    (
                        "headers",
                        bundle.headers.get(message.id),
                        example.headers,
                        example.has_headers,
                    )
                )
                for part, definition, value, present in parts:
                    if not present or definition is None:
                        continue
                    schema = {**registry_doc, "$ref": f"#/definitions/{definition}"}
                    validator = jsonschema.Draft7Validator(
                        schema, format_checker=jsonschema.Draft7Validator.FORMAT_CHECKER
                    )
                    label = example.name or "#" + example.location.pointer.rsplit("/", 1)[-1]
                    for error in validator.iter_errors(value):
                        path = "".join(f"/{p}" for p in error.absolute_path) or "/"
                        self.add(
                            example.location.child(part),
                            "error",
                            "examples",
                            f"example {label} does not match the {part} schema at {path!r}:"
                            f" {error.message}",
                        )

    def check_exclusive(self, spec: Spec, bundle: Bundle) -> None:
        for channel in spec.channels:
            definitions = list(dict.fromkeys(bundle.payloads[m] for m in channel.messages))
            if len(definitions) < 2 or find_tag(bundle, definitions) is not None:
                continue
            clashes = self._tag_clashes(spec, bundle, channel.messages)
            if clashes:
                for message_a, message_b, prop, value in clashes:
                    self.add(
                        channel.location.child("messages"),
                        "error",
                        "exclusive-messages",
                        f"messages {message_a!r} and {message_b!r} share"
                        f" {prop}={json.dumps(value)}; a frame cannot be told apart",
                    )
            else:
                self.add(
                    channel.location.child("messages"),
                    "warning",
                    "exclusive-messages",
                    "the channel's messages have no common constant tag (such as a 'type'"
                    " property with 'const'); a frame is told apart only by trying each schema",
                )

    @staticmethod
    def _tag_clashes(
        spec: Spec, bundle: Bundle, message_ids: tuple[str, ...]
    ) -> list[tuple[str, str, str, Any]]:
        tags = {m: object_tags(bundle, bundle.payloads[m]) for m in message_ids}
        common = set.intersection(*(set(t) for t in tags.values())) if tags else set()
        clashes: list[tuple[str, str, str, Any]] = []
        for prop in sorted(common):
            owners: dict[str, str] = {}
            for message_id, message_tags in tags.items():
                key = json.dumps(message_tags[prop])
                if key in owners and bundle.payloads[owners[key]] != bundle.payloads[message_id]:
                    clashes.append((owners[key], message_id, prop, message_tags[prop]))
                owners.setdefault(key, message_id)
        return clashes

    def run(self) -> list[Problem]:
        self.check_metaschema()
        if self.check_refs():
            try:
                spec = build_spec(self.ws)
                bundle = bundle_schemas(self.ws, spec)
            except DocumentError as exc:
                self.add(exc.location, "error", "structure", exc.reason)
            else:
                self.check_membership(spec)
                self.check_parameters(spec)
                self.check_examples(spec, bundle)
                self.check_exclusive(spec, bundle)
                for location in bundle.dropped_defaults:
                    self.add(
                        location,
                        "warning",
                        "default",
                        "the default does not have the schema's type; it is ignored",
                    )
        return sorted(
            set(self.problems), key=lambda p: (p.severity != "error", p.location, p.message)
        )


def lint(
    path: str | Path, metaschema: Path | None = None, *, require_metaschema: bool = False
) -> list[Problem]:
    """Every problem in the document at ``path`` (errors first)."""
    try:
        workspace = Workspace.open(path)
    except DocumentError as exc:
        return [Problem(exc.location, "error", "parse", exc.reason)]
    return _Linter(workspace, metaschema, require_metaschema).run()
