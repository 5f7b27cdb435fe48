"""``specwire diff OLD NEW``: which changes between two documents break whom.

Both documents are read like ``specwire generate`` reads them (references followed,
traits applied, schemas bundled), then compared message by message, operation by
operation and channel by channel. Every difference becomes a :class:`Finding` with a
stable rule id, a severity, the party it breaks and where it is.

Who breaks
----------

The document describes the server. A message the server sends is *written* by the
server and *read* by clients; a message the server receives is written by clients
and read by the server. A change breaks a party that was built against the old
document when it meets a party built against the new one:

* ``clients``: clients built on the old document, talking to a server on the new
  one. A server-sent message that may now hold what old clients reject (a new enum
  value, a wider type), or a client-sent message whose old form the new server
  refuses (a new required property, a tighter bound), breaks clients.
* ``servers``: servers built on the old document, talking to clients built on the
  new one. A server-sent message whose old form new clients reject (a narrower
  type, a new required property), or a client-sent message new clients *must* write
  in a way old servers refuse (a required property removed, a changed ``const``),
  breaks servers: they have to be upgraded before the clients.

A new client that *chooses* to use what only the new document allows (a new
optional property, a new enum value, a wider type in a request) needs a server on
the new document, exactly as a new request type does: that is not breaking, and
the finding says so. A server cannot make that choice per client, so the same
changes in server-sent messages do break old clients.

Choices
-------

* A message the server starts sending (``message-added``) is not breaking: clients
  must ignore message types they do not know. The generated Python client does (it
  logs and drops a frame it cannot decode); a client that rejects unknown types
  breaks on every such change.
* Every object schema of a specwire document forbids unknown properties
  (``additionalProperties: false``), so an old client drops a whole server frame
  that carries a new optional property: ``optional-property-added`` breaks clients
  when the old schema forbade extras.
* A changed ``format`` is a ``warning``: validators may or may not check formats.
* Schema keywords whose effect cannot be judged (``not``, ``if``/``then``/``else``,
  ``patternProperties``, ``dependencies``...) are reported as ``warning`` too,
  never silently dropped.

The handshake
-------------

Before the first frame, a client has to find the server and be let in:

* Servers are compared by id: their URL (``protocol``, ``host``, ``pathname``), the
  ``enum`` and ``default`` of their URL's variables, and their ``security``. Security
  requirements are alternatives (any one lets a client in), each known by the name
  of its scheme in ``components/securitySchemes`` and compared by its definition
  (type, ``in``, ``name``, ``scheme``, scopes...; descriptions do not count).
* A WebSocket channel binding's ``query`` and ``headers`` are schemas of what the
  client writes in its handshake: they are compared with the same rules as a
  client-sent payload, under ``channels/<id>/bindings/ws/query`` or ``.../headers``.
  A side with no schema counts as ``{"type": "object"}`` (any query, any headers).
* Other keys of a binding, bindings of other protocols, and the bindings of servers,
  operations and messages (traits applied) are compared as written
  (``bindingVersion`` aside): a change is a ``binding-changed`` warning. An
  operation's own ``security`` is compared as a server's is.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Generator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from specwire.codegen.build import build_spec, merge_patch
from specwire.codegen.ir import Direction, Reply, Spec
from specwire.codegen.loader import DocumentError, Location, Workspace, pointer_join
from specwire.codegen.schemas import Bundle, bundle_schemas, find_tag, object_tags

__all__ = [
    "FORMAT",
    "RULES",
    "DiffReport",
    "Finding",
    "add_parser",
    "diff_documents",
    "run",
]

FORMAT = "specwire-diff/1"
"""The ``format`` field of the JSON report; changes only when its shape does."""

Severity = Literal["breaking", "warning", "non-breaking", "info"]
Party = Literal["clients", "servers", "both", "none"]

SEVERITIES: tuple[Severity, ...] = ("breaking", "warning", "non-breaking", "info")

RULES: dict[str, str] = {
    # documents
    "message-removed": "a message no longer travels in one direction",
    "message-added": "a message starts travelling in one direction",
    "message-renamed": "a message keeps its tag and direction under a new id",
    "tag-changed": "the value of the property that tells messages apart changed",
    "payload-opaque": "a payload is, or is no longer, in a schema language other than JSON Schema",
    "opaque-payload-changed": "a payload in a schema language other than JSON Schema changed; "
    "it is not compared",
    "operation-removed": "an operation is gone",
    "operation-added": "a new operation",
    "operation-action-changed": "an operation changed from send to receive or back",
    "operation-channel-changed": "an operation moved to a channel at another address",
    "reply-added": "an operation gained a reply",
    "reply-removed": "an operation lost its reply",
    "reply-message-added": "a reply may be a new message",
    "reply-message-removed": "a reply can no longer be a message",
    "reply-channel-changed": "a reply moved to a channel at another address",
    "channel-removed": "a channel (and its address) is gone",
    "channel-added": "a new channel",
    "channel-address-changed": "a channel's address changed",
    # servers and the handshake
    "server-removed": "a server is gone",
    "server-added": "a new server",
    "server-url-changed": "a server's protocol, host or path changed",
    "server-protocol-version-changed": "a server's protocol version changed (warning)",
    "server-variable-value-removed": "a variable of a server's URL no longer accepts a value",
    "server-variable-value-added": "a variable of a server's URL accepts a new value",
    "server-variable-default-changed": "a variable of a server's URL has another default",
    "security-required": "a server that let clients in without credentials now wants them",
    "security-dropped": "a server no longer wants credentials",
    "security-scheme-removed": "a server no longer accepts a way to authenticate",
    "security-scheme-added": "a server accepts another way to authenticate",
    "security-scheme-changed": "a way to authenticate works differently (a name, a place, scopes)",
    "binding-method-changed": "the HTTP method of a WebSocket handshake changed",
    "binding-changed": "a channel binding changed in a way that is not judged (warning)",
    # schemas
    "required-property-removed": "a required property is gone",
    "optional-property-removed": "an optional property is gone",
    "required-property-added": "a new required property",
    "optional-property-added": "a new optional property",
    "property-became-required": "an optional property became required",
    "property-became-optional": "a required property became optional",
    "type-narrowed": "a schema accepts fewer JSON types",
    "type-widened": "a schema accepts more JSON types",
    "type-changed": "a schema accepts other JSON types",
    "enum-value-added": "an enum accepts a new value",
    "enum-value-removed": "an enum lost a value",
    "enum-added": "a schema is restricted to an enum",
    "enum-removed": "a schema is no longer restricted to an enum",
    "const-changed": "a const has another value",
    "const-added": "a schema is restricted to one value",
    "const-removed": "a schema is no longer restricted to one value",
    "constraint-tightened": "a bound, pattern or other assertion accepts less",
    "constraint-loosened": "a bound, pattern or other assertion accepts more",
    "pattern-changed": "a pattern was replaced by another",
    "additional-properties-forbidden": "an object no longer accepts unknown properties",
    "additional-properties-allowed": "an object now accepts unknown properties",
    "variant-added": "a oneOf/anyOf has a new member",
    "variant-removed": "a oneOf/anyOf lost a member",
    "format-changed": "a string format changed (warning: validators may check formats)",
    "schema-keyword-changed": "a keyword whose effect cannot be judged changed (warning)",
    "default-changed": "a default value changed",
    "deprecated": "a schema was marked deprecated",
}
"""Every rule id, with what it means. Ids are stable: tools may match on them."""

# -- findings and the report -----------------------------------------------------------


@dataclass(frozen=True)
class Finding:
    """One difference, judged."""

    rule: str
    severity: Severity
    breaks: Party
    location: str
    """``messages/<id>/payload/<property>/...`` (``*`` for array items and map values),
    ``operations/<id>/...`` or ``channels/<id>``; JSON Pointer escaping in names."""
    text: str

    def to_json(self) -> dict[str, str]:
        return {
            "rule": self.rule,
            "severity": self.severity,
            "breaks": self.breaks,
            "location": self.location,
            "text": self.text,
        }

    def render(self) -> str:
        who = f" ({self.breaks})" if self.breaks != "none" else ""
        return f"{self.severity}{who} {self.location}: {self.text} [{self.rule}]"


@dataclass(frozen=True)
class DiffReport:
    old: str
    new: str
    findings: tuple[Finding, ...]
    """Breaking first, then warnings, non-breaking changes and information."""

    @property
    def breaking(self) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if f.severity == "breaking")

    def count(self, severity: Severity) -> int:
        return sum(1 for f in self.findings if f.severity == severity)

    def to_json(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "old": self.old,
            "new": self.new,
            "summary": {severity: self.count(severity) for severity in SEVERITIES},
            "findings": [f.to_json() for f in self.findings],
        }

    def summary(self) -> str:
        counts = ", ".join(f"{self.count(s)} {s}" for s in SEVERITIES)
        return f"{self.old} -> {self.new}: {counts}"

    def render(self) -> str:
        return "".join(f.render() + "\n" for f in self.findings)


# -- who a change breaks ---------------------------------------------------------------

_WRITER = "writer"
"""Old writers may write what new readers reject."""
_READER = "reader"
"""New writers write what old readers reject, whatever they choose."""
_OPT_IN = "opt-in"
"""New writers may write what old readers reject, when they use the new latitude."""

_SERVER, _CLIENT = "server", "client"


def _parties(effects: frozenset[str], writers: frozenset[str]) -> set[str]:
    found: set[str] = set()
    for writer in writers:
        writer_party, reader_party = (
            ("servers", "clients") if writer == _SERVER else ("clients", "servers")
        )
        if _WRITER in effects:
            found.add(writer_party)
        if _READER in effects or (_OPT_IN in effects and writer == _SERVER):
            found.add(reader_party)
    return found


def _consequences(effects: frozenset[str], writers: frozenset[str]) -> list[str]:
    said: list[str] = []
    for writer in sorted(writers, reverse=True):
        if _WRITER in effects:
            said.append(
                "servers on the old document may send what new clients reject"
                if writer == _SERVER
                else "old clients may send what the new server refuses"
            )
        if _READER in effects:
            said.append(
                "old clients reject what the new server sends"
                if writer == _SERVER
                else "old servers refuse what new clients send"
            )
        elif _OPT_IN in effects:
            said.append(
                "old clients may receive what they reject"
                if writer == _SERVER
                else "new clients can use it only with servers on the new document"
            )
    return said


def _who(parties: set[str]) -> Party:
    if parties >= {"clients", "servers"}:
        return "both"
    if "clients" in parties:
        return "clients"
    if "servers" in parties:
        return "servers"
    return "none"


@dataclass(frozen=True)
class _Change:
    """A schema difference, before it is known who writes the message."""

    rule: str
    path: tuple[str, ...]
    what: str
    effects: frozenset[str]
    severity: Severity | None = None
    """Set for warnings and information, whose severity does not depend on parties."""


# -- schemas ---------------------------------------------------------------------------

_ALL_TYPES = ("null", "boolean", "object", "array", "number", "string", "integer")
_LOWER = ("minimum", "exclusiveMinimum", "minLength", "minItems", "minProperties")
_UPPER = ("maximum", "exclusiveMaximum", "maxLength", "maxItems", "maxProperties")
_UNJUDGED = (
    "not",
    "if",
    "then",
    "else",
    "patternProperties",
    "dependencies",
    "propertyNames",
    "contains",
    "additionalItems",
)


def _canon(value: Any) -> str:
    return json.dumps(value, sort_keys=True, ensure_ascii=False)


def _show(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "integer" if value.is_integer() else "number"
    if isinstance(value, str):
        return "string"
    return "array" if isinstance(value, list) else "object"


def _types(schema: dict[str, Any]) -> frozenset[str]:
    """The JSON types a schema accepts, from ``type`` or else from ``const``/``enum``."""
    declared = schema.get("type")
    if isinstance(declared, str):
        return frozenset({declared})
    if isinstance(declared, list) and declared:
        return frozenset(t for t in declared if isinstance(t, str))
    if "const" in schema:
        return frozenset({_json_type(schema["const"])})
    if isinstance(schema.get("enum"), list) and schema["enum"]:
        return frozenset(_json_type(v) for v in schema["enum"])
    return frozenset(_ALL_TYPES)


def _covered(kind: str, types: frozenset[str]) -> bool:
    return kind in types or (kind == "integer" and "number" in types)


def _forbids_extras(schema: dict[str, Any]) -> bool:
    extra = schema.get("additionalProperties", True)
    return extra is False or (isinstance(extra, dict) and extra.get("not") == {})


def _label(path: tuple[str, ...]) -> str:
    return pointer_join("", *path) if path else "the payload"


class _SchemaDiff:
    """Compare two bundled schemas, recursively, into :class:`_Change` values."""

    def __init__(self, old: Bundle, new: Bundle) -> None:
        self.old = old
        self.new = new

    def _resolve(self, bundle: Bundle, schema: Any) -> Any:
        resolved = bundle.resolve(schema)
        if resolved is True:
            return {}
        return resolved

    def compare(
        self, old: Any, new: Any, path: tuple[str, ...] = (), seen: frozenset[str] = frozenset()
    ) -> Iterator[_Change]:
        pair = f"{_ref(old)}|{_ref(new)}"
        if pair != "|":
            if pair in seen:
                return
            seen = seen | {pair}
        o = self._resolve(self.old, old)
        n = self._resolve(self.new, new)
        if not isinstance(o, dict) or not isinstance(n, dict):
            if _canon(o) != _canon(n):
                yield _Change(
                    "schema-keyword-changed",
                    path,
                    f"the schema at {_label(path)} changed from {_show(o)} to {_show(n)}",
                    frozenset(),
                    "warning",
                )
            return
        if (yield from self._unions(o, n, (old, new), path, seen)):
            return
        yield from self._type(o, n, path)
        yield from self._values(o, n, path)
        yield from self._bounds(o, n, path)
        yield from self._object(o, n, path, seen)
        yield from self._array(o, n, path, seen)
        yield from self._all_of(o, n, path, seen)
        yield from self._annotations(o, n, path)

    # -- type, const, enum ---------------------------------------------------------------

    def _type(
        self, o: dict[str, Any], n: dict[str, Any], path: tuple[str, ...]
    ) -> Iterator[_Change]:
        old_types, new_types = _types(o), _types(n)
        lost = sorted(t for t in old_types if not _covered(t, new_types))
        gained = sorted(t for t in new_types if not _covered(t, old_types))
        if not lost and not gained:
            return
        change = (
            f"type at {_label(path)} went from {_show(sorted(old_types))} "
            f"to {_show(sorted(new_types))}"
        )
        if lost and gained:
            overlap = any(_covered(t, old_types) for t in new_types)
            effects = {_WRITER, _OPT_IN if overlap else _READER}
            yield _Change("type-changed", path, change, frozenset(effects))
        elif lost:
            yield _Change("type-narrowed", path, change, frozenset({_WRITER}))
        else:
            yield _Change("type-widened", path, change, frozenset({_OPT_IN}))

    def _values(
        self, o: dict[str, Any], n: dict[str, Any], path: tuple[str, ...]
    ) -> Iterator[_Change]:
        where = _label(path)
        if "const" in o and "const" in n:
            if _canon(o["const"]) != _canon(n["const"]):
                yield _Change(
                    "const-changed",
                    path,
                    f"const at {where} changed from {_show(o['const'])} to {_show(n['const'])}",
                    frozenset({_WRITER, _READER}),
                )
        elif "const" in n:
            yield _Change(
                "const-added",
                path,
                f"{where} must now be {_show(n['const'])}",
                frozenset({_WRITER}),
            )
        elif "const" in o:
            yield _Change(
                "const-removed",
                path,
                f"{where} no longer has to be {_show(o['const'])}",
                frozenset({_OPT_IN}),
            )
        old_enum, new_enum = o.get("enum"), n.get("enum")
        if isinstance(old_enum, list) and isinstance(new_enum, list):
            old_keys = {_canon(v) for v in old_enum}
            new_keys = {_canon(v) for v in new_enum}
            for value in new_enum:
                if _canon(value) not in old_keys:
                    yield _Change(
                        "enum-value-added",
                        path,
                        f"enum at {where} gained {_show(value)}",
                        frozenset({_OPT_IN}),
                    )
            for value in old_enum:
                if _canon(value) not in new_keys:
                    yield _Change(
                        "enum-value-removed",
                        path,
                        f"enum at {where} lost {_show(value)}",
                        frozenset({_WRITER}),
                    )
        elif isinstance(new_enum, list):
            yield _Change(
                "enum-added",
                path,
                f"{where} is now restricted to {_show(new_enum)}",
                frozenset({_WRITER}),
            )
        elif isinstance(old_enum, list):
            yield _Change(
                "enum-removed",
                path,
                f"{where} is no longer restricted to {_show(old_enum)}",
                frozenset({_OPT_IN}),
            )
        if o.get("format") != n.get("format"):
            yield _Change(
                "format-changed",
                path,
                _moved("format", where, o.get("format"), n.get("format")),
                frozenset(),
                "warning",
            )

    # -- bounds and assertions -----------------------------------------------------------

    def _bounds(
        self, o: dict[str, Any], n: dict[str, Any], path: tuple[str, ...]
    ) -> Iterator[_Change]:
        where = _label(path)

        def change(keyword: str, tighter: bool | None) -> _Change:
            said = _moved(keyword, where, o.get(keyword), n.get(keyword))
            if tighter is None:
                return _Change("pattern-changed", path, said, frozenset({_WRITER, _OPT_IN}))
            if tighter:
                return _Change("constraint-tightened", path, said, frozenset({_WRITER}))
            return _Change("constraint-loosened", path, said, frozenset({_OPT_IN}))

        for keyword in (*_LOWER, *_UPPER):
            before, after = o.get(keyword), n.get(keyword)
            if _canon(before) == _canon(after):
                continue
            if before is None or after is None:
                yield change(keyword, before is None)
            elif _number(before) and _number(after):
                grows = after > before
                yield change(keyword, grows if keyword in _LOWER else not grows)
            else:
                yield _Change(
                    "constraint-tightened",
                    path,
                    f"{keyword} at {where} changed",
                    frozenset({_WRITER, _OPT_IN}),
                )
        before, after = o.get("multipleOf"), n.get("multipleOf")
        if _canon(before) != _canon(after):
            if before is None or after is None:
                yield change("multipleOf", before is None)
            elif _number(before) and _number(after) and (after / before).is_integer():
                yield change("multipleOf", True)
            elif _number(before) and _number(after) and (before / after).is_integer():
                yield change("multipleOf", False)
            else:
                yield change("multipleOf", None)
        if bool(o.get("uniqueItems")) != bool(n.get("uniqueItems")):
            yield change("uniqueItems", bool(n.get("uniqueItems")))
        if o.get("pattern") != n.get("pattern"):
            before, after = o.get("pattern"), n.get("pattern")
            yield change("pattern", None if before and after else before is None)

    # -- objects ---------------------------------------------------------------------------

    def _object(
        self, o: dict[str, Any], n: dict[str, Any], path: tuple[str, ...], seen: frozenset[str]
    ) -> Iterator[_Change]:
        old_props, new_props = _dict(o.get("properties")), _dict(n.get("properties"))
        old_req = {r for r in _list(o.get("required")) if isinstance(r, str)}
        new_req = {r for r in _list(n.get("required")) if isinstance(r, str)}
        names = list(dict.fromkeys([*old_props, *sorted(old_req), *new_props, *sorted(new_req)]))
        old_closed, new_closed = _forbids_extras(o), _forbids_extras(n)
        for name in names:
            here = (*path, name)
            where = _label(here)
            in_old = name in old_props or name in old_req
            in_new = name in new_props or name in new_req
            if in_old and not in_new:
                effects = set()
                if name in old_req:
                    effects.add(_READER)
                if new_closed:
                    effects.add(_WRITER)
                required = name in old_req
                yield _Change(
                    "required-property-removed" if required else "optional-property-removed",
                    here,
                    f"{'required' if required else 'optional'} property {where} removed"
                    + ("" if new_closed else " (the new schema still accepts it)"),
                    frozenset(effects),
                )
            elif in_new and not in_old:
                if name in new_req:
                    yield _Change(
                        "required-property-added",
                        here,
                        f"required property {where} added",
                        frozenset({_WRITER, _READER} if old_closed else {_WRITER}),
                    )
                else:
                    yield _Change(
                        "optional-property-added",
                        here,
                        f"optional property {where} added"
                        + (" and the old schema forbids unknown properties" if old_closed else ""),
                        frozenset({_OPT_IN} if old_closed else set()),
                    )
            else:
                if name in new_req and name not in old_req:
                    yield _Change(
                        "property-became-required",
                        here,
                        f"property {where} became required",
                        frozenset({_WRITER}),
                    )
                elif name in old_req and name not in new_req:
                    yield _Change(
                        "property-became-optional",
                        here,
                        f"property {where} became optional",
                        frozenset({_OPT_IN}),
                    )
                yield from self.compare(
                    old_props.get(name, _dict(o.get("additionalProperties"))),
                    new_props.get(name, _dict(n.get("additionalProperties"))),
                    here,
                    seen,
                )
        old_extra = o.get("additionalProperties", True)
        new_extra = n.get("additionalProperties", True)
        where = _label(path)
        if old_closed != new_closed:
            if new_closed:
                yield _Change(
                    "additional-properties-forbidden",
                    path,
                    f"{where} no longer accepts undeclared properties",
                    frozenset({_WRITER}),
                )
            else:
                yield _Change(
                    "additional-properties-allowed",
                    path,
                    f"{where} now accepts undeclared properties",
                    frozenset({_OPT_IN}),
                )
        elif not old_closed:
            if isinstance(old_extra, dict) and isinstance(new_extra, dict):
                yield from self.compare(old_extra, new_extra, (*path, "*"), seen)
            elif isinstance(new_extra, dict) and new_extra:
                yield _Change(
                    "constraint-tightened",
                    path,
                    f"undeclared properties of {where} must now match a schema",
                    frozenset({_WRITER}),
                )
            elif isinstance(old_extra, dict) and old_extra:
                yield _Change(
                    "constraint-loosened",
                    path,
                    f"undeclared properties of {where} no longer have to match a schema",
                    frozenset({_OPT_IN}),
                )

    # -- arrays, unions, allOf ----------------------------------------------------------------

    def _array(
        self, o: dict[str, Any], n: dict[str, Any], path: tuple[str, ...], seen: frozenset[str]
    ) -> Iterator[_Change]:
        before, after = o.get("items"), n.get("items")
        if before is None and after is None:
            return
        if isinstance(before, list) or isinstance(after, list):
            olds = before if isinstance(before, list) else []
            news = after if isinstance(after, list) else []
            for index in range(min(len(olds), len(news))):
                yield from self.compare(olds[index], news[index], (*path, str(index)), seen)
            if _canon(olds[len(news) :]) != "[]" or _canon(news[len(olds) :]) != "[]":
                yield _Change(
                    "schema-keyword-changed",
                    path,
                    f"the tuple items of {_label(path)} changed",
                    frozenset(),
                    "warning",
                )
            return
        if before is None:
            yield _Change(
                "constraint-tightened",
                path,
                f"the items of {_label(path)} must now match a schema",
                frozenset({_WRITER}),
            )
        elif after is None:
            yield _Change(
                "constraint-loosened",
                path,
                f"the items of {_label(path)} no longer have to match a schema",
                frozenset({_OPT_IN}),
            )
        else:
            yield from self.compare(before, after, (*path, "*"), seen)

    def _member_key(self, bundle: Bundle, member: Any, index: int) -> str:
        ref = _ref(member)
        if ref:
            return "ref:" + ref.removeprefix("#/definitions/")
        resolved = bundle.resolve(member)
        if isinstance(resolved, dict):
            properties = resolved.get("properties")
            required = resolved.get("required")
            if isinstance(properties, dict) and isinstance(required, list):
                tags = {
                    p: properties[p]["const"]
                    for p in required
                    if isinstance(properties.get(p), dict) and "const" in properties[p]
                }
                if tags:
                    return "tag:" + _canon(tags)
            if "type" in resolved and len(resolved) == 1:
                return "type:" + _canon(resolved["type"])
        return f"index:{index}"

    def _unions(
        self,
        o: dict[str, Any],
        n: dict[str, Any],
        raw: tuple[Any, Any],
        path: tuple[str, ...],
        seen: frozenset[str],
    ) -> Generator[_Change, None, bool]:
        """Compare oneOf/anyOf members; ``True`` when the whole schema was compared this way.

        A schema that becomes a union (or stops being one) counts as a one-member union,
        so that ``X`` -> ``anyOf: [X, null]`` reads as one added member.
        """
        old_kw, olds = _members(o)
        new_kw, news = _members(n)
        if olds is None and news is None:
            return False
        whole = olds is None or news is None
        if olds is None:
            olds = [raw[0]]
        if news is None:
            news = [raw[1]]
        keyword = new_kw or old_kw
        old_keys = [self._member_key(self.old, m, i) for i, m in enumerate(olds)]
        new_keys = [self._member_key(self.new, m, i) for i, m in enumerate(news)]
        pairs: list[tuple[int, int]] = []
        free_new = list(range(len(news)))
        unmatched_old: list[int] = []
        for i, key in enumerate(old_keys):
            j = next((j for j in free_new if new_keys[j] == key), None)
            if j is None:
                unmatched_old.append(i)
            else:
                pairs.append((i, j))
                free_new.remove(j)
        for i in list(unmatched_old):  # then by overlapping types, in order
            old_types = _types(_dict(self._resolve(self.old, olds[i])))
            j = next(
                (
                    j
                    for j in free_new
                    if old_types & _types(_dict(self._resolve(self.new, news[j])))
                    and not (
                        new_keys[j].startswith(("ref:", "tag:"))
                        and old_keys[i].startswith(("ref:", "tag:"))
                    )
                ),
                None,
            )
            if j is not None:
                pairs.append((i, j))
                free_new.remove(j)
                unmatched_old.remove(i)
        if old_kw and new_kw and old_kw != new_kw:
            yield _Change(
                "schema-keyword-changed",
                path,
                f"{_label(path)} changed from {old_kw} to {new_kw}; review it by hand",
                frozenset(),
                "warning",
            )
        for i, j in sorted(pairs, key=lambda pair: pair[1]):
            sub = path if whole and len(news) == 1 else (*path, keyword, str(j))
            yield from self.compare(olds[i], news[j], sub, seen)
        for i in unmatched_old:
            yield _Change(
                "variant-removed",
                path,
                f"{keyword} member {i} ({_describe(olds[i])}) of {_label(path)} removed",
                frozenset({_WRITER}),
            )
        for j in free_new:
            yield _Change(
                "variant-added",
                path,
                f"{keyword} member {j} ({_describe(news[j])}) added to {_label(path)}",
                frozenset({_OPT_IN}),
            )
        return whole

    def _all_of(
        self, o: dict[str, Any], n: dict[str, Any], path: tuple[str, ...], seen: frozenset[str]
    ) -> Iterator[_Change]:
        olds, news = _list(o.get("allOf")), _list(n.get("allOf"))
        for index in range(min(len(olds), len(news))):
            yield from self.compare(olds[index], news[index], (*path, "allOf", str(index)), seen)
        for index in range(len(olds), len(news)):
            yield _Change(
                "constraint-tightened",
                path,
                f"allOf member {index} ({_describe(news[index])}) added to {_label(path)}",
                frozenset({_WRITER}),
            )
        for index in range(len(news), len(olds)):
            yield _Change(
                "constraint-loosened",
                path,
                f"allOf member {index} ({_describe(olds[index])}) of {_label(path)} removed",
                frozenset({_OPT_IN}),
            )

    def _annotations(
        self, o: dict[str, Any], n: dict[str, Any], path: tuple[str, ...]
    ) -> Iterator[_Change]:
        where = _label(path)
        for keyword in _UNJUDGED:
            if _canon(o.get(keyword)) != _canon(n.get(keyword)):
                yield _Change(
                    "schema-keyword-changed",
                    path,
                    f"{keyword} at {where} changed; review it by hand",
                    frozenset(),
                    "warning",
                )
        if "default" in o and "default" in n and _canon(o["default"]) != _canon(n["default"]):
            yield _Change(
                "default-changed",
                path,
                f"default at {where} changed from {_show(o['default'])} to {_show(n['default'])}",
                frozenset(),
                "info",
            )
        if n.get("deprecated") is True and o.get("deprecated") is not True:
            yield _Change("deprecated", path, f"{where} is now deprecated", frozenset(), "info")


def _moved(keyword: str, where: str, before: Any, after: Any) -> str:
    if before is None:
        return f"{keyword} {_show(after)} added at {where}"
    if after is None:
        return f"{keyword} {_show(before)} dropped at {where}"
    return f"{keyword} at {where} went from {_show(before)} to {_show(after)}"


def _members(schema: dict[str, Any]) -> tuple[str, list[Any] | None]:
    for keyword in ("oneOf", "anyOf"):
        if isinstance(schema.get(keyword), list):
            return keyword, list(schema[keyword])
    return "", None


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _ref(schema: Any) -> str:
    if isinstance(schema, dict) and isinstance(schema.get("$ref"), str):
        return str(schema["$ref"])
    return ""


def _describe(schema: Any) -> str:
    ref = _ref(schema)
    if ref:
        return ref.removeprefix("#/definitions/")
    if isinstance(schema, dict) and isinstance(schema.get("title"), str):
        return str(schema["title"])
    if isinstance(schema, dict) and "type" in schema:
        return f"type {_show(schema['type'])}"
    return "a schema"


# -- documents ---------------------------------------------------------------------------


@dataclass(frozen=True)
class _Side:
    path: Path
    spec: Spec
    bundle: Bundle
    writers: dict[str, frozenset[str]]
    """Message id -> who sends it (``server``, ``client``), for messages that travel."""
    tags: dict[str, tuple[str, Any]]
    """Message id -> (tag property, value), for messages that have one."""
    servers: dict[str, dict[str, Any]]
    """Server id -> the server, its variables resolved."""
    security: dict[str, dict[str, str]]
    """Server id -> scheme name -> the scheme's definition, canonical, without words."""
    bindings: dict[str, dict[str, Any]]
    """Channel id -> protocol -> the channel's binding, resolved."""
    operation_security: dict[str, dict[str, str]]
    """Operation id -> its own security requirements, like ``security``."""
    other_bindings: dict[str, dict[str, Any]]
    """``servers/<id>``, ``operations/<id>``, ``messages/<id>`` -> protocol -> binding."""

    def address(self, channel_id: str | None) -> str | None:
        if channel_id is None:
            return None
        try:
            channel = self.spec.channel(channel_id)
        except KeyError:
            return None
        return channel.address if channel.address is not None else channel.id


