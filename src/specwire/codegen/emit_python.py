"""Emit a typed Python package from the IR: pydantic v2 models, unions, validators.

Models come from datamodel-code-generator, driven from the bundled JSON Schema
(:mod:`specwire.codegen.schemas`) with the options that make a model accept exactly
what its schema accepts: strict scalar types (no ``"1"`` for an integer), absent
optional fields kept apart from ``null`` (``MISSING``), ``additionalProperties``
honoured, constraints and formats carried over. specwire then writes what the
document adds on top of its schemas: a discriminated union per direction and per
operation, the ``MESSAGES`` map, and one-call decoders and an encoder.
"""

from __future__ import annotations

import ast
import json
import keyword
import re
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from specwire.codegen.emit_python_client import ClientFiles, emit_client
from specwire.codegen.ir import Direction, Spec, Tag
from specwire.codegen.schemas import Bundle, find_tag

__all__ = ["PythonPackage", "emit_python", "package_name"]


def package_name(title: str) -> str:
    """The package name for a title: ``Console Live Updates`` -> ``console_live_updates``."""
    words = "".join(ch.lower() if ch.isalnum() else " " for ch in title).split()
    name = "_".join(words) or "asyncapi_models"
    if name[0].isdigit() or keyword.iskeyword(name):
        name = f"api_{name}"
    return name


@dataclass(frozen=True)
class GeneratedUnion:
    name: str
    members: tuple[str, ...]
    """Python names of the member payload types, in document order, once each."""
    tag: Tag | None
    discriminator: str | None
    """The Python field name to discriminate on, when every member is a model with the tag."""
    doc: str


@dataclass(frozen=True)
class PythonPackage:
    name: str
    files: dict[str, str]
    """File name inside the package -> text."""
    warnings: tuple[str, ...]


def _docstring(text: str) -> str:
    """A docstring literal for any text: a document's title may hold quotes or backslashes."""
    escaped = text.replace("\\", "\\\\").replace('"""', '\\"\\"\\"')
    return f'"""{escaped}"""'


def _pascal(text: str) -> str:
    words = [w for w in "".join(ch if ch.isalnum() else " " for ch in text).split() if w]
    return "".join(w[0].upper() + w[1:] for w in words)


BASE_MODULE = "_base"
BASE_CLASS = "SpecwireModel"


_BASE_SOURCE = f'''"""The base of every generated model."""

from pydantic import BaseModel, ConfigDict


class {BASE_CLASS}(BaseModel):
    """Strict, frozen, finite, and open to extra properties unless its schema closes it.

    Strict: a value must already have its schema's JSON type (no ``"1"`` for an
    integer, no number for a ``date-time`` string). Frozen: a message is a value.
    Finite: JSON has no infinity or NaN, so a number that overflows is refused.
    Open: a schema without ``additionalProperties: false`` keeps unknown properties,
    as JSON Schema accepts them; closed schemas set ``extra="forbid"``.
    """

    model_config = ConfigDict(strict=True, frozen=True, extra="allow", allow_inf_nan=False)
'''


CHECKS_MODULE = "_checks"

_CHECKS_SOURCE = '''"""Checks for JSON Schema keywords that Python types cannot carry."""

from typing import Any

from pydantic import ValidationInfo
from pydantic_core import to_jsonable_python


def _json_key(value: Any) -> Any:
    """A hashable key equal for equal JSON values: 1 and 1.0 are equal, true and 1 are not."""
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return (type(value).__name__, value)
    if isinstance(value, int | float):
        return ("number", value)
    if isinstance(value, list):
        return ("array", tuple(_json_key(item) for item in value))
    if isinstance(value, dict):
        return ("object", frozenset((key, _json_key(item)) for key, item in value.items()))
    return ("other", repr(value))


def unique_items(value: Any, info: ValidationInfo) -> Any:
    """JSON Schema ``uniqueItems``: no two items of the array are equal JSON values."""
    keys = [_json_key(item) for item in to_jsonable_python(value, by_alias=True)]
    if len(set(keys)) != len(keys):
        raise ValueError("array items must be unique (uniqueItems)")
    return value
'''


def _unique_item_fields(bundle: Bundle, metadata: dict[str, Any]) -> dict[str, list[str]]:
    """Model class -> the fields whose schema says ``uniqueItems: true``."""
    document = bundle.document()
    found: dict[str, list[str]] = {}
    for model in metadata.get("models", []):
        schema: Any = document
        for token in model.get("source_path", []):
            schema = schema.get(token) if isinstance(schema, dict) else None
        schema = bundle.resolve(schema)
        properties = schema.get("properties") if isinstance(schema, dict) else None
        if not isinstance(properties, dict):
            continue
        names = {f.get("alias") or f["name"]: f["name"] for f in model.get("fields", [])}
        unique = [
            names[prop]
            for prop, prop_schema in properties.items()
            if prop in names and (bundle.resolve(prop_schema) or {}).get("uniqueItems") is True
        ]
        if unique:
            found[model["class_name"]] = unique
    return found


