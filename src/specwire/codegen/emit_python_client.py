"""Emit the typed client of a generated Python package: ``client.py`` and its runtime.

The runtime (:mod:`specwire.codegen.python_client_runtime`) is copied verbatim as
``_client_runtime.py``; ``client.py`` subclasses its ``BaseClient`` with one method per
request of the :class:`~specwire.codegen.sdk.ClientModel`, whose keyword-only
parameters are the request model's fields (read from ``models.py`` with :mod:`ast`,
so each keeps its exact annotation and default), minus the tag and the correlation
id, which the method fills in.
"""

from __future__ import annotations

import ast
import json
import keyword
import textwrap
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from specwire.codegen.ir import Direction
from specwire.codegen.schemas import find_tag
from specwire.codegen.sdk import ClientModel, Request, client_model

if TYPE_CHECKING:
    from specwire.codegen.emit_python import _PythonEmitter

__all__ = ["CLIENT_MODULE", "RUNTIME_MODULE", "ClientFiles", "emit_client"]

CLIENT_MODULE = "client"
RUNTIME_MODULE = "_client_runtime"
RUNTIME_SOURCE = Path(__file__).with_name("python_client_runtime.py")

RUNTIME_EXPORTS = (
    "Backoff",
    "ClientClosed",
    "ClientError",
    "ClientEvent",
    "ConnectionLost",
    "Disconnected",
    "Reconnected",
    "RequestTimeout",
    "Resync",
    "SubscriptionFailed",
)
"""Names of the runtime that ``client.py`` and the package re-export (unless a model has one)."""

RESERVED_METHODS = frozenset(name for name in dir(object) if not name.startswith("__")) | frozenset(
    {
        "close",
        "connect",
        "connected",
        "duplicates",
        "headers",
        "heartbeat_interval",
        "heartbeat_timeout",
        "invalid_frames",
        "on",
        "on_invalid",
        "open_timeout",
        "positions",
        "reconnect",
        "request_timeout",
        "token",
        "url",
        "wait_closed",
        "websocket_options",
    }
)
"""Attributes of ``BaseClient`` a request method must not shadow."""


@dataclass(frozen=True)
class ClientFiles:
    files: dict[str, str]
    exports: tuple[str, ...]
    """Names ``client.py`` exports, for the package's ``__init__``."""


@dataclass(frozen=True)
class _Field:
    name: str
    annotation: str
    default: str | None


def _strip_annotated(node: ast.expr) -> ast.expr:
    """``Annotated[int | MISSING, Field(ge=0)]`` -> ``int | MISSING`` (the model checks ``ge``)."""
    if (
        isinstance(node, ast.Subscript)
        and isinstance(node.value, ast.Name)
        and node.value.id == "Annotated"
        and isinstance(node.slice, ast.Tuple)
        and node.slice.elts
    ):
        return node.slice.elts[0]
    return node


def _model_fields(source: str) -> dict[str, list[_Field]]:
    """Class name -> its fields (inherited ones first), as source text."""
    classes = {n.name: n for n in ast.parse(source).body if isinstance(n, ast.ClassDef)}
    found: dict[str, list[_Field]] = {}

    def fields_of(name: str) -> list[_Field]:
        if name in found:
            return found[name]
        node = classes[name]
        merged: dict[str, _Field] = {}
        for base in node.bases:
            if isinstance(base, ast.Name) and base.id in classes:
                merged.update((f.name, f) for f in fields_of(base.id))
        for item in node.body:
            if not (isinstance(item, ast.AnnAssign) and isinstance(item.target, ast.Name)):
                continue
            default = item.value
            if (
                isinstance(default, ast.Call)
                and isinstance(default.func, ast.Name)
                and default.func.id == "Field"
            ):
                default = next((k.value for k in default.keywords if k.arg == "default"), None)
            merged[item.target.id] = _Field(
                item.target.id,
                ast.unparse(_strip_annotated(item.annotation)),
                ast.unparse(default) if default is not None else None,
            )
        found[name] = list(merged.values())
        return found[name]

    for name in classes:
        fields_of(name)
    return found


def _tuple(items: list[str]) -> str:
    """A tuple display: ``()``, ``(A,)``, ``(A, B)``."""
    return f"({items[0]},)" if len(items) == 1 else f"({', '.join(items)})"


def _wrap(text: str) -> str:
    return textwrap.fill(text, width=88, break_long_words=False, break_on_hyphens=False)


