"""Bundle every schema of a document into one JSON Schema with ``definitions``.

AsyncAPI schemas are JSON Schema draft-07 plus a few keywords, spread over
``components/schemas``, inline payloads and other files. The bundle gathers them
into one self-contained draft-07 document: every ``$ref`` (local or to another file)
becomes ``#/definitions/<name>``, AsyncAPI-only keywords are dropped, and each
message's payload and headers get a definition of their own. The JSON Schema and
Python emitters both start from it, so a frame is judged by the same schema
everywhere.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from specwire.codegen.ir import Message, Spec, Tag
from specwire.codegen.loader import Location, Workspace

__all__ = ["DRAFT_07", "Bundle", "bundle_schemas", "find_tag", "object_tags"]

DRAFT_07 = "http://json-schema.org/draft-07/schema#"

_SCHEMA_MAPS = frozenset({"properties", "patternProperties", "dependencies"})
_SCHEMA_LISTS = frozenset({"allOf", "anyOf", "oneOf"})
_SCHEMA_VALUES = frozenset(
    {
        "additionalProperties",
        "additionalItems",
        "contains",
        "propertyNames",
        "not",
        "if",
        "then",
        "else",
        "items",
    }
)
_DROPPED = frozenset({"discriminator", "externalDocs", "definitions", "$defs", "$id", "$schema"})


@dataclass
class Bundle:
    """One draft-07 document holding every schema of a spec under ``definitions``."""

    definitions: dict[str, Any] = field(default_factory=dict)
    payloads: dict[str, str] = field(default_factory=dict)
    """Message id -> the definition of its payload."""
    headers: dict[str, str] = field(default_factory=dict)
    """Message id -> the definition of its headers, for messages that declare headers."""
    origins: dict[str, Location] = field(default_factory=dict)
    discriminators: dict[str, str] = field(default_factory=dict)
    """Definition -> the property its AsyncAPI ``discriminator`` names."""
    dropped_defaults: list[Location] = field(default_factory=list)
    """Where a ``default`` did not match its own schema's type and was left out."""
    extras: dict[str, str] = field(default_factory=dict)
    """Key -> the definition of a schema bundled on request (see :func:`bundle_schemas`)."""

    def document(self) -> dict[str, Any]:
        return {"$schema": DRAFT_07, "definitions": self.definitions}

    def reachable(self, roots: list[str]) -> list[str]:
        """Definitions that ``roots`` need, in bundle order."""
        seen: set[str] = set()
        stack = list(roots)
        while stack:
            name = stack.pop()
            if name in seen:
                continue
            seen.add(name)
            stack.extend(_refs_in(self.definitions[name]))
        return [name for name in self.definitions if name in seen]

    def standalone(self, root: dict[str, Any], uses: list[str]) -> dict[str, Any]:
        """A self-contained schema: ``root`` plus the definitions it needs."""
        names = self.reachable(uses)
        return {"$schema": DRAFT_07, **root, "definitions": {n: self.definitions[n] for n in names}}

    def resolve(self, schema: Any) -> Any:
        """Follow ``#/definitions/...`` references at the top of a bundled schema."""
        seen: set[str] = set()
        while isinstance(schema, dict) and isinstance(schema.get("$ref"), str):
            name = schema["$ref"].removeprefix("#/definitions/")
            if name in seen or name not in self.definitions:
                return schema
            seen.add(name)
            schema = self.definitions[name]
        return schema


def _refs_in(schema: Any) -> list[str]:
    found: list[str] = []
    if isinstance(schema, dict):
        for key, value in schema.items():
            if key == "$ref" and isinstance(value, str) and value.startswith("#/definitions/"):
                found.append(value.removeprefix("#/definitions/"))
            elif key not in ("const", "enum", "examples", "default", "example"):
                found.extend(_refs_in(value))
    elif isinstance(schema, list):
        for item in schema:
            found.extend(_refs_in(item))
    return found