def _run_datamodel_codegen(
    bundle: Bundle, header: str, package: str, unique_items: dict[str, list[str]] | None = None
) -> tuple[str, dict[str, Any]]:
    # Imported here: the generator's import cost is paid only by commands that generate.
    from datamodel_code_generator import LiteralType, generate  # noqa: PLC0415
    from datamodel_code_generator.enums import (  # noqa: PLC0415
        DataModelType,
        InputFileType,
        TargetPydanticVersion,
    )
    from datamodel_code_generator.format import Formatter, PythonVersion  # noqa: PLC0415
    from datamodel_code_generator.validators import (  # noqa: PLC0415
        ModelValidators,
        ValidatorDefinition,
    )

    validators = {
        model: ModelValidators(
            validators=[
                ValidatorDefinition(
                    fields=fields, function=f"{package}.{CHECKS_MODULE}.unique_items"
                )
            ]
        )
        for model, fields in (unique_items or {}).items()
    }

    with tempfile.TemporaryDirectory(prefix="specwire-") as tmp:
        source = Path(tmp) / "bundle.json"
        source.write_text(
            json.dumps(bundle.document(), indent=2, sort_keys=False), encoding="utf-8"
        )
        output = Path(tmp) / "models.py"
        metadata = Path(tmp) / "metadata.json"
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            generate(
                source,
                input_file_type=InputFileType.JsonSchema,
                output=output,
                output_model_type=DataModelType.PydanticV2BaseModel,
                target_python_version=PythonVersion.PY_311,
                target_pydantic_version=TargetPydanticVersion.V2_14,
                use_missing_sentinel=True,
                strict_nullable=True,
                # Formats pydantic would need an extra package for, or would rewrite on output
                # (a URL gains a trailing slash), stay plain strings so frames round-trip as sent.
                type_mappings=[
                    "email=string",
                    "idn-email=string",
                    "uri=string",
                    "uri-reference=string",
                    "iri=string",
                    "iri-reference=string",
                ],
                base_class=f"{package}.{BASE_MODULE}.{BASE_CLASS}",
                use_annotated=True,
                field_constraints=True,
                use_schema_description=True,
                use_field_description=True,
                enum_field_as_literal=LiteralType.All,
                use_type_alias=True,
                skip_root_model=True,
                use_double_quotes=True,
                disable_timestamp=True,
                custom_file_header=header,
                formatters=[Formatter.BUILTIN],
                emit_model_metadata=metadata,
                validators=validators or None,
            )
        return output.read_text(encoding="utf-8"), json.loads(metadata.read_text(encoding="utf-8"))


def _defined_names(source: str) -> tuple[set[str], set[str]]:
    """Model classes and type aliases a generated module defines."""
    classes: set[str] = set()
    aliases: set[str] = set()
    for node in ast.parse(source).body:
        if isinstance(node, ast.ClassDef):
            classes.add(node.name)
        elif (
            isinstance(node, ast.Assign)
            and len(node.targets) == 1
            and isinstance(node.targets[0], ast.Name)
        ):
            aliases.add(node.targets[0].id)
    return classes, aliases