_HANDSHAKE_PARTS = ("query", "headers")
_SECURITY_SCHEMES = "/components/securitySchemes/"


def _wordless(value: Any) -> Any:
    """A security scheme without words: no descriptions, summaries or ``x-`` keys at any
    depth, the descriptions of ``availableScopes`` dropped and ``scopes`` in order."""
    if isinstance(value, dict):
        kept: dict[str, Any] = {}
        for key, item in value.items():
            if key in ("description", "summary", "title") or key.startswith("x-"):
                continue
            if key == "availableScopes" and isinstance(item, dict):
                kept[key] = sorted(item)
            elif key == "scopes" and isinstance(item, list):
                kept[key] = sorted(item, key=_canon)
            else:
                kept[key] = _wordless(item)
        return kept
    if isinstance(value, list):
        return [_wordless(item) for item in value]
    return value


def _servers(
    workspace: Workspace, spec: Spec
) -> tuple[dict[str, dict[str, Any]], dict[str, dict[str, str]]]:
    """Each server, its variables resolved, and its security schemes by name."""
    servers: dict[str, dict[str, Any]] = {}
    security: dict[str, dict[str, str]] = {}
    for server_id, raw in spec.servers:
        at = spec.source.child("servers", server_id)
        found, at = workspace.resolve(raw, at)
        server = dict(_dict(found))
        variables: dict[str, Any] = {}
        for name, variable in _dict(server.get("variables")).items():
            value, _ = workspace.resolve(variable, at.child("variables", name))
            variables[name] = _dict(value)
        server["variables"] = variables
        servers[server_id] = server
        security[server_id] = _schemes(workspace, server.get("security"), at.child("security"))
    return servers, security


