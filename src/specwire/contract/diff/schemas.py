"""Two bundled JSON Schemas compared, recursively, into changes not yet judged."""

from __future__ import annotations

import json
from collections.abc import Generator, Iterator
from typing import Any

from specwire.codegen.loader import pointer_join
from specwire.codegen.schemas import Bundle
from specwire.contract.diff.findings import _OPT_IN, _READER, _WRITER, _Change

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
