"""Emit a TypeScript SDK as an npm package: types, a reconnecting client, an optional validator.

The package has no runtime dependency: ``src/types.ts`` holds a type per bundled
schema that a payload reaches (the same JSON Schemas the validators use, so a type
accepts what its schema accepts), the unions per direction and type guards;
``src/client.ts`` a :class:`Client` built on the standard ``WebSocket`` interface
(the browser's, or a constructor such as the ``ws`` package's in Node) that behaves
as the Python SDK does: typed requests correlated with their replies, typed
handlers, reconnection with backoff and full jitter, an application heartbeat,
subscriptions remembered and resumed from the last delivered position, duplicates
dropped and a ``resync`` notice when history is lost. ``src/validate.ts`` (entry
``./validate``) checks inbound frames against the server-to-client schema with Ajv,
an optional peer dependency.

Everything follows from the IR, the bundle and the :class:`~specwire.codegen.sdk.ClientModel`;
the output is deterministic.
"""

# ruff: noqa: E501  (the TypeScript templates below keep their own line lengths)
from __future__ import annotations

import json
import re
from typing import Any

from specwire.codegen.emit_jsonschema import DIRECTION_FILES, emit_jsonschema
from specwire.codegen.ir import Direction, Spec
from specwire.codegen.schemas import DRAFT_07, Bundle, find_tag, object_tags
from specwire.codegen.sdk import ClientModel, Request

__all__ = ["emit_typescript"]

TYPESCRIPT = "~5.9.3"
AJV = "^8.12.0"

_IDENTIFIER = re.compile(r"[A-Za-z_$][A-Za-z0-9_$]*")
# Names a type alias cannot take, and globals the generated modules rely on.
_RESERVED_TYPES = frozenset(
    [
        "any",
        "unknown",
        "never",
        "string",
        "number",
        "boolean",
        "symbol",
        "object",
        "bigint",
        "undefined",
        "null",
        "void",
        "this",
        "true",
        "false",
        "break",
        "case",
        "catch",
        "class",
        "const",
        "continue",
        "debugger",
        "default",
        "delete",
        "do",
        "else",
        "enum",
        "export",
        "extends",
        "finally",
        "for",
        "function",
        "if",
        "import",
        "in",
        "instanceof",
        "new",
        "return",
        "super",
        "switch",
        "throw",
        "try",
        "typeof",
        "var",
        "while",
        "with",
        "implements",
        "interface",
        "let",
        "package",
        "private",
        "protected",
        "public",
        "static",
        "yield",
        "await",
        "type",
        "keyof",
        "infer",
        "is",
        "asserts",
        "readonly",
        "unique",
        "global",
        "declare",
        "namespace",
        "module",
        "require",
        "abstract",
        "as",
        "async",
        "from",
        "of",
        "satisfies",
        "Array",
        "Object",
        "String",
        "Number",
        "Boolean",
        "Symbol",
        "Promise",
        "Record",
        "Partial",
        "Readonly",
        "Omit",
        "ReturnType",
        "Date",
        "Map",
        "Set",
        "Function",
        "PropertyKey",
    ]
)
# Members of the generated Client class: an operation never shadows one.
_CLIENT_MEMBERS = frozenset(
    [
        "constructor",
        "connect",
        "create",
        "start",
        "close",
        "on",
        "off",
        "stream",
        "onResync",
        "onStatus",
        "onError",
        "send",
        "status",
        "url",
        "options",
        "request",
        "then",
        "catch",
        "finally",
        "toString",
        "valueOf",
    ]
)
_SEMVER = re.compile(
    r"(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)"
    r"(?:-[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*)?(?:\+[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*)?"
)