def _schemes(workspace: Workspace, requirements: Any, at: Location) -> dict[str, str]:
    """Security requirements: scheme name -> its definition, canonical, without words."""
    schemes: dict[str, str] = {}
    for index, requirement in enumerate(_list(requirements)):
        scheme, where = workspace.resolve(requirement, at.child(index))
        if where.pointer.startswith(_SECURITY_SCHEMES):
            token = where.pointer.removeprefix(_SECURITY_SCHEMES)
            name = token.replace("~1", "/").replace("~0", "~")
        else:  # written in place: named by its type, and its rank among those
            kind = _dict(scheme).get("type", "unknown")
            name = f"inline {kind}"
            rank = 2
            while name in schemes:
                name, rank = f"inline {kind} ({rank})", rank + 1
        schemes[name] = _canon(_wordless(scheme))
    return schemes


def _operation_security(workspace: Workspace, spec: Spec) -> dict[str, dict[str, str]]:
    """Operation id -> its own security requirements (none: the server's apply)."""
    found: dict[str, dict[str, str]] = {}
    for operation in spec.operations:
        raw, at = workspace.at(operation.location)
        found[operation.id] = _schemes(workspace, _dict(raw).get("security"), at.child("security"))
    return found


def _bindings(
    workspace: Workspace, spec: Spec
) -> tuple[dict[str, dict[str, Any]], dict[str, tuple[Any, Location]]]:
    """Each channel's bindings, and its WebSocket handshake schemas to bundle."""
    bindings: dict[str, dict[str, Any]] = {}
    schemas: dict[str, tuple[Any, Location]] = {}
    for channel in spec.channels:
        if channel.bindings is None:
            continue
        found, at = workspace.resolve(channel.bindings, channel.location.child("bindings"))
        protocols: dict[str, Any] = {}
        for protocol, raw in _dict(found).items():
            binding, where = workspace.resolve(raw, at.child(protocol))
            protocols[protocol] = binding
            if protocol != "ws" or not isinstance(binding, dict):
                continue
            for part in _HANDSHAKE_PARTS:
                if part in binding:
                    schemas[_handshake_key(channel.id, part)] = (binding[part], where.child(part))
        bindings[channel.id] = protocols
    return bindings, schemas