_JSON_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "integer": (int,),
    "number": (int, float),
    "boolean": (bool,),
    "array": (list,),
    "object": (dict,),
    "null": (type(None),),
}


def _matches_type(value: Any, declared: Any) -> bool:
    """Whether ``value`` has one of the JSON types a schema's ``type`` lists (any, if none)."""
    names = (
        declared if isinstance(declared, list) else [declared] if isinstance(declared, str) else []
    )
    if not names:
        return True
    for name in names:
        kinds = _JSON_TYPES.get(name, ())
        if isinstance(value, bool) and name not in ("boolean",):
            continue
        if isinstance(value, kinds) or (
            name == "integer" and isinstance(value, float) and value.is_integer()
        ):
            return True
    return False


def _identifier(text: str) -> str:
    words = [w for w in re.split(r"[^0-9A-Za-z]+", text) if w]
    name = "".join(w[0].upper() + w[1:] for w in words) or "Schema"
    return f"Schema{name}" if name[0].isdigit() else name


class _Bundler:
    def __init__(
        self, workspace: Workspace, spec: Spec, extras: Mapping[str, tuple[Any, Location]]
    ) -> None:
        self.ws = workspace
        self.spec = spec
        self.extras = extras
        self.bundle = Bundle()
        self.names: dict[Location, str] = {}
        self.taken: set[str] = set()

    def _claim(self, wanted: str) -> str:
        name, counter = wanted, 2
        while name.lower() in self.taken:
            name = f"{wanted}{counter}"
            counter += 1
        self.taken.add(name.lower())
        return name

    def name_for(self, target: Location) -> str:
        """The definition for the schema at ``target``, bundling it on first sight."""
        if target in self.names:
            return self.names[target]
        tokens = target.pointer.split("/")
        if (
            target.file == self.spec.source.file
            and len(tokens) == 4
            and tokens[1:3] == ["components", "schemas"]
        ):
            wanted = tokens[3].replace("~1", "/").replace("~0", "~")
        elif target.pointer:
            wanted = tokens[-1].replace("~1", "/").replace("~0", "~")
        else:
            wanted = target.file.stem
        name = self._claim(
            wanted if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", wanted) else _identifier(wanted)
        )
        self.names[target] = name
        self.bundle.definitions[name] = {}
        schema, location = self.ws.at(target)
        self.bundle.origins[name] = location
        self.bundle.definitions[name] = self.convert(schema, location, name)
        return name

    def convert(self, schema: Any, location: Location, owner: str | None = None) -> Any:
        if not isinstance(schema, dict):
            return schema
        out: dict[str, Any] = {}
        for key, value in schema.items():
            here = location.child(key)
            if key == "$ref" and isinstance(value, str):
                out[key] = "#/definitions/" + self.name_for(self.ws.target(value, here))
            elif key == "discriminator":
                if owner is not None and isinstance(value, str):
                    self.bundle.discriminators[owner] = value
            elif key in _DROPPED or key.startswith("x-"):
                continue
            elif key == "default" and not _matches_type(value, schema.get("type")):
                self.bundle.dropped_defaults.append(here)
            elif key in _SCHEMA_MAPS and isinstance(value, dict):
                out[key] = {
                    k: self.convert(v, here.child(k)) if isinstance(v, dict) else v
                    for k, v in value.items()
                }
            elif key in _SCHEMA_LISTS and isinstance(value, list):
                out[key] = [self.convert(v, here.child(i)) for i, v in enumerate(value)]
            elif key in _SCHEMA_VALUES:
                if isinstance(value, list):
                    out[key] = [self.convert(v, here.child(i)) for i, v in enumerate(value)]
                else:
                    out[key] = self.convert(value, here)
            else:
                out[key] = value
        return out

    def _inline(self, schema: Any, location: Location, wanted: str) -> str:
        """A definition for a message's own schema: a reference's target, or a new named one."""
        if isinstance(schema, dict) and isinstance(schema.get("$ref"), str):
            return self.name_for(self.ws.target(schema["$ref"], location.child("$ref")))
        name = self._claim(wanted)
        self.names[location] = name
        self.bundle.origins[name] = location
        self.bundle.definitions[name] = self.convert(schema, location, name)
        return name

    def payload_schema(self, message: Message) -> str:
        location = message.payload_location
        if location is None or message.payload is None or message.schema_format:
            # No payload schema, or one in another language: any JSON value is accepted.
            name = self._claim(_identifier(message.id))
            opaque = f"Opaque {message.schema_format} payload." if message.schema_format else None
            self.bundle.definitions[name] = {"description": opaque} if opaque else {}
            self.bundle.origins[name] = message.location
            return name
        wanted = _identifier(message.id)
        if wanted.lower() in self.taken:
            wanted += "Payload"
        return self._inline(message.payload, location, wanted)

    def headers_schema(self, message: Message) -> str | None:
        if message.headers is None or message.headers_location is None:
            return None
        return self._inline(
            message.headers, message.headers_location, _identifier(message.id) + "Headers"
        )

    def run(self) -> Bundle:
        for key, _ in self.spec.schemas:
            self.name_for(self.spec.source.child("components", "schemas", key))
        for message in self.spec.messages:
            self.bundle.payloads[message.id] = self.payload_schema(message)
            headers = self.headers_schema(message)
            if headers is not None:
                self.bundle.headers[message.id] = headers
        for key, (schema, location) in self.extras.items():
            self.bundle.extras[key] = self._inline(schema, location, _identifier(key))
        return self.bundle


