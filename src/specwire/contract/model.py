"""What the contract runner knows about a server: only what its AsyncAPI document says.

:class:`ContractSpec` loads a document once and answers the questions the checks
ask: which messages the server may send and which the client may send, a draft-07
validator for each message's payload (from the bundled schemas, so it works for
any document without generating code), the requests with their replies and roles
(``x-specwire-*`` hints, all optional), examples, correlation ids and security
schemes. Nothing here is specific to one protocol.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jsonschema import Draft7Validator
from jsonschema.exceptions import ValidationError, best_match

from specwire.codegen.build import build_spec
from specwire.codegen.ir import Direction, Spec
from specwire.codegen.loader import Workspace
from specwire.codegen.schemas import Bundle, bundle_schemas, find_tag, object_tags
from specwire.codegen.sdk import ClientModel, Request, client_model

__all__ = [
    "Classification",
    "ContractSpec",
    "MessageInfo",
    "get_pointer",
    "set_pointer",
]

_PAYLOAD = "$message.payload#"


@dataclass(frozen=True)
class MessageInfo:
    """One message of the document, ready to validate and to send."""

    id: str
    label: str
    """The message's ``name`` (its tag value, often), else its id: for evidence."""
    schema: dict[str, Any]
    """A self-contained draft-07 schema of the payload."""
    validator: Draft7Validator
    examples: tuple[tuple[str, Any], ...]
    """``(name, payload)`` of the message's examples that carry a payload."""
    correlation: tuple[str, ...] | None
    """JSON Pointer tokens into the payload where the correlation id lives, if declared."""
    error: bool
    """Marked ``x-specwire-error: true``."""


@dataclass(frozen=True)
class Classification:
    """Which server messages a frame matches: exactly one for a valid frame."""

    matches: tuple[str, ...]
    problem: str | None
    """Why the frame is not exactly one message (``None`` when it is)."""


def _pointer_tokens(location: str) -> tuple[str, ...] | None:
    if not location.startswith(_PAYLOAD):
        return None
    pointer = location[len(_PAYLOAD) :]
    if pointer and not pointer.startswith("/"):
        return None
    return tuple(t.replace("~1", "/").replace("~0", "~") for t in pointer.split("/")[1:])


def get_pointer(value: Any, tokens: tuple[str, ...]) -> Any:
    """The value at ``tokens`` in ``value``, or ``None`` when there is none."""
    for token in tokens:
        if isinstance(value, dict) and token in value:
            value = value[token]
        elif isinstance(value, list) and token.isdigit() and int(token) < len(value):
            value = value[int(token)]
        else:
            return None
    return value


def set_pointer(value: Any, tokens: tuple[str, ...], new: Any) -> bool:
    """Set ``new`` at ``tokens`` in ``value`` (objects on the way must exist)."""
    if not tokens:
        return False
    target = get_pointer(value, tokens[:-1]) if len(tokens) > 1 else value
    if isinstance(target, dict):
        target[tokens[-1]] = new
        return True
    return False


def _error_line(error: ValidationError) -> str:
    where = "/" + "/".join(str(p) for p in error.absolute_path)
    return f"{where}: {error.message}"[:300]