def _protocols(workspace: Workspace, raw: Any, at: Location) -> dict[str, Any]:
    """A ``bindings`` object, resolved: protocol -> its binding."""
    found, at = workspace.resolve(raw, at)
    return {
        protocol: workspace.resolve(binding, at.child(protocol))[0]
        for protocol, binding in _dict(found).items()
    }


def _other_bindings(
    workspace: Workspace, spec: Spec, servers: dict[str, dict[str, Any]]
) -> dict[str, dict[str, Any]]:
    """Bindings of servers, operations and messages: ``<kind>/<id>`` -> protocol -> binding."""
    found: dict[str, dict[str, Any]] = {}
    for server_id, server in servers.items():
        at = spec.source.child("servers", server_id, "bindings")
        found[_pointer("servers", server_id)] = _protocols(workspace, server.get("bindings"), at)
    owners = [("operations", op.id, op.location) for op in spec.operations]
    owners += [("messages", message.id, message.location) for message in spec.messages]
    for kind, owner_id, location in owners:
        raw, at = workspace.at(location)
        own = _dict(raw)
        bindings: Any = None
        for index, trait_ref in enumerate(_list(own.get("traits"))):  # traits first, then its own
            trait, _ = workspace.resolve(trait_ref, at.child("traits", index))
            if "bindings" in _dict(trait):
                bindings = merge_patch(bindings, _dict(trait)["bindings"])
        if "bindings" in own:
            bindings = merge_patch(bindings, own["bindings"])
        found[_pointer(kind, owner_id)] = _protocols(workspace, bindings, at.child("bindings"))
    return found