class _PythonEmitter:
    def __init__(self, spec: Spec, bundle: Bundle, package: str, header: str) -> None:
        self.spec = spec
        self.bundle = bundle
        self.package = package
        self.header = header
        self.warnings: list[str] = []
        models, metadata = _run_datamodel_codegen(bundle, header, package)
        # uniqueItems needs a validator on each field that carries it, and only the first
        # run tells which classes and fields those are: then the models are made again.
        self.unique_items = _unique_item_fields(bundle, metadata)
        if self.unique_items:
            models, metadata = _run_datamodel_codegen(bundle, header, package, self.unique_items)
        # The base (and the checks) are imported through the package's own name, the only
        # form datamodel-code-generator writes; made relative, the package can live anywhere.
        self.models_source = re.sub(
            rf"^from {re.escape(package)}\.({BASE_MODULE}|{CHECKS_MODULE}) import ",
            r"from .\1 import ",
            models,
            flags=re.MULTILINE,
        )
        self.classes, self.aliases = _defined_names(models)
        self.python_name: dict[str, str] = {}
        self.fields: dict[str, dict[str, str]] = {}
        for model in metadata.get("models", []):
            path = model.get("source_path", [])
            if len(path) == 2 and path[0] == "definitions":
                self.python_name[path[1]] = model["class_name"]
                self.fields[model["class_name"]] = {
                    f.get("alias") or f["name"]: f["name"] for f in model.get("fields", [])
                }
        self.taken = self.classes | self.aliases
        self.direction_unions: dict[str, GeneratedUnion] = {}

    def payload_type(self, message_id: str) -> str:
        return self.python_name[self.bundle.payloads[message_id]]

    def _union_name(self, wanted: str) -> str:
        name, counter = wanted, 2
        while name in self.taken:
            name = f"{wanted}{counter}"
            counter += 1
        self.taken.add(name)
        return name

    def union(self, wanted: str, message_ids: tuple[str, ...], doc: str) -> GeneratedUnion:
        members = tuple(dict.fromkeys(self.payload_type(m) for m in message_ids))
        definitions = list(dict.fromkeys(self.bundle.payloads[m] for m in message_ids))
        tag = find_tag(self.bundle, definitions)
        discriminator = None
        if tag is not None and len(members) > 1 and all(m in self.classes for m in members):
            names = {self.fields.get(m, {}).get(tag.property) for m in members}
            discriminator = names.pop() if len(names) == 1 else None
        if len(members) > 1 and discriminator is None:
            self.warnings.append(
                f"{wanted}: its messages share no required constant property, "
                "so a frame is matched against each in turn (pydantic's smart union)"
            )
        return GeneratedUnion(self._union_name(wanted), members, tag, discriminator, doc)

    def unions(self) -> list[GeneratedUnion]:
        result: list[GeneratedUnion] = []
        sent = self.spec.messages_in(Direction.SEND)
        received = self.spec.messages_in(Direction.RECEIVE)
        if sent:
            union = self.union(
                "ServerMessage", sent, "Every message the application (the server) sends."
            )
            self.direction_unions["server_message"] = union
            result.append(union)
        if received:
            union = self.union(
                "ClientMessage", received, "Every message the application (the server) receives."
            )
            self.direction_unions["client_message"] = union
            result.append(union)
        for operation in self.spec.operations:
            if len(operation.messages) > 1:
                doc = f"The messages of operation ``{operation.id}`` ({operation.action.value})."
                result.append(
                    self.union(_pascal(operation.id) + "Message", operation.messages, doc)
                )
            if operation.reply is not None and len(operation.reply.messages) > 1:
                doc = f"The replies to operation ``{operation.id}``."
                result.append(
                    self.union(_pascal(operation.id) + "Reply", operation.reply.messages, doc)
                )
        return result

    # -- modules ----------------------------------------------------------------------

    def messages_module(self, unions: list[GeneratedUnion]) -> str:
        headers = {
            m.id: self.python_name[self.bundle.headers[m.id]]
            for m in self.spec.messages
            if m.id in self.bundle.headers
        }
        used = sorted(
            {m for u in unions for m in u.members}
            | {self.payload_type(m.id) for m in self.spec.messages}
            | set(headers.values())
        )
        all_classes = all(self.payload_type(m.id) in self.classes for m in self.spec.messages)
        # Every import is written; the formatter's F401 fix drops the ones a document leaves unused.
        lines = [
            self.header,
            _docstring(
                f"Unions and the message map of {self.spec.title}: what travels in each direction."
            ),
            "",
            "from __future__ import annotations",
            "",
            "from collections.abc import Mapping",
            "from types import MappingProxyType",
            "from typing import Annotated, Any",
            "",
            "from pydantic import BaseModel, Field",
            "from typing_extensions import TypeAliasType",
            "",
            f"from .models import {', '.join(used)}" if used else "",
        ]
        for union in unions:
            body = " | ".join(union.members)
            if union.discriminator:
                body = f'Annotated[{body}, Field(discriminator="{union.discriminator}")]'
            lines += [
                "",
                f'{union.name} = TypeAliasType("{union.name}", {body})',
                _docstring(union.doc),
                "",
            ]
        value_type = "type[BaseModel]" if all_classes else "Any"
        lines += [
            "",
            f"MESSAGES: Mapping[str, {value_type}] = MappingProxyType(",
            "    {",
            *(
                f"        {json.dumps(m.id)}: {self.payload_type(m.id)},"
                for m in self.spec.messages
            ),
            "    }",
            ")",
            '"""Each message\'s id in the document -> the type of its payload."""',
            "",
            "MESSAGE_HEADERS: Mapping[str, type[BaseModel]] = MappingProxyType(",
            "    {",
            *(f"        {json.dumps(k)}: {v}," for k, v in headers.items()),
            "    }",
            ")",
            '"""Message id -> the type of its headers, for the messages that declare headers."""',
            "",
            "TAGS: Mapping[str, tuple[str, Any]] = MappingProxyType(",
            "    {",
            *(
                f"        {json.dumps(m.id)}: ({json.dumps(tag.property)}, {tag.value!r}),"
                for m in self.spec.messages
                if (tag := find_tag(self.bundle, [self.bundle.payloads[m.id]])) is not None
            ),
            "    }",
            ")",
            '"""Message id -> (tag property, tag value), for payloads with a constant tag."""',
            "",
        ]
        return "\n".join(lines)

    def validators_module(self) -> str:
        directions = self.direction_unions
        lines = [
            self.header,
            '"""Decode and validate a frame in one call; encode a message once.',
            "",
            "Decoding goes straight from the wire (``bytes`` or ``str``) to a typed message",
            "with pydantic-core (``validate_json``): there is no ``json.loads`` step. Errors",
            "are ``pydantic.ValidationError``, whose ``errors()`` give the JSON path of each",
            "problem.",
            '"""',
            "",
            "from __future__ import annotations",
            "",
            "from pydantic import BaseModel, TypeAdapter",
            "",
        ]
        if directions:
            lines.append(f"from .messages import {', '.join(u.name for u in directions.values())}")
        for snake, union in directions.items():
            who = "the server sends" if snake == "server_message" else "the server receives"
            lines += [
                "",
                f"{snake}_adapter: TypeAdapter[{union.name}] = TypeAdapter({union.name})",
                "",
                "",
                f"def decode_{snake}(frame: bytes | str) -> {union.name}:",
                f'    """Decode and validate one frame {who}; raise ``ValidationError``."""',
                f"    return {snake}_adapter.validate_json(frame)",
                "",
            ]
        lines += [
            "",
            "def encode(message: BaseModel) -> bytes:",
            '    """Encode a message as compact JSON bytes with wire names.',
            "",
            "    Optional fields never set are left out; fields with a schema default are written.",
            '    """',
            "    return message.__pydantic_serializer__.to_json(message, by_alias=True)",
            "",
        ]
        return "\n".join(lines)

    def init_module(self, unions: list[GeneratedUnion], client: ClientFiles) -> str:
        exported_models = sorted(self.classes | self.aliases)
        validator_names = sorted(
            ["encode", *(f"{d}_adapter" for d in self.direction_unions)]
            + [f"decode_{d}" for d in self.direction_unions]
        )
        message_names = ["MESSAGES", "MESSAGE_HEADERS", "TAGS", *(u.name for u in unions)]
        constants = ["ASYNCAPI_VERSION", "SPEC_TITLE", "SPEC_VERSION"]
        doc = (
            f"Typed messages of {self.spec.title} {self.spec.version}, generated from its AsyncAPI"
            " document.\n\n``models`` holds the payload models, ``messages`` the unions per"
            " direction and per operation and the ``MESSAGES`` map, ``validators`` the decoders"
            " and the encoder, ``client`` the typed client (``Client.connect(url)``).\n"
        )
        lines = [
            self.header,
            _docstring(doc),
            "",
            f"from .messages import {', '.join(sorted(message_names))}",
            f"from .models import {', '.join(exported_models)}" if exported_models else "",
            f"from .validators import {', '.join(validator_names)}",
            f"from .client import {', '.join(client.exports)}",
            "",
            f"ASYNCAPI_VERSION = {self.spec.asyncapi!r}",
            f"SPEC_TITLE = {self.spec.title!r}",
            f"SPEC_VERSION = {self.spec.version!r}",
            "",
            "__all__ = [",
            *(
                f'    "{n}",'
                for n in sorted(
                    {
                        *exported_models,
                        *message_names,
                        *validator_names,
                        *constants,
                        *client.exports,
                    }
                )
            ),
            "]",
            "",
        ]
        return "\n".join(lines)

    def emit(self) -> PythonPackage:
        unions = self.unions()
        client = emit_client(self)
        files = {
            "__init__.py": self.init_module(unions, client),
            f"{BASE_MODULE}.py": f"{self.header}\n{_BASE_SOURCE}",
            **(
                {f"{CHECKS_MODULE}.py": f"{self.header}\n{_CHECKS_SOURCE}"}
                if self.unique_items
                else {}
            ),
            "models.py": self.models_source,
            "messages.py": self.messages_module(unions),
            "validators.py": self.validators_module(),
            **client.files,
            "py.typed": "",
        }
        return PythonPackage(self.package, files, tuple(self.warnings))


def emit_python(spec: Spec, bundle: Bundle, package: str, header: str) -> PythonPackage:
    """Generate the Python package's files (unformatted: the caller formats them)."""
    return _PythonEmitter(spec, bundle, package, header).emit()