def bundle_schemas(
    workspace: Workspace,
    spec: Spec,
    extras: Mapping[str, tuple[Any, Location]] | None = None,
) -> Bundle:
    """Gather every schema of ``spec`` (read through ``workspace``) into one :class:`Bundle`.

    ``extras`` adds schemas that are not part of any message, such as a WebSocket
    binding's ``query`` and ``headers``: key -> (schema as written, where it is
    written). They are bundled after everything else, so the other definitions keep
    their names, and ``Bundle.extras`` maps each key to its definition.
    """
    return _Bundler(workspace, spec, extras or {}).run()


def object_tags(bundle: Bundle, name: str) -> dict[str, Any]:
    """The required constant properties of a definition's object schema, with their values."""
    schema = bundle.resolve(bundle.definitions.get(name))
    if not isinstance(schema, dict):
        return {}
    properties = schema.get("properties")
    required = schema.get("required")
    if not isinstance(properties, dict) or not isinstance(required, list):
        return {}
    tags: dict[str, Any] = {}
    for prop in required:
        prop_schema = bundle.resolve(properties.get(prop))
        if not isinstance(prop_schema, dict):
            continue
        if "const" in prop_schema:
            tags[prop] = prop_schema["const"]
        elif isinstance(prop_schema.get("enum"), list) and len(prop_schema["enum"]) == 1:
            tags[prop] = prop_schema["enum"][0]
    return tags


def find_tag(bundle: Bundle, definitions: list[str]) -> Tag | None:
    """The property that tells these payloads apart, or ``None`` when there is none.

    The property a schema's ``discriminator`` names wins; otherwise a required
    ``const`` property common to every member with a distinct value in each (``type``
    first, then in alphabetical order). A single payload's tag is its own ``const``.
    """
    unique = list(dict.fromkeys(definitions))
    if not unique:
        return None
    tags = [object_tags(bundle, name) for name in unique]
    common = set(tags[0]).intersection(*tags[1:])
    named = [bundle.discriminators.get(name) for name in unique]
    preferred = [n for n in named if n is not None]
    candidates = sorted(common, key=lambda p: (p not in preferred, p != "type", p))
    for prop in candidates:
        values = [t[prop] for t in tags]
        if all(isinstance(v, str | int | bool) for v in values) and len(
            {repr(v) for v in values}
        ) == len(values):
            return Tag(prop, values[0] if len(values) == 1 else None)
    return None