def _handshake_key(channel_id: str, part: str) -> str:
    return f"{channel_id} handshake {part}"


def _load(path: str | Path) -> _Side:
    workspace = Workspace.open(path)
    spec = build_spec(workspace)
    bindings, handshake = _bindings(workspace, spec)
    servers, security = _servers(workspace, spec)
    bundle = bundle_schemas(workspace, spec, handshake)
    writers: dict[str, set[str]] = {}
    tags: dict[str, tuple[str, Any]] = {}
    for direction, writer in ((Direction.RECEIVE, _CLIENT), (Direction.SEND, _SERVER)):
        ids = spec.messages_in(direction)
        for message_id in ids:
            writers.setdefault(message_id, set()).add(writer)
        tag = find_tag(bundle, [bundle.payloads[m] for m in ids])
        if tag is None:
            continue
        for message_id in ids:
            value = object_tags(bundle, bundle.payloads[message_id]).get(tag.property)
            if value is not None:
                tags[message_id] = (tag.property, value)
    frozen = {m: frozenset(w) for m, w in writers.items()}
    ordered = {m.id: frozen[m.id] for m in spec.messages if m.id in frozen}
    return _Side(
        Path(path),
        spec,
        bundle,
        ordered,
        tags,
        servers,
        security,
        bindings,
        _operation_security(workspace, spec),
        _other_bindings(workspace, spec, servers),
    )