class ContractSpec:
    """A loaded AsyncAPI document, seen from a client that checks the server."""

    def __init__(self, path: str | Path) -> None:
        workspace = Workspace.open(path)
        self.path = Path(path)
        self.spec: Spec = build_spec(workspace)
        self.bundle: Bundle = bundle_schemas(workspace, self.spec)
        self.server_ids = self.spec.messages_in(Direction.SEND)
        self.client_ids = self.spec.messages_in(Direction.RECEIVE)
        server_tag = find_tag(self.bundle, [self.bundle.payloads[m] for m in self.server_ids])
        client_tag = find_tag(self.bundle, [self.bundle.payloads[m] for m in self.client_ids])
        self.server_tag = server_tag.property if server_tag is not None else None
        self.client_tag = client_tag.property if client_tag is not None else None
        self.model: ClientModel = client_model(self.spec, self.server_tag)
        errors = set(self.model.errors)
        self.messages: dict[str, MessageInfo] = {}
        for message in self.spec.messages:
            definition = self.bundle.payloads[message.id]
            schema = self.bundle.standalone({"$ref": f"#/definitions/{definition}"}, [definition])
            correlation = (
                _pointer_tokens(message.correlation_id.location)
                if message.correlation_id is not None
                else None
            )
            self.messages[message.id] = MessageInfo(
                id=message.id,
                label=message.name or message.id,
                schema=schema,
                validator=Draft7Validator(schema, format_checker=Draft7Validator.FORMAT_CHECKER),
                examples=tuple(
                    (example.name or str(n), example.payload)
                    for n, example in enumerate(message.examples, 1)
                    if example.has_payload
                ),
                correlation=correlation,
                error=message.id in errors,
            )

    # -- what the document declares ---------------------------------------------------

    @property
    def title(self) -> str:
        return self.spec.title

    def requests_with_reply(self) -> Iterator[Request]:
        for request in self.model.requests:
            if request.replies or request.errors:
                yield request

    def role(self, role: str) -> Request | None:
        return self.model.role(role)

    def payload_schema(self, message_id: str) -> dict[str, Any]:
        """The resolved top-level schema of a message's payload (``{}`` when not an object)."""
        resolved = self.bundle.resolve(self.bundle.definitions[self.bundle.payloads[message_id]])
        return resolved if isinstance(resolved, dict) else {}

    def property_schema(self, message_id: str, name: str) -> dict[str, Any]:
        properties = self.payload_schema(message_id).get("properties")
        found = properties.get(name) if isinstance(properties, dict) else None
        resolved = self.bundle.resolve(found)
        return resolved if isinstance(resolved, dict) else {}

    def tag_value(self, message_id: str, tag: str | None) -> Any:
        if tag is None:
            return None
        return object_tags(self.bundle, self.bundle.payloads[message_id]).get(tag)

    def correlation_of(self, message_id: str) -> tuple[str, ...] | None:
        return self.messages[message_id].correlation

    def security_schemes(self) -> list[tuple[str, dict[str, Any]]]:
        return [
            (name, dict(scheme))
            for name, scheme in self.spec.security_schemes
            if isinstance(scheme, dict)
        ]

    def max_message_bytes(self) -> int | None:
        """A frame size limit the document's WebSocket bindings state, if any.

        The ws binding has no standard field for it; any integer field whose name says
        it is a maximum size (``maxMessageSize``, ``x-max-message-bytes``...) is taken.
        """
        for channel in self.spec.channels:
            bindings = channel.bindings if isinstance(channel.bindings, dict) else {}
            ws = bindings.get("ws")
            if not isinstance(ws, dict):
                continue
            for key, value in ws.items():
                if (
                    isinstance(value, int)
                    and not isinstance(value, bool)
                    and re.search(r"max", key, re.IGNORECASE)
                    and re.search(r"size|bytes|length", key, re.IGNORECASE)
                ):
                    return value
        return None

    def fresh_id(self, message_id: str, tokens: tuple[str, ...], serial: int, prefix: str) -> Any:
        """A new correlation id of the type the message's schema wants."""
        schema: dict[str, Any] = self.payload_schema(message_id)
        for token in tokens:
            properties = schema.get("properties")
            child = properties.get(token) if isinstance(properties, dict) else None
            resolved = self.bundle.resolve(child)
            schema = resolved if isinstance(resolved, dict) else {}
        kind = schema.get("type")
        if kind in ("integer", "number"):
            return 1_000_000 + serial
        return f"{prefix}-{serial}"

    # -- judging frames ---------------------------------------------------------------

    def classify(self, value: Any, candidates: tuple[str, ...] | None = None) -> Classification:
        """Which of ``candidates`` (default: every server message) ``value`` matches."""
        ids = self.server_ids if candidates is None else candidates
        matches = tuple(m for m in ids if self.messages[m].validator.is_valid(value))
        if len(matches) == 1:
            return Classification(matches, None)
        if matches:
            labels = ", ".join(self.messages[m].label for m in matches)
            return Classification(matches, f"ambiguous: matches {len(matches)} messages ({labels})")
        return Classification((), "matches no message: " + self.explain(value, ids))

    def explain(self, value: Any, ids: tuple[str, ...]) -> str:
        """The schema errors against the message the frame most likely meant."""
        tag = self.server_tag
        meant = [
            m
            for m in ids
            if tag is not None
            and isinstance(value, dict)
            and tag in value
            and self.tag_value(m, tag) == value[tag]
        ]
        if tag is not None and isinstance(value, dict) and not meant:
            shown = value.get(tag, "<missing>")
            return f"{tag}={shown!r} is not the tag of any message the server may send"
        lines: list[str] = []
        for message_id in meant or ids[:3]:
            validator = self.messages[message_id].validator
            errors = sorted(validator.iter_errors(value), key=lambda e: list(e.absolute_path))
            if not errors:
                continue
            first = best_match(errors)
            others = [_error_line(e) for e in errors if e is not first][:2]
            shown = [_error_line(first), *others]
            lines.append(f"as {self.messages[message_id].label}: " + "; ".join(shown))
        return " | ".join(lines) or "no schema matched"