def _literal(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


def _key(name: str) -> str:
    return name if _IDENTIFIER.fullmatch(name) else _literal(name)


def _member(expression: str, name: str) -> str:
    return (
        f"{expression}.{name}" if _IDENTIFIER.fullmatch(name) else f"{expression}[{_literal(name)}]"
    )


def _pascal(text: str) -> str:
    words = [w for w in re.split(r"[^0-9A-Za-z]+", text) if w]
    return "".join(w[0].upper() + w[1:] for w in words) or "Message"


def _camel(snake_name: str) -> str:
    head, *rest = snake_name.split("_")
    return head + "".join(w[:1].upper() + w[1:] for w in rest)


def _jsdoc(text: str | None, indent: str = "") -> list[str]:
    if not text or not text.strip():
        return []
    lines = text.strip().replace("*/", "*\\/").splitlines()
    if len(lines) == 1:
        return [f"{indent}/** {lines[0].rstrip()} */"]
    return [f"{indent}/**", *(f"{indent} * {line}".rstrip() for line in lines), f"{indent} */"]


def _npm_version(version: str) -> str:
    return version if _SEMVER.fullmatch(version) else "0.0.0"


class _Types:
    """JSON Schema (bundled draft-07) -> TypeScript type expressions."""

    def __init__(self, bundle: Bundle, names: dict[str, str]) -> None:
        self.bundle = bundle
        self.names = names

    def ref(self, ref: str) -> str:
        name = ref.removeprefix("#/definitions/")
        return self.names.get(name, "unknown")

    def expression(self, schema: Any, indent: str = "") -> str:
        """A type expression; nested object types are laid out from ``indent``."""
        if schema is True or schema == {}:
            return "unknown"
        if schema is False:
            return "never"
        if not isinstance(schema, dict):
            return "unknown"
        parts: list[str] = []
        if isinstance(schema.get("$ref"), str):
            parts.append(self.ref(schema["$ref"]))
        base = self._base(schema, indent)
        if base is not None:
            parts.append(base)
        for keyword, joiner in (("oneOf", " | "), ("anyOf", " | ")):
            members = schema.get(keyword)
            if isinstance(members, list) and members:
                union = _join([self.expression(m, indent) for m in members], joiner)
                parts.append(f"({union})" if len(members) > 1 else union)
        all_of = schema.get("allOf")
        if isinstance(all_of, list):
            parts.extend(self.expression(m, indent) for m in all_of)
        parts = [p for p in dict.fromkeys(parts) if p != "unknown"]
        if not parts:
            return "unknown"
        if len(parts) == 1:
            return parts[0]
        return " & ".join(p if _simple(p) else f"({p})" for p in parts)

    def _base(self, schema: dict[str, Any], indent: str) -> str | None:
        """The type the schema's own keywords (``const``, ``enum``, ``type``...) say."""
        if "const" in schema:
            return _value_type(schema["const"])
        if isinstance(schema.get("enum"), list):
            values = schema["enum"]
            return _join([_value_type(v) for v in values], " | ") if values else "never"
        declared = schema.get("type")
        kinds = (
            [declared]
            if isinstance(declared, str)
            else [k for k in declared if isinstance(k, str)]
            if isinstance(declared, list)
            else []
        )
        if not kinds and any(
            k in schema for k in ("properties", "required", "additionalProperties")
        ):
            kinds = ["object"]
        if not kinds and "items" in schema:
            kinds = ["array"]
        if not kinds:
            return None
        return _join([self._kind(kind, schema, indent) for kind in dict.fromkeys(kinds)], " | ")

    def _kind(self, kind: str, schema: dict[str, Any], indent: str) -> str:
        if kind in ("integer", "number"):
            return "number"
        if kind in ("string", "boolean", "null"):
            return kind
        if kind == "array":
            return self._array(schema, indent)
        if kind == "object":
            return self.object(schema, indent)
        return "unknown"

    def _array(self, schema: dict[str, Any], indent: str) -> str:
        items = schema.get("items")
        if isinstance(items, list):
            members = [self.expression(item, indent) for item in items]
            rest = schema.get("additionalItems")
            if rest is not False:
                members.append(f"...{_array_of(self.expression(rest, indent))}")
            return f"[{', '.join(members)}]"
        return _array_of(self.expression(items, indent) if items is not None else "unknown")

    def object(self, schema: dict[str, Any], indent: str) -> str:
        properties = schema.get("properties")
        properties = properties if isinstance(properties, dict) else {}
        required = schema.get("required")
        required = (
            {r for r in required if isinstance(r, str)} if isinstance(required, list) else set()
        )
        inner = indent + "  "
        lines: list[str] = []
        for name, prop in properties.items():
            description = prop.get("description") if isinstance(prop, dict) else None
            lines.extend(_jsdoc(description if isinstance(description, str) else None, inner))
            optional = "" if name in required else "?"
            lines.append(f"{inner}{_key(name)}{optional}: {self.expression(prop, inner)};")
        for name in sorted(required - set(properties)):
            lines.append(f"{inner}{_key(name)}: unknown;")
        extra = self._extra(schema, properties, inner)
        if extra is not None:
            lines.append(f"{inner}[key: string]: {extra};")
        if not lines:
            return "{ [key: string]: never }"
        return "{\n" + "\n".join(lines) + f"\n{indent}}}"

    def _extra(self, schema: dict[str, Any], properties: dict[str, Any], indent: str) -> str | None:
        """The index signature's type, or ``None`` when no other property is allowed."""
        additional = schema.get("additionalProperties", True)
        patterns = schema.get("patternProperties")
        others: list[str] = []
        if isinstance(patterns, dict):
            others.extend(self.expression(p, indent) for p in patterns.values())
        if additional is not False:
            others.append(self.expression(additional, indent))
        if not others:
            return None
        if "unknown" in others:
            return "unknown"
        # Every declared property must also fit the index signature.
        declared = [self.expression(p, indent) for p in properties.values()]
        return _join([*others, *declared, *(["undefined"] if properties else [])], " | ")


def _simple(expression: str) -> bool:
    return not any(c in expression for c in "|&") or expression.startswith(("{", "("))


def _array_of(expression: str) -> str:
    return f"{expression}[]" if _IDENTIFIER.fullmatch(expression) else f"Array<{expression}>"


def _join(parts: list[str], joiner: str) -> str:
    unique = list(dict.fromkeys(parts))
    if "unknown" in unique and joiner == " | ":
        return "unknown"
    return joiner.join(unique)


def _value_type(value: Any) -> str:
    if value is None or isinstance(value, bool | int | float | str):
        return _literal(value)
    return "unknown"


class _Emitter:
    def __init__(
        self, spec: Spec, bundle: Bundle, model: ClientModel, header: str, package: str
    ) -> None:
        self.spec = spec
        self.bundle = bundle
        self.model = model
        self.header = "// " + header.lstrip("#").strip()
        self.package = package
        roots = [bundle.payloads[m.id] for m in spec.messages]
        self.definitions = bundle.reachable(roots)
        self.taken: set[str] = set()
        self.names: dict[str, str] = {}
        for definition in self.definitions:
            self.names[definition] = self.claim(definition)
        self.types = _Types(bundle, self.names)
        self.server_message = self.claim("ServerMessage")
        self.client_message = self.claim("ClientMessage")
        self.server_map = self.claim("ServerMessageMap")
        self.client_tag = find_tag(bundle, [bundle.payloads[m] for m in model.client_messages])

    def claim(self, wanted: str) -> str:
        name = wanted if _IDENTIFIER.fullmatch(wanted) else _pascal(wanted)
        if name in _RESERVED_TYPES:
            name += "Schema"
        candidate, counter = name, 2
        while candidate in self.taken:
            candidate = f"{name}{counter}"
            counter += 1
        self.taken.add(candidate)
        return candidate

    def type_of(self, message_id: str) -> str:
        return self.names[self.bundle.payloads[message_id]]

    def tag_of(self, message_id: str, prop: str | None) -> Any:
        if prop is None:
            return None
        return object_tags(self.bundle, self.bundle.payloads[message_id]).get(prop)

    def server_tags(self) -> dict[str, Any]:
        """Server message id -> its tag value (every server message has one when there is a tag)."""
        tag = self.model.tag
        if tag is None:
            return {}
        tags = {m: self.tag_of(m, tag) for m in self.model.server_messages}
        return {m: v for m, v in tags.items() if v is not None}

    # -- types.ts -----------------------------------------------------------------

    def types_module(self) -> str:
        model, spec = self.model, self.spec
        out = [self.header, *_jsdoc(f"Message types of {spec.title} {spec.version}.")]
        out.append("")
        for definition in self.definitions:
            schema = self.bundle.definitions[definition]
            name = self.names[definition]
            description = schema.get("description") if isinstance(schema, dict) else None
            out.extend(_jsdoc(description if isinstance(description, str) else None))
            expression = self.types.expression(schema)
            if expression.startswith("{\n"):
                out.append(f"export interface {name} {expression}")
            else:
                out.append(f"export type {name} = {expression};")
            out.append("")
        out.extend(self._union(self.server_message, model.server_messages, "sends"))
        out.extend(self._union(self.client_message, model.client_messages, "receives"))
        tags = self.server_tags()
        tag = model.tag
        out.append(
            "/** The property that tells server messages apart, or `null` when none does. */"
        )
        out.append(f"export const TAG = {_literal(tag)};")
        out.append("")
        out.append(
            f"/** Each server message type by its `{tag}` value. */"
            if tag
            else "/** Server messages by tag: empty, as no property tells them apart. */"
        )
        out.append(f"export interface {self.server_map} {{")
        for message_id, value in tags.items():
            out.append(f"  {_literal(value)}: {self.type_of(message_id)};")
        out.append("}")
        out.append("")
        out.append(
            "/** Message id in the document -> its tag value (`null` for a message without one). */"
        )
        out.append("export const MESSAGE_TYPES = {")
        client_prop = self.client_tag.property if self.client_tag else None
        for message in spec.messages:
            value = self.tag_of(message.id, tag)
            if message.id not in model.server_messages:
                value = self.tag_of(message.id, client_prop) if client_prop else None
            out.append(f"  {_key(message.id)}: {_literal(value)},")
        out.append("} as const;")
        out.append("")
        guards: set[str] = set()
        for message_id, value in tags.items():
            type_name = self.type_of(message_id)
            guard = f"is{type_name[:1].upper()}{type_name[1:]}"
            if guard in guards:
                continue
            guards.add(guard)
            out.append(
                f"/** Whether `message` is `{type_name}` (its `{tag}` is {_literal(value)}). */"
            )
            out.append(
                f"export function {guard}(message: {self.server_message}): message is {type_name} {{"
            )
            out.append(f"  return {_member('message', str(tag))} === {_literal(value)};")
            out.append("}")
            out.append("")
        return "\n".join(out).rstrip() + "\n"

    def _union(self, name: str, message_ids: tuple[str, ...], verb: str) -> list[str]:
        members = list(dict.fromkeys(self.type_of(m) for m in message_ids))
        lines = [f"/** Every message the server {verb}. */"]
        if not members:
            return [*lines, f"export type {name} = never;", ""]
        body = "".join(f"\n  | {m}" for m in members)
        return [*lines, f"export type {name} ={body};", ""]

    # -- client.ts ----------------------------------------------------------------

    def request_info(self, request: Request) -> dict[str, Any]:
        prop = (
            self.client_tag.property
            if self.client_tag
            else self.model.tag
            if self.tag_of(request.message, self.model.tag) is not None
            else None
        )
        value = self.tag_of(request.message, prop)
        tag = self.model.tag
        return {
            "tag": [prop, value] if prop is not None and value is not None else None,
            "correlation": request.correlation,
            "replies": [self.tag_of(m, tag) for m in request.replies] if tag else [],
            "errors": [self.tag_of(m, tag) for m in request.errors] if tag else [],
            "awaits": bool(request.replies or request.errors) and request.correlation is not None,
        }

    def omitted(self, request: Request) -> list[str]:
        info = self.request_info(request)
        fields = [info["tag"][0]] if info["tag"] else []
        if request.correlation and request.correlation not in fields:
            fields.append(request.correlation)
        return fields

    def params_optional(self, request: Request, omitted: list[str]) -> bool:
        schema = self.bundle.resolve(self.bundle.definitions[self.bundle.payloads[request.message]])
        if not isinstance(schema, dict) or schema.get("type") != "object":
            return False
        if any(k in schema for k in ("oneOf", "anyOf", "allOf")):
            return False
        required = schema.get("required", [])
        return isinstance(required, list) and all(r in omitted for r in required)

    def position_field(self) -> str | None:
        """The reply entry property that holds ``{epoch, seq}`` (``position``), if any."""
        resume = self.model.resume
        subscribe = self.model.role("subscribe")
        if resume is None or subscribe is None:
            return None
        for reply in subscribe.replies:
            schema = self.bundle.resolve(self.bundle.definitions[self.bundle.payloads[reply]])
            entries = self.bundle.resolve(_prop(schema, resume.reply_list))
            entry = self.bundle.resolve(entries.get("items") if isinstance(entries, dict) else None)
            props = entry.get("properties") if isinstance(entry, dict) else None
            for name, prop in (props or {}).items():
                inner = _prop(self.bundle.resolve(prop), resume.epoch)
                if inner is not None and _prop(self.bundle.resolve(prop), resume.seq) is not None:
                    return str(name)
        return None

    def protocol(self) -> dict[str, Any]:
        model = self.model
        methods = self.method_names()
        roles = {
            role: methods[request.operation, request.message]
            for role in ("subscribe", "unsubscribe", "heartbeat", "auth")
            if (request := model.role(role)) is not None
        }
        resume = model.resume
        return {
            "tag": model.tag,
            "requests": {
                methods[r.operation, r.message]: self.request_info(r) for r in model.requests
            },
            "roles": roles,
            "resume": None
            if resume is None
            else {
                "channels": list(resume.channels),
                "list": resume.list,
                "name": resume.name,
                "since": resume.since,
                "replyList": resume.reply_list,
                "recovered": resume.recovered,
                "position": self.position_field(),
                "channel": resume.channel,
                "epoch": resume.epoch,
                "seq": resume.seq,
            },
            "queryToken": self.query_token(),
            "bearer": self.bearer(),
        }

    def query_token(self) -> str | None:
        for _, scheme in self.spec.security_schemes:
            if (
                isinstance(scheme, dict)
                and scheme.get("type") in ("httpApiKey", "apiKey")
                and scheme.get("in") == "query"
                and isinstance(scheme.get("name"), str)
            ):
                return str(scheme["name"])
        return None

    def bearer(self) -> bool:
        return any(
            isinstance(scheme, dict)
            and scheme.get("type") == "http"
            and str(scheme.get("scheme", "")).lower() == "bearer"
            for _, scheme in self.spec.security_schemes
        )

    def method_names(self) -> dict[tuple[str, str], str]:
        names: dict[tuple[str, str], str] = {}
        taken: set[str] = set()
        for request in self.model.requests:
            name = _camel(request.method)
            if name in _CLIENT_MEMBERS:
                name = "call" + name[:1].upper() + name[1:]
            candidate, counter = name, 2
            while candidate in taken:
                candidate, counter = f"{name}{counter}", counter + 1
            taken.add(candidate)
            names[request.operation, request.message] = candidate
        return names

    def client_module(self) -> str:
        model = self.model
        methods = self.method_names()
        types = "T"
        error_types = list(dict.fromkeys(self.type_of(m) for m in model.errors))
        lines = [self.header, "", f'import type * as {types} from "./types.js";', ""]
        lines.append("/** An error message of the protocol, as the server sent it. */")
        lines.append(
            "export type ErrorMessage = "
            + (" | ".join(f"{types}.{e}" for e in error_types) if error_types else "never")
            + ";"
        )
        resume = model.resume
        channels = " | ".join(_literal(c) for c in resume.channels) if resume else ""
        lines.append(
            "/** A channel whose messages carry a resumable position. */\n"
            f"export type ResumeChannel = {channels or 'never'};"
        )
        lines.append("")
        lines.append(
            _RUNTIME.replace("__SERVER__", f"{types}.{self.server_message}")
            .replace("__CLIENT__", f"{types}.{self.client_message}")
            .replace("__MAP__", f"{types}.{self.server_map}")
        )
        lines.append(
            "const PROTOCOL: Protocol = "
            + json.dumps(self.protocol(), indent=2, ensure_ascii=False)
            + ";"
        )
        lines.append("")
        params: list[str] = []
        body: list[str] = []
        for request in model.requests:
            method = methods[request.operation, request.message]
            message_type = f"{types}.{self.type_of(request.message)}"
            omitted = self.omitted(request)
            params_name = f"{method[:1].upper()}{method[1:]}Params"
            if omitted:
                keys = " | ".join(_literal(o) for o in omitted)
                params.append(f"/** What `{method}` sends, less what the client fills in. */")
                params.append(
                    f"export type {params_name} = DistributiveOmit<{message_type}, {keys}>;"
                )
            else:
                params.append(f"/** What `{method}` sends. */")
                params.append(f"export type {params_name} = {message_type};")
            info = self.request_info(request)
            replies = list(dict.fromkeys(self.type_of(m) for m in request.replies))
            doc = "\n\n".join(t.strip() for t in (request.summary, request.description) if t)
            returns = "void"
            if info["awaits"]:
                returns = " | ".join(f"{types}.{r}" for r in replies) if replies else "void"
                errors = ", ".join(f"`{self.type_of(e)}`" for e in request.errors)
                extra = (
                    f"Rejects with a `ServerError` carrying the {errors} reply, or a"
                    " `RequestTimeoutError`."
                    if errors
                    else "Rejects with a `RequestTimeoutError` when no reply comes in time."
                )
                doc = f"{doc}\n\n{extra}".strip()
            else:
                doc = f"{doc}\n\nSend only: resolves once the message is handed to the socket.".strip()
            optional = self.params_optional(request, omitted)
            argument = f"params: {params_name}" + (" = {}" if optional else "")
            body.extend(_jsdoc(doc, "  "))
            body.append(f"  {method}({argument}): Promise<{returns}> {{")
            body.append(
                f"    return this.call<{returns}>({_literal(method)}, params as Record<string, unknown>);"
            )
            body.append("  }")
            body.append("")
        lines.extend(params)
        lines.append("")
        lines.extend(
            _jsdoc(
                f"A client of {self.spec.title} {self.spec.version}.\n\n"
                "Open one with `Client.connect(url, options)`. It reconnects on its own with"
                " exponential backoff and full jitter until `close()` is called"
                + (
                    ", remembers subscriptions and resumes them from the last delivered position"
                    " (duplicates are dropped; `onResync` tells when history was lost)"
                    if resume
                    else ""
                )
                + "."
            )
        )
        lines.append("export class Client extends ClientCore {")
        lines.append(
            "  /** Open a connection; resolves once it is open (and authenticated, in-band). */"
        )
        lines.append(
            "  static async connect(url: string | URL, options: ClientOptions = {}): Promise<Client> {"
        )
        lines.append("    const client = new Client(String(url), options, PROTOCOL);")
        lines.append("    await client.start();")
        lines.append("    return client;")
        lines.append("  }")
        lines.append("")
        lines.append(
            "  /** A client not connected yet: add handlers, then `await client.start()`, to miss no frame. */"
        )
        lines.append("  static create(url: string | URL, options: ClientOptions = {}): Client {")
        lines.append("    return new Client(String(url), options, PROTOCOL);")
        lines.append("  }")
        lines.append("")
        lines.extend(body)
        while lines[-1] == "":
            lines.pop()
        lines.append("}")
        return "\n".join(lines) + "\n"

    # -- the rest -----------------------------------------------------------------

    def schemas_module(self) -> str:
        schemas = emit_jsonschema(self.spec, self.bundle)
        text = schemas.get(DIRECTION_FILES[Direction.SEND])
        schema = (
            json.loads(text)
            if text is not None
            else {"$schema": DRAFT_07, "title": f"{self.spec.title}: no server message", "not": {}}
        )
        return "\n".join(
            [
                self.header,
                "",
                "/** A JSON value. */",
                "export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };",
                "",
                "/** The draft-07 JSON Schema of every message the server sends. */",
                "export const SERVER_TO_CLIENT_SCHEMA: { [key: string]: Json } = "
                + json.dumps(schema, indent=2, ensure_ascii=False)
                + ";",
                "",
            ]
        )

    def package_json(self) -> str:
        generated = self.header.removeprefix("// ")
        document = {
            "name": self.package,
            "version": _npm_version(self.spec.version),
            "description": f"TypeScript client for {self.spec.title} {self.spec.version}. {generated}",
            "type": "module",
            "main": "./dist/index.js",
            "types": "./dist/index.d.ts",
            "exports": {
                ".": {"types": "./dist/index.d.ts", "default": "./dist/index.js"},
                "./validate": {"types": "./dist/validate.d.ts", "default": "./dist/validate.js"},
                "./package.json": "./package.json",
            },
            "files": ["dist", "src"],
            "sideEffects": False,
            "scripts": {"build": "tsc -p .", "prepack": "tsc -p ."},
            "peerDependencies": {"ajv": AJV},
            "peerDependenciesMeta": {"ajv": {"optional": True}},
            "devDependencies": {"ajv": AJV, "typescript": TYPESCRIPT},
            "engines": {"node": ">=18"},
        }
        return json.dumps(document, indent=2, ensure_ascii=False) + "\n"

    def emit(self) -> dict[str, str]:
        return {
            "package.json": self.package_json(),
            "tsconfig.json": json.dumps(TSCONFIG, indent=2) + "\n",
            "src/types.ts": self.types_module(),
            "src/client.ts": self.client_module(),
            "src/schemas.ts": self.schemas_module(),
            "src/validate.ts": self.header
            + "\n"
            + _VALIDATE.replace("__SERVER__", self.server_message),
            "src/index.ts": "\n".join(
                [
                    self.header,
                    *_jsdoc(f"{self.spec.title} {self.spec.version}: message types and client."),
                    'export * from "./types.js";',
                    'export * from "./client.js";',
                    "",
                ]
            ),
        }


def _prop(schema: Any, name: str) -> Any:
    if not isinstance(schema, dict):
        return None
    props = schema.get("properties")
    return props.get(name) if isinstance(props, dict) else None


TSCONFIG: dict[str, Any] = {
    "compilerOptions": {
        "target": "ES2022",
        "module": "NodeNext",
        "moduleResolution": "NodeNext",
        "lib": ["ES2022", "DOM"],
        "types": [],
        "strict": True,
        "noImplicitOverride": True,
        "noFallthroughCasesInSwitch": True,
        "noUncheckedIndexedAccess": True,
        "isolatedModules": True,
        "verbatimModuleSyntax": True,
        "forceConsistentCasingInFileNames": True,
        "declaration": True,
        "declarationMap": True,
        "sourceMap": True,
        "rootDir": "src",
        "outDir": "dist",
    },
    "include": ["src"],
}


def emit_typescript(
    spec: Spec, bundle: Bundle, model: ClientModel, header: str, package: str
) -> dict[str, str]:
    """Relative path -> file text of an npm package (deterministic, no timestamps)."""
    return _Emitter(spec, bundle, model, header, package).emit()


_VALIDATE = """\
/**
 * Optional runtime validation of inbound frames, with Ajv (an optional peer dependency).
 *
 * ```ts
 * import { Client } from "PACKAGE";
 * import { createValidator } from "PACKAGE/validate";
 * const client = await Client.connect(url, { validate: createValidator() });
 * ```
 */
import { Ajv, type ErrorObject, type SchemaObject } from "ajv";
import { SERVER_TO_CLIENT_SCHEMA } from "./schemas.js";
import type { __SERVER__ } from "./types.js";

/** A frame the server-to-client schema does not accept. */
export class ValidationError extends Error {
  override readonly name = "ValidationError";

  constructor(
    readonly frame: unknown,
    readonly errors: readonly ErrorObject[],
  ) {
    const first = errors[0];
    super(
      first
        ? `invalid server message: ${first.instancePath || "/"} ${first.message ?? "is invalid"}`
        : "invalid server message",
    );
  }
}

export interface ValidatorOptions {
  /**
   * The Ajv instance to compile with, for instance one with `ajv-formats` added.
   * By default a new draft-07 instance that does not check `format`.
   */
  ajv?: Ajv;
}

/** A function for the client's `validate` option: the message, or a `ValidationError`. */
export function createValidator(options: ValidatorOptions = {}): (frame: unknown) => __SERVER__ {
  const ajv = options.ajv ?? new Ajv({ strict: false, validateFormats: false, allErrors: true });
  // The schema is plain JSON; Ajv's own schema type is looser about keywords.
  const check = ajv.compile<__SERVER__>(SERVER_TO_CLIENT_SCHEMA as SchemaObject);
  return (frame: unknown): __SERVER__ => {
    if (check(frame)) return frame;
    throw new ValidationError(frame, check.errors ?? []);
  };
}
"""

_RUNTIME = r"""
type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;

/** A `{epoch, seq}` position on a resumable channel. */
export interface Position {
  epoch: string | number;
  seq: number;
}

/** History could not be recovered on `channel`: refetch its state. */
export interface ResyncEvent {
  channel: ResumeChannel;
  /** `not-recovered`: the server could not replay from our position; `epoch-changed`: its numbering restarted. */
  reason: "not-recovered" | "epoch-changed";
  /** The last position delivered before, if any. */
  previous: Position | null;
  /** The position the channel continues from, when known. */
  current: Position | null;
}

export type ClientStatus = "connecting" | "open" | "reconnecting" | "closed";

/** The message type for a key of `on` and `stream`: a tag value, or `"*"` for every message. */
export type MessageOf<K> = K extends keyof __MAP__ ? __MAP__[K] : __SERVER__;
export type MessageKey = keyof __MAP__ | "*";

/** What the client needs of a WebSocket: the browser's and the `ws` package's both fit. */
export interface WebSocketLike {
  readonly readyState: number;
  send(data: string): void;
  close(code?: number, reason?: string): void;
  terminate?(): void;
  onopen: Listener<unknown> | null;
  onmessage: Listener<{ data: unknown }> | null;
  onclose: Listener<{ code: number; reason: string | { toString(): string } }> | null;
  onerror: Listener<unknown> | null;
}
// Declared as a method so that sockets whose events are richer still fit.
type Listener<E> = { bivarianceHack(event: E): void }["bivarianceHack"];

export type WebSocketConstructor = new (
  url: string,
  protocols?: string | string[],
  options?: { headers?: Record<string, string> },
) => WebSocketLike;

export interface ReconnectOptions {
  /** The first delay's upper bound (ms): attempt n waits a random time in [0, min(maxMs, initialMs * 2^n)). */
  initialMs?: number;
  /** The largest delay (ms). */
  maxMs?: number;
}

export interface ClientOptions {
  /** An access token, or a function that returns a fresh one for every connection. */
  token?: string | (() => string | Promise<string>);
  /**
   * How the token travels: `header` (`Authorization: Bearer`, only with a constructor that
   * takes headers, such as `ws`), `query` (the handshake URL's query parameter, the way for
   * browsers) or `message` (an in-band auth request after each connect). The default is
   * `header` with a custom constructor, else `query` or `message`, whichever the protocol has.
   */
  tokenTransport?: "header" | "query" | "message";
  /** Extra handshake headers (only with a constructor that takes headers, such as `ws`). */
  headers?: Record<string, string>;
  /** The WebSocket constructor: the global one by default; in Node 20, pass `ws`'s `WebSocket`. */
  WebSocket?: WebSocketConstructor;
  /** Backoff between reconnection attempts, or `false` not to reconnect. */
  reconnect?: ReconnectOptions | false;
  /** Application heartbeat cadence (ms, default 20,000); 0 turns it off. */
  heartbeatIntervalMs?: number;
  /** Without a heartbeat reply for this long (ms), the connection is dropped and made again. */
  heartbeatTimeoutMs?: number;
  /** How long a request waits for its reply (ms). */
  requestTimeoutMs?: number;
  /** Checks every inbound message (for instance `createValidator()` from `./validate`); throws to reject it. */
  validate?: (frame: unknown) => __SERVER__;
  /**
   * Messages a `stream()` holds for its loop (default 1,000). A browser cannot stop reading a
   * WebSocket, so a loop that falls this far behind ends its stream with a `StreamOverflowError`,
   * after the messages it holds: never a silent drop, never unbounded memory.
   */
  maxBuffered?: number;
}

/** The server answered a request with an error message. */
export class ServerError extends Error {
  override readonly name = "ServerError";

  constructor(
    /** The error message the server sent. */
    readonly error: ErrorMessage,
    /** The request it answers. */
    readonly request: __CLIENT__,
  ) {
    const fields = error as unknown as Record<string, unknown>;
    const code = typeof fields.code === "string" ? `${fields.code}: ` : "";
    const text = typeof fields.message === "string" ? fields.message : "request failed";
    super(`${code}${text}`);
  }
}

/** No reply came within `requestTimeoutMs`. */
export class RequestTimeoutError extends Error {
  override readonly name = "RequestTimeoutError";

  constructor(readonly request: __CLIENT__, readonly timeoutMs: number) {
    super(`no reply within ${timeoutMs} ms`);
  }
}

/** A `stream()` whose loop fell `limit` messages behind; it ends after the messages it held. */
export class StreamOverflowError extends Error {
  override readonly name = "StreamOverflowError";

  constructor(readonly limit: number) {
    super(`the stream's loop fell ${limit} messages behind (maxBuffered); open a new stream`);
  }
}

/** The connection closed (or the client was closed) before the request was answered. */
export class ConnectionClosedError extends Error {
  override readonly name = "ConnectionClosedError";
}

interface RequestInfo {
  tag: [string, string | number | boolean] | null;
  correlation: string | null;
  replies: unknown[];
  errors: unknown[];
  awaits: boolean;
}

interface Protocol {
  tag: string | null;
  requests: Record<string, RequestInfo>;
  roles: Partial<Record<"subscribe" | "unsubscribe" | "heartbeat" | "auth", string>>;
  resume: {
    channels: string[];
    list: string;
    name: string;
    since: string;
    replyList: string;
    recovered: string;
    position: string | null;
    channel: string;
    epoch: string;
    seq: string;
  } | null;
  queryToken: string | null;
  bearer: boolean;
}

type Frame = Record<string, unknown>;

interface Pending {
  info: RequestInfo;
  request: Frame;
  resolve: (reply: Frame) => void;
  reject: (error: Error) => void;
  timer: ReturnType<typeof setTimeout>;
}

const OPEN = 1;

function isObject(value: unknown): value is Frame {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function randomPrefix(): string {
  const bytes = new Uint8Array(6);
  const crypto = (globalThis as { crypto?: { getRandomValues?(array: Uint8Array): Uint8Array } }).crypto;
  if (crypto?.getRandomValues) crypto.getRandomValues(bytes);
  else for (let i = 0; i < bytes.length; i++) bytes[i] = Math.floor(Math.random() * 256);
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

/** A queue behind an async iterator; ends when the client closes or the loop breaks. */
class MessageStream<M> implements AsyncIterableIterator<M> {
  private readonly buffer: M[] = [];
  private readonly waiting: ((result: IteratorResult<M>) => void)[] = [];
  private done = false;
  private overflow: StreamOverflowError | null = null;

  constructor(
    private readonly detach: () => void,
    private readonly limit: number,
  ) {}

  push(message: M): void {
    if (this.done) return;
    const next = this.waiting.shift();
    if (next) next({ value: message, done: false });
    else if (this.buffer.length < this.limit) this.buffer.push(message);
    else {
      this.overflow = new StreamOverflowError(this.limit);
      this.end();
    }
  }

  end(): void {
    if (this.done) return;
    this.done = true;
    this.detach();
    for (const next of this.waiting.splice(0)) next({ value: undefined, done: true });
  }

  next(): Promise<IteratorResult<M>> {
    const message = this.buffer.shift();
    if (message !== undefined) return Promise.resolve({ value: message, done: false });
    if (this.overflow) {
      const overflow = this.overflow;
      this.overflow = null;
      return Promise.reject(overflow);
    }
    if (this.done) return Promise.resolve({ value: undefined, done: true });
    return new Promise((resolve) => this.waiting.push(resolve));
  }

  return(): Promise<IteratorResult<M>> {
    this.buffer.length = 0;
    this.overflow = null;
    this.end();
    return Promise.resolve({ value: undefined, done: true });
  }

  [Symbol.asyncIterator](): AsyncIterableIterator<M> {
    return this;
  }
}

/** The protocol-independent machinery under `Client`. */
class ClientCore {
  private socket: WebSocketLike | null = null;
  private currentStatus: ClientStatus = "connecting";
  private closing = false;
  private attempt = 0;
  private counter = 0;
  private readonly prefix = randomPrefix();
  private readonly pending = new Map<string, Pending>();
  private readonly outbox: string[] = [];
  private readonly handlers = new Map<string, Set<(message: never) => void>>();
  private readonly resyncHandlers = new Set<(event: ResyncEvent) => void>();
  private readonly statusHandlers = new Set<(status: ClientStatus, detail?: { code?: number; reason?: string }) => void>();
  private readonly errorHandlers = new Set<(error: unknown) => void>();
  /** Remembered subscriptions, by channel name: the request's entries, without positions. */
  private readonly subscriptions = new Map<string, Frame>();
  /** The last delivered position per resumable channel. */
  private readonly positions = new Map<string, Position>();
  private heartbeat: ReturnType<typeof setInterval> | null = null;
  private retry: ReturnType<typeof setTimeout> | null = null;
  private readonly WebSocketImpl: WebSocketConstructor;

  protected constructor(
    readonly url: string,
    private readonly options: ClientOptions,
    private readonly protocol: Protocol,
  ) {
    const fallback = (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket;
    const impl = options.WebSocket ?? fallback;
    if (!impl) {
      throw new TypeError("no global WebSocket: pass one, e.g. { WebSocket } from the 'ws' package");
    }
    this.WebSocketImpl = impl;
    const limit = options.maxBuffered;
    if (limit !== undefined && !(Number.isInteger(limit) && limit >= 1)) {
      throw new RangeError("maxBuffered must be a whole number of at least 1");
    }
  }

  /** `connecting`, `open`, `reconnecting` or `closed`. */
  get status(): ClientStatus {
    return this.currentStatus;
  }

  /** Call `handler` with every message whose tag is `type` (`"*"`: every message); returns an unsubscribe function. */
  on<K extends MessageKey>(type: K, handler: (message: MessageOf<K>) => void): () => void {
    const key = String(type);
    let set = this.handlers.get(key);
    if (!set) this.handlers.set(key, (set = new Set()));
    const stored = handler as (message: never) => void;
    set.add(stored);
    return () => {
      set.delete(stored);
    };
  }

  /**
   * The messages whose tag is `type` (`"*"`: every message) from now on, until `close()` or `break`.
   * A loop that falls `maxBuffered` messages behind gets them, then a `StreamOverflowError`.
   */
  stream<K extends MessageKey>(type: K): AsyncIterableIterator<MessageOf<K>> {
    const stream: MessageStream<MessageOf<K>> = new MessageStream(() => {
      off();
      this.streams.delete(stream as MessageStream<unknown>);
    }, this.options.maxBuffered ?? 1000);
    const off = this.on(type, (message) => stream.push(message));
    this.streams.add(stream as MessageStream<unknown>);
    return stream;
  }

  private readonly streams = new Set<MessageStream<unknown>>();

  /** Call `handler` when a channel's history could not be recovered: its state must be fetched again. */
  onResync(handler: (event: ResyncEvent) => void): () => void {
    this.resyncHandlers.add(handler);
    return () => this.resyncHandlers.delete(handler);
  }

  /** Call `handler` whenever the connection's status changes. */
  onStatus(handler: (status: ClientStatus, detail?: { code?: number; reason?: string }) => void): () => void {
    this.statusHandlers.add(handler);
    return () => this.statusHandlers.delete(handler);
  }

  /** Call `handler` with what went wrong outside a request: undecodable or invalid frames, failed in-band auth. */
  onError(handler: (error: unknown) => void): () => void {
    this.errorHandlers.add(handler);
    return () => this.errorHandlers.delete(handler);
  }

  /** Send a message as it is (no correlation, no reply awaited); queued while reconnecting. */
  send(message: __CLIENT__): void {
    this.transmit(JSON.stringify(message));
  }

  /** Close the connection for good: pending requests reject, streams end, no reconnection. */
  close(code = 1000, reason = "client closed"): void {
    if (this.closing) return;
    this.closing = true;
    this.stopTimers();
    const socket = this.socket;
    this.socket = null;
    if (socket) {
      this.detach(socket);
      try {
        socket.close(code, reason);
      } catch {
        // Already closing.
      }
    }
    this.failPending(new ConnectionClosedError("the client was closed"));
    this.outbox.length = 0;
    for (const stream of [...this.streams]) stream.end();
    this.setStatus("closed", { code, reason });
  }

  /** Connect a client made with `create`; resolves once open (and authenticated, in-band). */
  start(): Promise<void> {
    return new Promise((resolve, reject) => {
      this.open(resolve, (error) => {
        this.close(1000, "connection failed");
        reject(error);
      });
    });
  }

  protected call<R>(method: string, params: Record<string, unknown>): Promise<R> {
    const info = this.protocol.requests[method];
    if (!info) return Promise.reject(new TypeError(`unknown request ${method}`));
    return this.request(info, params).then((reply) => {
      if (method === this.protocol.roles.subscribe) this.remember(params);
      if (method === this.protocol.roles.unsubscribe) this.forget(params);
      return reply as unknown as R;
    });
  }

  private request(info: RequestInfo, params: Record<string, unknown>, timeoutMs?: number): Promise<Frame> {
    const message: Frame = { ...params };
    if (info.tag) message[info.tag[0]] = info.tag[1];
    if (this.closing) return Promise.reject(new ConnectionClosedError("the client was closed"));
    if (!info.awaits || !info.correlation) {
      this.transmit(JSON.stringify(message));
      return Promise.resolve({});
    }
    const id = `${this.prefix}-${++this.counter}`;
    message[info.correlation] = id;
    const limit = timeoutMs ?? this.options.requestTimeoutMs ?? 10_000;
    return new Promise<Frame>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new RequestTimeoutError(message as unknown as __CLIENT__, limit));
      }, limit);
      this.pending.set(id, { info, request: message, resolve, reject, timer });
      this.transmit(JSON.stringify(message));
    });
  }

  private transmit(text: string): void {
    const socket = this.socket;
    if (socket && socket.readyState === OPEN && this.currentStatus === "open") socket.send(text);
    else if (!this.closing) this.outbox.push(text);
  }

  private async open(onOpen?: () => void, onFail?: (error: unknown) => void): Promise<void> {
    let socket: WebSocketLike;
    try {
      const { url, init } = await this.handshake();
      socket = init ? new this.WebSocketImpl(url, undefined, init) : new this.WebSocketImpl(url);
    } catch (error) {
      if (onFail) onFail(error);
      else this.scheduleReconnect();
      return;
    }
    if (this.closing) {
      socket.close(1000, "client closed");
      return;
    }
    this.socket = socket;
    let opened = false;
    socket.onopen = () => {
      opened = true;
      void this.ready(socket).then(
        () => onOpen?.(),
        (error: unknown) => {
          if (onFail) onFail(error);
          else {
            this.emitError(error);
            this.close(1000, "in-band authentication failed");
          }
        },
      );
    };
    socket.onmessage = (event) => this.receive(event.data);
    socket.onerror = () => {
      // A close event follows; it carries what there is to know.
    };
    socket.onclose = (event) => {
      if (this.socket !== socket) return;
      const detail = { code: event.code, reason: String(event.reason) };
      if (!opened && onFail) {
        onFail(new ConnectionClosedError(`could not connect to ${this.url} (close code ${event.code})`));
        return;
      }
      this.dropped(detail);
    };
  }

  private async handshake(): Promise<{ url: string; init?: { headers: Record<string, string> } }> {
    const supplied = this.options.token;
    const token = typeof supplied === "function" ? await supplied() : supplied;
    const headers = { ...this.options.headers };
    const url = new URL(this.url);
    if (token !== undefined && this.transport() === "header") headers.Authorization = `Bearer ${token}`;
    if (token !== undefined && this.transport() === "query" && this.protocol.queryToken) {
      url.searchParams.set(this.protocol.queryToken, token);
    }
    return { url: url.toString(), init: Object.keys(headers).length ? { headers } : undefined };
  }

  private transport(): "header" | "query" | "message" {
    const chosen = this.options.tokenTransport;
    if (chosen) return chosen;
    if (this.options.WebSocket && (this.protocol.bearer || !this.protocol.queryToken)) return "header";
    if (this.protocol.queryToken) return "query";
    return this.protocol.roles.auth ? "message" : "header";
  }

  /** After the socket opens: authenticate in-band if so configured, resubscribe, flush the outbox. */
  private async ready(socket: WebSocketLike): Promise<void> {
    this.setStatus("open");
    const queued = this.outbox.splice(0);
    const auth = this.protocol.roles.auth;
    if (auth && this.options.token !== undefined && this.transport() === "message") {
      const supplied = this.options.token;
      const token = typeof supplied === "function" ? await supplied() : supplied;
      const info = this.protocol.requests[auth];
      if (info) await this.request(info, { token });
    }
    if (this.socket !== socket) return;
    this.attempt = 0;
    this.startHeartbeat(socket);
    this.resubscribe();
    for (const text of queued) this.transmit(text);
  }

  private resubscribe(): void {
    const method = this.protocol.roles.subscribe;
    const resume = this.protocol.resume;
    const info = method ? this.protocol.requests[method] : undefined;
    if (!info || !resume || this.subscriptions.size === 0) return;
    const entries = [...this.subscriptions.values()].map((entry) => {
      const name = String(entry[resume.name]);
      const position = this.positions.get(name);
      return position && resume.channels.includes(name) ? { ...entry, [resume.since]: position } : { ...entry };
    });
    this.request(info, { [resume.list]: entries }).catch((error: unknown) => this.emitError(error));
  }

  private remember(params: Record<string, unknown>): void {
    const resume = this.protocol.resume;
    const entries = resume ? params[resume.list] : undefined;
    if (!resume || !Array.isArray(entries)) return;
    for (const entry of entries) {
      if (!isObject(entry) || typeof entry[resume.name] !== "string") continue;
      const { [resume.since]: _since, ...rest } = entry;
      this.subscriptions.set(entry[resume.name] as string, rest);
    }
  }

  private forget(params: Record<string, unknown>): void {
    const resume = this.protocol.resume;
    const names = resume ? params[resume.list] : undefined;
    if (!resume || !Array.isArray(names)) return;
    for (const item of names) {
      const name = isObject(item) ? item[resume.name] : item;
      if (typeof name === "string") {
        this.subscriptions.delete(name);
        this.positions.delete(name);
      }
    }
  }

  private receive(data: unknown): void {
    if (typeof data !== "string") {
      this.emitError(new TypeError("binary frame ignored: the protocol uses text frames"));
      return;
    }
    let frame: unknown;
    try {
      frame = JSON.parse(data);
    } catch (error) {
      this.emitError(error);
      return;
    }
    if (this.options.validate) {
      try {
        frame = this.options.validate(frame);
      } catch (error) {
        this.emitError(error);
        return;
      }
    }
    if (!isObject(frame)) {
      this.deliver(frame);
      return;
    }
    this.settle(frame);
    if (this.duplicate(frame)) return;
    this.deliver(frame);
  }

  /** Resolve or reject the request `frame` answers, if it answers one. */
  private settle(frame: Frame): void {
    for (const [id, pending] of this.pending) {
      const correlation = pending.info.correlation;
      if (!correlation || frame[correlation] !== id) continue;
      const tag = this.protocol.tag;
      const value = tag ? frame[tag] : undefined;
      if (tag && pending.info.errors.includes(value)) {
        this.finish(id, pending);
        pending.reject(new ServerError(frame as unknown as ErrorMessage, pending.request as unknown as __CLIENT__));
      } else if (!tag || pending.info.replies.includes(value)) {
        this.finish(id, pending);
        this.resumed(pending, frame);
        pending.resolve(frame);
      }
      return;
    }
  }

  private finish(id: string, pending: Pending): void {
    clearTimeout(pending.timer);
    this.pending.delete(id);
  }

  /** A subscribe reply: report channels whose history was lost; take fresh positions. */
  private resumed(pending: Pending, reply: Frame): void {
    const resume = this.protocol.resume;
    const subscribe = this.protocol.roles.subscribe;
    if (!resume || !subscribe || pending.info !== this.protocol.requests[subscribe]) return;
    const entries = reply[resume.replyList];
    if (!Array.isArray(entries)) return;
    for (const entry of entries) {
      if (!isObject(entry)) continue;
      const name = entry[resume.name];
      if (typeof name !== "string" || !resume.channels.includes(name)) continue;
      const channel = name as ResumeChannel;
      const previous = this.positions.get(name) ?? null;
      const current = resume.position ? this.position(entry[resume.position]) : null;
      if (entry[resume.recovered] === false) {
        this.positions.delete(name);
        if (current) this.positions.set(name, current);
        this.emitResync({ channel, reason: "not-recovered", previous, current });
      } else if (previous && current && previous.epoch !== current.epoch) {
        this.positions.set(name, current);
        this.emitResync({ channel, reason: "epoch-changed", previous, current });
      } else if (!previous && current) {
        this.positions.set(name, current);
      }
    }
  }

  private position(value: unknown): Position | null {
    const resume = this.protocol.resume;
    if (!resume || !isObject(value)) return null;
    const epoch = value[resume.epoch];
    const seq = value[resume.seq];
    if ((typeof epoch !== "string" && typeof epoch !== "number") || typeof seq !== "number") return null;
    return { epoch, seq };
  }

  /** Whether `frame` was delivered already (same epoch, seq not after the last one); tracks positions. */
  private duplicate(frame: Frame): boolean {
    const resume = this.protocol.resume;
    if (!resume) return false;
    const name = frame[resume.channel];
    if (typeof name !== "string" || !resume.channels.includes(name)) return false;
    const current = this.position(frame);
    if (!current) return false;
    const previous = this.positions.get(name);
    if (previous && previous.epoch === current.epoch && current.seq <= previous.seq) return true;
    this.positions.set(name, current);
    if (previous && previous.epoch !== current.epoch) {
      this.emitResync({ channel: name as ResumeChannel, reason: "epoch-changed", previous, current });
    }
    return false;
  }

  private deliver(message: unknown): void {
    const tag = this.protocol.tag;
    const value = tag && isObject(message) ? message[tag] : undefined;
    const keys = value === undefined ? ["*"] : [String(value), "*"];
    for (const key of keys) {
      for (const handler of [...(this.handlers.get(key) ?? [])]) {
        try {
          (handler as (message: unknown) => void)(message);
        } catch (error) {
          this.emitError(error);
        }
      }
    }
  }

  private startHeartbeat(socket: WebSocketLike): void {
    const method = this.protocol.roles.heartbeat;
    const info = method ? this.protocol.requests[method] : undefined;
    const interval = this.options.heartbeatIntervalMs ?? 20_000;
    const timeout = this.options.heartbeatTimeoutMs ?? 10_000;
    if (!info || interval <= 0) return;
    this.heartbeat = setInterval(() => {
      this.request(info, {}, timeout).catch((error: unknown) => {
        if (error instanceof RequestTimeoutError && this.socket === socket) {
          this.abandon(socket, { code: 4000, reason: "heartbeat timeout" });
        }
      });
    }, interval);
  }

  /** Give up on a socket that may be dead: do not wait for its closing handshake. */
  private abandon(socket: WebSocketLike, detail: { code: number; reason: string }): void {
    this.detach(socket);
    try {
      if (socket.terminate) socket.terminate();
      else socket.close(detail.code, detail.reason);
    } catch {
      // Nothing more to do with it.
    }
    this.dropped(detail);
  }

  private detach(socket: WebSocketLike): void {
    socket.onopen = socket.onmessage = socket.onclose = null;
    socket.onerror = () => {};
  }

  private dropped(detail: { code: number; reason: string }): void {
    this.socket = null;
    this.stopTimers();
    this.failPending(new ConnectionClosedError(`connection closed (${detail.code})`));
    if (this.closing) return;
    if (this.options.reconnect === false) {
      this.close(detail.code, detail.reason);
      return;
    }
    this.setStatus("reconnecting", detail);
    this.scheduleReconnect();
  }

  private scheduleReconnect(): void {
    if (this.closing) return;
    const policy = this.options.reconnect || {};
    const initial = policy.initialMs ?? 500;
    const max = policy.maxMs ?? 30_000;
    const ceiling = Math.min(max, initial * 2 ** Math.min(this.attempt, 30));
    this.attempt += 1;
    const delay = Math.random() * ceiling;
    this.retry = setTimeout(() => {
      this.retry = null;
      this.setStatus("reconnecting");
      void this.open();
    }, delay);
  }

  private failPending(error: Error): void {
    for (const [id, pending] of [...this.pending]) {
      this.finish(id, pending);
      pending.reject(error);
    }
  }

  private stopTimers(): void {
    if (this.heartbeat !== null) clearInterval(this.heartbeat);
    if (this.retry !== null) clearTimeout(this.retry);
    this.heartbeat = this.retry = null;
  }

  private setStatus(status: ClientStatus, detail?: { code?: number; reason?: string }): void {
    if (status === this.currentStatus && status !== "reconnecting") return;
    this.currentStatus = status;
    for (const handler of [...this.statusHandlers]) handler(status, detail);
  }

  private emitResync(event: ResyncEvent): void {
    for (const handler of [...this.resyncHandlers]) handler(event);
  }

  private emitError(error: unknown): void {
    for (const handler of [...this.errorHandlers]) handler(error);
  }
}
"""