def _pointer(*tokens: str) -> str:
    return pointer_join("", *tokens).removeprefix("/")


class _Differ:
    def __init__(self, old: _Side, new: _Side) -> None:
        self.old = old
        self.new = new
        self.schemas = _SchemaDiff(old.bundle, new.bundle)
        self.findings: list[Finding] = []

    def add(
        self,
        rule: str,
        location: str,
        text: str,
        breaks: set[str],
        severity: Severity | None = None,
    ) -> None:
        who = _who(breaks)
        judged: Severity = severity or ("breaking" if who != "none" else "non-breaking")
        self.findings.append(Finding(rule, judged, who, location, text))

    # -- messages ------------------------------------------------------------------------

    def messages(self) -> None:
        old, new = self.old.writers, self.new.writers
        renamed: dict[str, str] = {}
        for writer in (_CLIENT, _SERVER):
            gone = [m for m, w in old.items() if writer in w and writer not in new.get(m, ())]
            came = [m for m, w in new.items() if writer in w and writer not in old.get(m, ())]
            for message_id in gone:
                tag = self.old.tags.get(message_id)
                twin = next(
                    (
                        m
                        for m in came
                        if tag is not None
                        and _canon(self.new.tags.get(m)) == _canon(tag)
                        and m not in old
                        and message_id not in new
                    ),
                    None,
                )
                if twin is not None and tag is not None:
                    came.remove(twin)
                    renamed[message_id] = twin
                    self.add(
                        "message-renamed",
                        _pointer("messages", message_id),
                        f"message `{message_id}` is now `{twin}` (same tag "
                        f"{tag[0]}={_show(tag[1])}, nothing changes on the wire; "
                        "generated names do)",
                        set(),
                        "info",
                    )
                    continue
                label = _tagged(message_id, tag)
                if writer == _SERVER:
                    text = (
                        f"the server no longer sends {label}: clients that handle it "
                        "stop getting it"
                    )
                else:
                    text = (
                        f"the server no longer receives {label}: old clients sending it are refused"
                    )
                self.add("message-removed", _pointer("messages", message_id), text, {"clients"})
            for message_id in came:
                label = _tagged(message_id, self.new.tags.get(message_id))
                if writer == _SERVER:
                    text = (
                        f"the server may send {label}: clients must ignore unknown message "
                        "types (the generated Python client drops them)"
                    )
                else:
                    text = (
                        f"the server receives {label}: new clients can send it only to "
                        "servers on the new document"
                    )
                self.add("message-added", _pointer("messages", message_id), text, set())
        for message_id, writers in old.items():
            twin = renamed.get(message_id, message_id)
            common = writers & new.get(twin, frozenset())
            if common:
                self.message(message_id, twin, common)

    def message(self, old_id: str, new_id: str, writers: frozenset[str]) -> None:
        base = _pointer("messages", new_id)
        old_tag, new_tag = self.old.tags.get(old_id), self.new.tags.get(new_id)
        skip: set[tuple[str, ...]] = set()
        if old_tag is not None and new_tag is not None and _canon(old_tag) != _canon(new_tag):
            self.add(
                "tag-changed",
                base,
                f"`{new_id}` is now tagged {new_tag[0]}={_show(new_tag[1])} instead of "
                f"{old_tag[0]}={_show(old_tag[1])}: the other side no longer recognises it",
                {"clients", "servers"},
            )
            skip = {(old_tag[0],), (new_tag[0],)}
        old_message, new_message = self.old.spec.message(old_id), self.new.spec.message(new_id)
        if bool(old_message.schema_format) != bool(new_message.schema_format) or (
            old_message.schema_format != new_message.schema_format
        ):
            self.add(
                "payload-opaque",
                base + "/payload",
                f"the payload schema format of `{new_id}` changed from "
                f"{old_message.schema_format or 'JSON Schema'} to "
                f"{new_message.schema_format or 'JSON Schema'}",
                {"clients", "servers"},
            )
            return
        if new_message.schema_format and _canon(old_message.payload) != _canon(new_message.payload):
            self.add(
                "opaque-payload-changed",
                base + "/payload",
                f"the {new_message.schema_format} payload schema of `{new_id}` changed; it is "
                "not JSON Schema, so what the change breaks is not judged: review it by hand",
                {"clients", "servers"},
                "warning",
            )
        parts = [("payload", self.old.bundle.payloads, self.new.bundle.payloads)]
        parts.append(("headers", self.old.bundle.headers, self.new.bundle.headers))
        for part, old_defs, new_defs in parts:
            if old_id not in old_defs and new_id not in new_defs:
                continue
            old_schema = {"$ref": "#/definitions/" + old_defs[old_id]} if old_id in old_defs else {}
            new_schema = {"$ref": "#/definitions/" + new_defs[new_id]} if new_id in new_defs else {}
            for change in self.schemas.compare(old_schema, new_schema):
                if change.path in skip and change.rule == "const-changed":
                    continue
                location = base + "/" + part + pointer_join("", *change.path)
                said = _consequences(change.effects, writers)
                text = f"`{new_id}`: {change.what}" + (f"; {'; '.join(said)}" if said else "")
                breaks = _parties(change.effects, writers)
                self.add(change.rule, location, text, breaks, change.severity)

    # -- operations and channels -------------------------------------------------------------

    def operations(self) -> None:
        old_ops = {op.id: op for op in self.old.spec.operations}
        new_ops = {op.id: op for op in self.new.spec.operations}
        for op_id, op in old_ops.items():
            base = _pointer("operations", op_id)
            if op_id not in new_ops:
                what = "requests" if op.action is Direction.RECEIVE else "messages"
                self.add(
                    "operation-removed",
                    base,
                    f"operation `{op_id}` ({op.action.value}) removed: clients built on it "
                    f"lose its {what}",
                    {"clients"},
                )
                continue
            now = new_ops[op_id]
            if now.action is not op.action:
                self.add(
                    "operation-action-changed",
                    base + "/action",
                    f"operation `{op_id}` changed from {op.action.value} to {now.action.value}",
                    {"clients", "servers"},
                )
                continue
            old_address, new_address = self.old.address(op.channel), self.new.address(now.channel)
            if old_address != new_address and op.channel != now.channel:
                # (a channel whose own address changed is one channel-address-changed)
                self.add(
                    "operation-channel-changed",
                    base + "/channel",
                    f"operation `{op_id}` moved from address {_show(old_address)} to "
                    f"{_show(new_address)}",
                    {"clients", "servers"},
                )
            self.reply(op_id, op.action, op.reply, now.reply)
            self.security(
                base + "/security",
                f"operation `{op_id}`",
                "use it",
                self.old.operation_security[op_id],
                self.new.operation_security[op_id],
            )
        for op_id, op in new_ops.items():
            if op_id not in old_ops:
                self.add(
                    "operation-added",
                    _pointer("operations", op_id),
                    f"new operation `{op_id}` ({op.action.value})",
                    set(),
                )

    def reply(self, op_id: str, action: Direction, old: Reply | None, new: Reply | None) -> None:
        base = _pointer("operations", op_id, "reply")
        answers = action is Direction.RECEIVE  # the server answers a client's request
        if old is None and new is None:
            return
        if old is None:
            if answers:
                self.add(
                    "reply-added",
                    base,
                    f"`{op_id}` now gets a reply from the server; clients that do not wait "
                    "for it must ignore it",
                    set(),
                )
            else:
                self.add(
                    "reply-added",
                    base,
                    f"the server now expects clients to reply to `{op_id}`; old clients do not",
                    {"clients"},
                )
            return
        if new is None:
            self.add(
                "reply-removed",
                base,
                f"`{op_id}` no longer gets a reply; old clients wait for one in vain"
                if answers
                else f"the server no longer expects a reply to `{op_id}`; old clients send one",
                {"clients"},
            )
            return
        old_address, new_address = self.old.address(old.channel), self.new.address(new.channel)
        if old_address != new_address and old.channel != new.channel:
            self.add(
                "reply-channel-changed",
                base + "/channel",
                f"the reply to `{op_id}` moved from address {_show(old_address)} to "
                f"{_show(new_address)}",
                {"clients", "servers"},
            )
        for message_id in new.messages:
            if message_id not in old.messages:
                self.add(
                    "reply-message-added",
                    base + "/messages/" + _pointer(message_id),
                    f"the server may answer `{op_id}` with `{message_id}`, which old clients do "
                    "not expect as its reply"
                    if answers
                    else f"clients may reply to `{op_id}` with `{message_id}`; new clients can "
                    "only with servers on the new document",
                    {"clients"} if answers else set(),
                )
        for message_id in old.messages:
            if message_id not in new.messages:
                self.add(
                    "reply-message-removed",
                    base + "/messages/" + _pointer(message_id),
                    f"the server no longer answers `{op_id}` with `{message_id}`: clients that "
                    "wait for it stop getting it"
                    if answers
                    else f"the server no longer accepts `{message_id}` as a reply to `{op_id}`: "
                    "old clients sending it are refused",
                    {"clients"},
                )

    def channels(self) -> None:
        old_channels = {c.id: c for c in self.old.spec.channels}
        new_channels = {c.id: c for c in self.new.spec.channels}
        new_addresses = {self.new.address(c) for c in new_channels}
        for channel_id in old_channels:
            base = _pointer("channels", channel_id)
            old_address = self.old.address(channel_id)
            if channel_id not in new_channels:
                if old_address in new_addresses:
                    self.add(
                        "channel-removed",
                        base,
                        f"channel `{channel_id}` removed; its address {_show(old_address)} is "
                        "still served by another channel",
                        set(),
                        "info",
                    )
                else:
                    self.add(
                        "channel-removed",
                        base,
                        f"channel `{channel_id}` and its address {_show(old_address)} removed",
                        {"clients"},
                    )
                continue
            new_address = self.new.address(channel_id)
            if old_address != new_address:
                self.add(
                    "channel-address-changed",
                    base + "/address",
                    f"channel `{channel_id}` moved from {_show(old_address)} to "
                    f"{_show(new_address)}",
                    {"clients", "servers"},
                )
        for channel_id in new_channels:
            if channel_id not in old_channels:
                self.add(
                    "channel-added",
                    _pointer("channels", channel_id),
                    f"new channel `{channel_id}` at {_show(self.new.address(channel_id))}",
                    set(),
                )

    # -- servers and the handshake -------------------------------------------------------------

    def servers(self) -> None:
        old_servers, new_servers = self.old.servers, self.new.servers
        new_urls = {_url(server) for server in new_servers.values()}
        for server_id, server in old_servers.items():
            base = _pointer("servers", server_id)
            url = _url(server)
            if server_id not in new_servers:
                if url in new_urls:
                    self.add(
                        "server-removed",
                        base,
                        f"server `{server_id}` removed; its URL {_show(url)} is still "
                        "described by another server",
                        set(),
                        "info",
                    )
                else:
                    self.add(
                        "server-removed",
                        base,
                        f"server `{server_id}` ({_show(url)}) removed: clients that connect "
                        "to it lose it",
                        {"clients"},
                    )
                continue
            now = new_servers[server_id]
            if _url(now) != url:
                self.add(
                    "server-url-changed",
                    base,
                    f"server `{server_id}` moved from {_show(url)} to {_show(_url(now))}: "
                    "clients that connect to the old URL do not reach the new server",
                    {"clients", "servers"},
                )
            if server.get("protocolVersion") != now.get("protocolVersion"):
                self.add(
                    "server-protocol-version-changed",
                    base + "/protocolVersion",
                    f"server `{server_id}` changed protocol version from "
                    f"{_show(server.get('protocolVersion'))} to "
                    f"{_show(now.get('protocolVersion'))}",
                    set(),
                    "warning",
                )
            self.variables(server_id, server["variables"], now["variables"])
            self.security(
                base + "/security",
                f"server `{server_id}`",
                "connect",
                self.old.security[server_id],
                self.new.security[server_id],
            )
        for server_id, server in new_servers.items():
            if server_id not in old_servers:
                self.add(
                    "server-added",
                    _pointer("servers", server_id),
                    f"new server `{server_id}` at {_show(_url(server))}",
                    set(),
                )

    def variables(self, server_id: str, old: dict[str, Any], new: dict[str, Any]) -> None:
        for name in old.keys() & new.keys():
            base = _pointer("servers", server_id, "variables", name)
            before, after = _list(old[name].get("enum")), _list(new[name].get("enum"))
            if before and after:
                for value in before:
                    if value not in after:
                        self.add(
                            "server-variable-value-removed",
                            base + "/enum",
                            f"`{{{name}}}` of server `{server_id}` no longer accepts "
                            f"{_show(value)}: clients configured with it cannot connect",
                            {"clients"},
                        )
                for value in after:
                    if value not in before:
                        self.add(
                            "server-variable-value-added",
                            base + "/enum",
                            f"`{{{name}}}` of server `{server_id}` accepts {_show(value)}",
                            set(),
                        )
            if old[name].get("default") != new[name].get("default"):
                self.add(
                    "server-variable-default-changed",
                    base + "/default",
                    f"`{{{name}}}` of server `{server_id}` defaults to "
                    f"{_show(new[name].get('default'))} instead of "
                    f"{_show(old[name].get('default'))}: clients that take the default "
                    "connect elsewhere",
                    set(),
                    "warning",
                )

    def security(
        self, base: str, owner: str, doing: str, old: dict[str, str], new: dict[str, str]
    ) -> None:
        """Compare two lists of alternative security requirements (``owner``: who wants them)."""
        if not old and not new:
            return
        if not old:
            self.add(
                "security-required",
                base,
                f"{owner} now wants credentials ({_names(new)}): old clients that {doing} "
                "without them are refused",
                {"clients"},
            )
            return
        if not new:
            self.add(
                "security-dropped",
                base,
                f"{owner} no longer wants credentials; clients that send them "
                f"({_names(old)}) are let in too",
                set(),
            )
            return
        for name, definition in old.items():
            if name not in new:
                self.add(
                    "security-scheme-removed",
                    base,
                    f"{owner} no longer accepts `{name}`: old clients that authenticate with "
                    f"it are refused ({_names(new)} still accepted)",
                    {"clients"},
                )
            elif new[name] != definition:
                self.add(
                    "security-scheme-changed",
                    base,
                    f"`{name}` for {owner} changed from {definition} to {new[name]}: old "
                    "clients present credentials the new server does not take, and new "
                    "clients the old server does not",
                    {"clients", "servers"},
                )
        for name in new:
            if name not in old:
                self.add(
                    "security-scheme-added",
                    base,
                    f"{owner} also accepts `{name}`; new clients can use it only with servers "
                    "on the new document",
                    set(),
                )

    def handshake(self) -> None:
        """Compare the bindings of the channels both documents have."""
        kept = {c.id for c in self.old.spec.channels}
        for channel_id in (c.id for c in self.new.spec.channels if c.id in kept):
            before = self.old.bindings.get(channel_id, {})
            after = self.new.bindings.get(channel_id, {})
            base = _pointer("channels", channel_id, "bindings")
            for protocol in dict.fromkeys([*before, *after]):
                old_binding, new_binding = before.get(protocol), after.get(protocol)
                if protocol == "ws":
                    self.ws_binding(channel_id, _dict(old_binding), _dict(new_binding))
                    continue
                if _canon(_unversioned(old_binding)) != _canon(_unversioned(new_binding)):
                    self.add(
                        "binding-changed",
                        base + "/" + _pointer(protocol),
                        f"the {protocol} binding of channel `{channel_id}` changed; it is not "
                        "judged: review it by hand",
                        set(),
                        "warning",
                    )

    def other_bindings(self) -> None:
        """Bindings of servers, operations and messages both documents have, as written."""
        after = self.new.other_bindings
        for owner, before in self.old.other_bindings.items():
            if owner not in after:
                continue
            now = after[owner]
            for protocol in dict.fromkeys([*before, *now]):
                old_binding, new_binding = before.get(protocol), now.get(protocol)
                if _canon(_unversioned(old_binding)) != _canon(_unversioned(new_binding)):
                    kind, _, token = owner.partition("/")
                    what, name = kind.removesuffix("s"), token.replace("~1", "/").replace("~0", "~")
                    self.add(
                        "binding-changed",
                        owner + "/bindings/" + _pointer(protocol),
                        f"the {protocol} binding of {what} `{name}` changed; it is not judged: "
                        "review it by hand",
                        set(),
                        "warning",
                    )

    def ws_binding(self, channel_id: str, old: dict[str, Any], new: dict[str, Any]) -> None:
        base = _pointer("channels", channel_id, "bindings", "ws")
        old_method, new_method = old.get("method", "GET"), new.get("method", "GET")
        if old_method != new_method:
            self.add(
                "binding-method-changed",
                base + "/method",
                f"the handshake of channel `{channel_id}` is now a {new_method} request "
                f"instead of {old_method}",
                {"clients", "servers"},
            )
        for part in _HANDSHAKE_PARTS:
            key = _handshake_key(channel_id, part)
            old_schema = _handshake_schema(self.old.bundle.extras.get(key))
            new_schema = _handshake_schema(self.new.bundle.extras.get(key))
            for change in self.schemas.compare(old_schema, new_schema):
                said = _consequences(change.effects, _CLIENTS_WRITE)
                what = "query string" if part == "query" else "headers"
                text = f"the handshake's {what} on channel `{channel_id}`: {change.what}" + (
                    f"; {'; '.join(said)}" if said else ""
                )
                location = base + "/" + part + pointer_join("", *change.path)
                self.add(
                    change.rule,
                    location,
                    text,
                    _parties(change.effects, _CLIENTS_WRITE),
                    change.severity,
                )
        rest = ("method", "bindingVersion", *_HANDSHAKE_PARTS)
        old_rest = {k: v for k, v in old.items() if k not in rest}
        new_rest = {k: v for k, v in new.items() if k not in rest}
        if _canon(old_rest) != _canon(new_rest):
            self.add(
                "binding-changed",
                base,
                f"the ws binding of channel `{channel_id}` changed outside method, query "
                "and headers; it is not judged: review it by hand",
                set(),
                "warning",
            )