def _names(source: str) -> set[str]:
    return {n.id for n in ast.walk(ast.parse(source, mode="eval")) if isinstance(n, ast.Name)}


def _doc(text: str, indent: str) -> str:
    """A docstring literal, its lines indented for a body at ``indent``."""
    escaped = text.strip().replace("\\", "\\\\").replace('"""', '\\"\\"\\"')
    lines = escaped.splitlines() or [""]
    body = "\n".join((indent + line) if line.strip() else "" for line in lines[1:])
    if len(lines) == 1:
        return f'{indent}"""{lines[0]}"""'
    return f'{indent}"""{lines[0]}\n{body}\n{indent}"""'


class _ClientEmitter:
    def __init__(self, emitter: _PythonEmitter) -> None:
        self.emitter = emitter
        self.spec = emitter.spec
        self.bundle = emitter.bundle
        sent = self.spec.messages_in(Direction.SEND)
        tag = find_tag(self.bundle, [self.bundle.payloads[m] for m in sent])
        self.model: ClientModel = client_model(self.spec, tag.property if tag else None)
        self.fields = _model_fields(emitter.models_source)
        self.used: set[str] = set()
        """Model names client.py imports."""

    def type_name(self, message_id: str) -> str:
        name = self.emitter.payload_type(message_id)
        self.used.add(name)
        return name

    def types(self, message_ids: tuple[str, ...]) -> list[str]:
        return list(dict.fromkeys(self.type_name(m) for m in message_ids))

    def method_names(self) -> dict[Request, str]:
        names: dict[Request, str] = {}
        taken: set[str] = set()
        for request in self.model.requests:
            wanted = request.method
            if keyword.iskeyword(wanted) or wanted in RESERVED_METHODS or wanted.startswith("_"):
                wanted = wanted.lstrip("_") + "_"
            name, counter = wanted, 2
            while name in taken:
                name = f"{wanted}_{counter}"
                counter += 1
            taken.add(name)
            names[request] = name
        return names

    def filled(self, request: Request) -> dict[str, str]:
        """Wire name -> the expression the method fills it with (the tag and the correlation)."""
        payload = self.emitter.payload_type(request.message)
        wire = self.emitter.fields.get(payload, {})
        filled: dict[str, str] = {}
        tag = find_tag(self.bundle, [self.bundle.payloads[request.message]])
        if tag is not None and tag.value is not None and tag.property in wire:
            filled[tag.property] = json.dumps(tag.value)
        correlation = request.correlation
        if correlation is not None and correlation in wire:
            kind = self.property_type(request.message, correlation)
            if kind == "string":
                filled[correlation] = "self._new_id()"
            elif kind == "integer":
                filled[correlation] = "self._new_number()"
        return filled

    def property_type(self, message_id: str, prop: str) -> Any:
        schema = self.bundle.resolve(
            self.bundle.document()["definitions"][self.bundle.payloads[message_id]]
        )
        properties = schema.get("properties", {}) if isinstance(schema, dict) else {}
        prop_schema = self.bundle.resolve(properties.get(prop)) or {}
        return prop_schema.get("type") if isinstance(prop_schema, dict) else None

    def heartbeat(self, request: Request) -> bool:
        """Whether the heartbeat request can be sent on a timer: replies, and no required field."""
        payload = self.emitter.payload_type(request.message)
        if not request.replies or payload not in self.fields:
            return False
        filled = self.filled(request)
        wire_of = {v: k for k, v in self.emitter.fields.get(payload, {}).items()}
        return all(
            f.default is not None or wire_of.get(f.name, f.name) in filled
            for f in self.fields[payload]
        )

    def method(self, request: Request, name: str, error_class: str) -> list[str]:
        payload = self.type_name(request.message)
        replies = self.types(request.replies)
        returns = " | ".join(replies) if replies else "None"
        doc_parts = [
            request.summary or request.title or f"Send ``{request.message}``.",
            request.description or "",
        ]
        if replies:
            answer = ", ".join(f"``{m}``" for m in request.replies)
            doc_parts.append(f"Returns the reply ({answer}).")
        else:
            doc_parts.append("Sends the message; no reply is awaited.")
        if request.errors and replies:
            errors = ", ".join(f"``{m}``" for m in request.errors)
            doc_parts.append(
                f"Raises :class:`{error_class}` when the server answers {errors}, "
                ":class:`RequestTimeout` when no reply comes within ``request_timeout``."
            )
        doc = "\n\n".join(
            text
            for text in (*(p.strip() for p in doc_parts[:2]), *(_wrap(p) for p in doc_parts[2:]))
            if text
        )
        if payload in self.fields:
            filled = self.filled(request)
            wire_of = {v: k for k, v in self.emitter.fields.get(payload, {}).items()}
            params = []
            values = []
            for field in self.fields[payload]:
                wire = wire_of.get(field.name, field.name)
                if wire in filled:
                    values.append(f"{json.dumps(wire)}: {filled[wire]}")
                    continue
                self.used.update(_names(field.annotation) & self.emitter.taken)
                default = ""
                if field.default is not None:
                    self.used.update(_names(field.default) & self.emitter.taken)
                    default = f" = {field.default}"
                    if field.default.startswith(("[", "{")):
                        default += "  # noqa: B006 - copied by validation"
                params.append(f"{field.name}: {field.annotation}{default}")
                values.append(f"{json.dumps(wire)}: {field.name}")
            signature = ["self", "*", *params] if params else ["self"]
            build = [f"        message = {payload}.model_validate({{{', '.join(values)}}})"]
        else:
            signature = ["self", f"message: {payload}"]
            build = []
        call = f"await self._call({json.dumps(name)}, message)"
        if any("# noqa" in p for p in signature):
            head = [
                f"    async def {name}(",
                *(
                    f"        {p.replace('  # noqa', ',  # noqa')}"
                    if "# noqa" in p
                    else f"        {p},"
                    for p in signature
                ),
                f"    ) -> {returns}:",
            ]
        else:
            head = [f"    async def {name}({', '.join(signature)}) -> {returns}:"]
        lines = ["", *head, _doc(doc, "        "), *build]
        if replies:
            lines.append(f"        return cast({json.dumps(returns)}, {call})")
        else:
            lines.append(f"        {call}")
        return lines

    def heartbeat_method(self, request: Request) -> list[str]:
        payload = self.type_name(request.message)
        values = [f"{json.dumps(k)}: {v}" for k, v in self.filled(request).items()]
        return [
            "",
            f"    def _heartbeat_message(self) -> {payload}:",
            f'        """A new ``{request.message}``, sent every ``heartbeat_interval``."""',
            f"        return {payload}.model_validate({{{', '.join(values)}}})",
        ]

    def emit(self, header: str) -> ClientFiles:
        emitter = self.emitter
        model = self.model
        client_name = emitter._union_name("Client")
        error_name = emitter._union_name("ServerError")
        if client_name != "Client" or error_name != "ServerError":
            emitter.warnings.append(
                f"client: a model takes the name Client or ServerError; the client's classes "
                f"are {client_name} and {error_name}"
            )
        reexported = [n for n in RUNTIME_EXPORTS if n not in emitter.taken]
        names = self.method_names()
        heartbeat = next(
            (r for r in model.requests if r.role == "heartbeat" and self.heartbeat(r)), None
        )
        resume = model.resume if any(r.role == "subscribe" for r in model.requests) else None

        methods: list[str] = []
        specs: list[str] = []
        for request in model.requests:
            name = names[request]
            methods += self.method(request, name, error_name)
            replies = self.types(request.replies)
            errors = self.types(request.errors) if replies else []
            role = request.role
            if role == "heartbeat" and request is not heartbeat:
                role = None
            specs.append(
                f"        {json.dumps(name)}: _rt.RequestSpec({self.type_name(request.message)}, "
                f"{_tuple(replies)}, {_tuple(errors)}, {json.dumps(role) if role else 'None'}),"
            )
        if heartbeat is not None:
            methods += self.heartbeat_method(heartbeat)

        pushed = set(model.pushes)
        answers = [m for r in model.requests if r.replies for m in (*r.replies, *r.errors)]
        late = self.types(tuple(m for m in dict.fromkeys(answers) if m not in pushed))
        error_types = self.types(model.errors)
        server_union = emitter.direction_unions.get("server_message")
        message_type = server_union.name if server_union is not None else "Never"
        decode = "decode_server_message" if server_union is not None else "_rt.decode_nothing"
        resume_lines = (
            [
                "    resume=_rt.Resume(",
                f"        channels={_tuple([json.dumps(c) for c in resume.channels])},",
                f"        list={json.dumps(resume.list)},",
                f"        name={json.dumps(resume.name)},",
                f"        since={json.dumps(resume.since)},",
                f"        reply_list={json.dumps(resume.reply_list)},",
                f"        recovered={json.dumps(resume.recovered)},",
                f"        channel={json.dumps(resume.channel)},",
                f"        epoch={json.dumps(resume.epoch)},",
                f"        seq={json.dumps(resume.seq)},",
                "    ),",
            ]
            if resume is not None
            else []
        )
        description = (model.description or "").strip().split("\n\n")[0].strip()
        module_doc = (
            f"Typed client of {model.title} {model.version}, generated from its AsyncAPI document."
            "\n\n``Client.connect(url)`` opens a connection that reconnects by itself; each"
            " request of the document is a method; iterating over the client yields what the"
            " server pushes."
        )
        module_doc = "\n\n".join(_wrap(p) for p in module_doc.split("\n\n"))
        client_doc = "\n\n".join(
            part
            for part in (
                f"A client of {model.title} {model.version}.",
                description,
                "Open it with ``async with Client.connect(url) as client``. Every frame the"
                " server sends is validated; invalid ones are logged, counted in"
                " ``invalid_frames`` and never delivered. After a lost connection it reconnects"
                " with backoff"
                + (
                    ", authenticates again and resubscribes, resuming where it left off"
                    if resume is not None
                    else ", and repeats its subscriptions"
                    if any(r.role == "subscribe" for r in model.requests)
                    else ""
                )
                + ".",
            )
            if part
        )
        client_doc = "\n\n".join(
            _wrap(p) if p.startswith(("Open it", "A client of")) else p
            for p in client_doc.split("\n\n")
        )
        error_doc = (
            "The server answered a request with "
            + ", ".join(f"``{m}``" for m in model.errors)
            + ": the message is in ``error``."
            if model.errors
            else "The server answered a request with an error."
        )
        exports = sorted({client_name, error_name, *reexported})
        model_imports = sorted(self.used)
        lines = [
            header,
            _doc(module_doc, ""),
            "",
            "from __future__ import annotations",
            "",
            "from collections.abc import Mapping",
            "from types import MappingProxyType",
            "from typing import ClassVar, Never, cast",
            "",
            "from pydantic import MISSING",
            "",
            f"from . import {RUNTIME_MODULE} as _rt",
            f"from .{RUNTIME_MODULE} import {', '.join(reexported)}" if reexported else "",
            f"from .messages import {server_union.name}" if server_union is not None else "",
            f"from .models import {', '.join(model_imports)}" if model_imports else "",
            "from .validators import decode_server_message" if server_union is not None else "",
            "",
            f"__all__ = [{', '.join(json.dumps(n) for n in exports)}]",
            "",
            "",
            f"class {error_name}(_rt.ServerError):",
            _doc(error_doc, "    "),
            "",
            f"    error: {' | '.join(error_types)}" if error_types else "    error: object",
            "",
            "",
            "PROTOCOL = _rt.Protocol(",
            f"    decode={decode},",
            f"    correlation={self.correlation()!r},",
            f"    server_error={error_name},",
            "    requests=MappingProxyType(",
            "        {",
            *[f"    {s}" for s in specs],
            "        }",
            "    ),",
            f"    replies={_tuple(late)},",
            *resume_lines,
            ")",
            '"""What the client runtime needs to know about the document."""',
            "",
            "",
            f"class {client_name}(_rt.BaseClient[{message_type}]):",
            _doc(client_doc, "    "),
            "",
            "    _protocol: ClassVar[_rt.Protocol] = PROTOCOL",
            *methods,
            "",
        ]
        source = "\n".join(lines)
        runtime = RUNTIME_SOURCE.read_text(encoding="utf-8")
        return ClientFiles(
            {
                f"{CLIENT_MODULE}.py": source,
                f"{RUNTIME_MODULE}.py": f"{header}\n{runtime}",
            },
            tuple(exports),
        )

    def correlation(self) -> str | None:
        found = {r.correlation for r in self.model.requests if r.correlation is not None}
        return found.pop() if len(found) == 1 else None


def emit_client(emitter: _PythonEmitter) -> ClientFiles:
    """``client.py`` and ``_client_runtime.py`` for the package ``emitter`` writes."""
    return _ClientEmitter(emitter).emit(emitter.header)