_CLIENTS_WRITE = frozenset({_CLIENT})


def _url(server: dict[str, Any]) -> str:
    protocol = server.get("protocol", "")
    return f"{protocol}://{server.get('host', '')}{server.get('pathname', '')}"


def _names(schemes: dict[str, str]) -> str:
    return ", ".join(f"`{name}`" for name in schemes)


def _unversioned(binding: Any) -> Any:
    if isinstance(binding, dict):
        return {k: v for k, v in binding.items() if k != "bindingVersion"}
    return binding


def _handshake_schema(definition: str | None) -> dict[str, Any]:
    if definition is None:
        return {"type": "object"}
    return {"$ref": "#/definitions/" + definition}


def _tagged(message_id: str, tag: tuple[str, Any] | None) -> str:
    return f"`{message_id}`" + (f" ({tag[0]}={_show(tag[1])})" if tag is not None else "")


def diff_documents(old: str | Path, new: str | Path) -> DiffReport:
    """Compare two AsyncAPI 3 documents; raises :class:`DocumentError` when one is unreadable."""
    differ = _Differ(_load(old), _load(new))
    differ.servers()
    differ.channels()
    differ.handshake()
    differ.other_bindings()
    differ.operations()
    differ.messages()
    rank = {severity: index for index, severity in enumerate(SEVERITIES)}
    findings = sorted(differ.findings, key=lambda f: rank[f.severity])
    return DiffReport(str(old), str(new), tuple(findings))


# -- command line ----------------------------------------------------------------------------


def add_parser(subparsers: Any) -> None:
    """Add ``diff`` to the ``specwire`` command's subparsers."""
    parser = subparsers.add_parser(
        "diff",
        help="classify the changes between two documents as breaking or not",
        description="Compare two AsyncAPI 3 documents and say which changes break clients "
        "built on the old one (talking to a new server) or servers built on the old one "
        "(talking to new clients). Exit 1 when a finding reaches --fail-on, 2 when a "
        "document cannot be read.",
    )
    parser.add_argument("old", help="the document clients and servers were built on")
    parser.add_argument("new", help="the changed document")
    parser.add_argument(
        "--json",
        metavar="FILE",
        help="also write the findings as JSON to FILE ('-': JSON on stdout instead of text)",
    )
    parser.add_argument(
        "--fail-on",
        choices=["breaking", "any", "none"],
        default="breaking",
        help="exit 1 on breaking findings (default), on any finding, or never",
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Run ``specwire diff``: print the report, return the exit code."""
    try:
        report = diff_documents(args.old, args.new)
    except DocumentError as exc:
        print(f"{exc.location.display(Path.cwd())}: error: {exc.reason}", file=sys.stderr)
        return 2
    rendered = json.dumps(report.to_json(), indent=2, ensure_ascii=False) + "\n"
    if args.json == "-":
        sys.stdout.write(rendered)
    else:
        sys.stdout.write(report.render())
        if args.json:
            Path(args.json).write_text(rendered, encoding="utf-8")
    print(report.summary(), file=sys.stderr)
    fail_on = getattr(args, "fail_on", "breaking")
    if fail_on == "any":
        return 1 if report.findings else 0
    if fail_on == "breaking":
        return 1 if report.breaking else 0
    return 0
