"""Codegen over documents nobody in this project wrote, and over our two fixtures.

For each document in ``tests/data/specs/`` (AsyncAPI's own examples) and each
fixture: it generates, ``specwire check`` finds no error, the package imports with
warnings as errors, and mypy --strict accepts every package (one run for all).

Then the examples: each message example (payload, and headers when present) and
each ``examples`` entry at the top of a payload schema gets the same verdict from
the generated JSON Schema (jsonschema, draft-07, formats checked) and from the
generated model (``TypeAdapter(...).validate_json``). For the fixtures, every
example is also mutated into frames that must be rejected (a required field
dropped, an unknown property added to a closed object, the tag changed), and a
few hand-written frames probe single keywords.
"""

from __future__ import annotations

import copy
import importlib
import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

import jsonschema
import pydantic
import pytest

from specwire.codegen.build import build_spec
from specwire.codegen.lint import lint
from specwire.codegen.loader import Workspace
from specwire.codegen.schemas import bundle_schemas
from specwire.protocol.plain import plain_validator

if TYPE_CHECKING:
    from conftest import GeneratedCases, GeneratedPackage

DATA = Path(__file__).resolve().parents[1] / "data"
MULTIFILE = DATA / "fixtures" / "multifile" / "asyncapi.yaml"
POLYMORPHIC = DATA / "fixtures" / "polymorphic" / "asyncapi.yaml"
ONEOF = DATA / "specs" / "oneof-asyncapi.yml"

UNKNOWN_PROPERTY = "unexpected_property"


# -- generation, lint, import, mypy ----------------------------------------------------


def test_generates(spec_path: Path, generated_cases: GeneratedCases) -> None:
    package = generated_cases.package(spec_path)
    files = package.generated.files
    assert f"{package.name}/__init__.py" in files
    assert f"{package.name}/schemas/bundle.json" in files
    for relative, text in files.items():
        assert (package.root / relative).read_text(encoding="utf-8") == text, relative


def test_check_reports_no_errors(spec_path: Path) -> None:
    problems = lint(spec_path)
    errors = [problem.render(DATA) for problem in problems if problem.severity == "error"]
    assert errors == []


def test_package_imports_without_warnings(spec_path: Path, generated_cases: GeneratedCases) -> None:
    package = generated_cases.package(spec_path)
    code = (
        "import sys\n"
        f"sys.path.insert(0, {str(package.root)!r})\n"
        f"import {package.name} as package\n"
        "print(package.__file__)\n"
        "print(len(package.MESSAGES))\n"
    )
    result = subprocess.run(
        [sys.executable, "-W", "error", "-c", code],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    module_file, message_count = result.stdout.splitlines()
    assert Path(module_file) == package.path / "__init__.py"
    assert int(message_count) == len(package.generated.spec.messages)


def test_every_package_passes_mypy_strict(
    all_specs: list[Path], generated_cases: GeneratedCases, tmp_path: Path
) -> None:
    packages = generated_cases.packages(all_specs)
    environment = {k: v for k, v in os.environ.items() if k not in ("MYPYPATH", "PYTHONPATH")}
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "mypy",
            "--config-file=",  # no project or user configuration: exactly --strict
            "--strict",
            "--no-incremental",
            "--cache-dir",
            str(tmp_path / "mypy-cache"),
            *(argument for package in packages for argument in ("-p", package.name)),
        ],
        cwd=packages[0].root,
        env=environment,
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr


# -- examples ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def import_package(generated_cases: GeneratedCases) -> Iterator[Callable[[Path], ModuleType]]:
    """Import a generated package in this process; everything added is removed afterwards."""
    added_path: list[str] = []
    imported: list[str] = []

    def load(spec: Path) -> ModuleType:
        package = generated_cases.package(spec)
        root = str(package.root)
        if root not in sys.path:
            sys.path.insert(0, root)
            added_path.append(root)
        if package.name not in imported:
            assert package.name not in sys.modules, f"{package.name} is already imported"
            imported.append(package.name)
        module = importlib.import_module(package.name)
        assert Path(module.__file__ or "") == package.path / "__init__.py"
        return module

    yield load
    for name in list(sys.modules):
        if any(name == package or name.startswith(package + ".") for package in imported):
            del sys.modules[name]
    for root in added_path:
        sys.path.remove(root)
    importlib.invalidate_caches()


@dataclass(frozen=True)
class Frame:
    """One JSON value to judge: a message's payload or headers."""

    message: str
    part: str  # "payload" or "headers"
    label: str
    value: Any


class Judge:
    """The generated JSON Schema's and the generated model's verdicts on a frame."""

    def __init__(self, package: GeneratedPackage, module: ModuleType) -> None:
        self.package = package
        self.module = module
        self.schemas = package.path / "schemas"
        self.bundle_doc = json.loads((self.schemas / "bundle.json").read_text(encoding="utf-8"))
        workspace = Workspace.open(package.spec)
        self.bundle = bundle_schemas(workspace, build_spec(workspace))

    def schema(self, message: str, part: str) -> dict[str, Any]:
        if part == "payload":
            path = self.schemas / "messages" / f"{message}.json"
            schema: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
            return schema
        return {**self.bundle_doc, "$ref": f"#/definitions/{self.bundle.headers[message]}"}

    def model(self, message: str, part: str) -> Any:
        return (self.module.MESSAGES if part == "payload" else self.module.MESSAGE_HEADERS)[message]

    def schema_errors(self, frame: Frame) -> list[str]:
        validator = jsonschema.Draft7Validator(
            self.schema(frame.message, frame.part),
            format_checker=jsonschema.Draft7Validator.FORMAT_CHECKER,
        )
        return [error.message for error in validator.iter_errors(frame.value)]

    def decode(self, frame: Frame) -> Any:
        adapter: pydantic.TypeAdapter[Any] = pydantic.TypeAdapter(
            self.model(frame.message, frame.part)
        )
        return adapter.validate_json(json.dumps(frame.value))

    def model_errors(self, frame: Frame) -> list[str]:
        try:
            self.decode(frame)
        except pydantic.ValidationError as exc:
            return [f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()]
        return []

    def disagreement(self, frame: Frame) -> str | None:
        schema_errors = self.schema_errors(frame)
        model_errors = self.model_errors(frame)
        if bool(schema_errors) == bool(model_errors):
            return None
        return (
            f"{frame.label}: jsonschema {'rejects' if schema_errors else 'accepts'}, "
            f"the model {'rejects' if model_errors else 'accepts'}: "
            f"{schema_errors or model_errors}\n    {json.dumps(frame.value)}"
        )

    # -- the examples a document carries ------------------------------------------------

    def resolve(self, doc: dict[str, Any], schema: Any) -> Any:
        """Follow ``#/definitions/...`` references at the top of a schema inside ``doc``."""
        seen: set[str] = set()
        while isinstance(schema, dict) and isinstance(schema.get("$ref"), str):
            ref = schema["$ref"]
            assert ref.startswith("#/definitions/") and ref not in seen, ref
            seen.add(ref)
            schema = doc["definitions"][ref.removeprefix("#/definitions/")]
        return schema

    def example_frames(self) -> list[Frame]:
        frames: list[Frame] = []
        for message in self.package.generated.spec.messages:
            for index, example in enumerate(message.examples):
                label = f"{message.id} example {example.name or index}"
                if example.has_payload:
                    frames.append(Frame(message.id, "payload", label, example.payload))
                if example.has_headers and message.id in self.bundle.headers:
                    frames.append(Frame(message.id, "headers", label, example.headers))
            doc = self.schema(message.id, "payload")
            top = self.resolve(doc, doc)
            schema_examples = top.get("examples") if isinstance(top, dict) else None
            for index, value in enumerate(schema_examples or ()):
                label = f"{message.id} payload schema examples[{index}]"
                frames.append(Frame(message.id, "payload", label, value))
        return frames

    # -- frames made invalid on purpose -------------------------------------------------

    def branches(self, message: str, part: str) -> list[dict[str, Any]]:
        """The object schemas a frame may match: a oneOf's or anyOf's members, or the schema."""
        doc = self.schema(message, part)
        top = self.resolve(doc, doc)
        members = top.get("oneOf") or top.get("anyOf") or [top]
        return [self.resolve(doc, member) for member in members]

    def mutations(self, frame: Frame) -> Iterator[tuple[Frame, bool]]:
        """Frames derived from an example, each with whether it must be rejected.

        A required field dropped and the tag changed must be rejected; an unknown
        property must be rejected when the object is closed (in every member of a
        oneOf or anyOf), and otherwise judged alike by jsonschema and the model.
        """
        if not isinstance(frame.value, dict):
            return
        branches = self.branches(frame.message, frame.part)
        tags = [
            key
            for key in frame.value
            if all("const" in self.property_schema(branch, key) for branch in branches)
        ]
        required = [
            key
            for key in frame.value
            if all(key in branch.get("required", ()) for branch in branches)
        ]
        droppable = [key for key in required if key not in tags[:1]] or required
        if droppable:
            value = {k: v for k, v in frame.value.items() if k != droppable[0]}
            label = f"{frame.label} without {droppable[0]}"
            yield Frame(frame.message, frame.part, label, value), True
        closed = all(branch.get("additionalProperties") is False for branch in branches)
        value = {**frame.value, UNKNOWN_PROPERTY: True}
        label = f"{frame.label} + {UNKNOWN_PROPERTY} ({'closed' if closed else 'open'} object)"
        yield Frame(frame.message, frame.part, label, value), closed
        if tags:
            value = {**frame.value, tags[0]: f"not-{frame.value[tags[0]]}"}
            label = f"{frame.label} with {tags[0]} changed"
            yield Frame(frame.message, frame.part, label, value), True

    def property_schema(self, branch: dict[str, Any], key: str) -> dict[str, Any]:
        # A message schema's definitions are the bundle's, under the same names.
        resolved = self.resolve(self.bundle_doc, branch.get("properties", {}).get(key, {}))
        return resolved if isinstance(resolved, dict) else {}


@pytest.fixture
def judge(
    spec_path: Path, generated_cases: GeneratedCases, import_package: Callable[[Path], ModuleType]
) -> Judge:
    return Judge(generated_cases.package(spec_path), import_package(spec_path))


def test_examples_get_the_same_verdict_from_schema_and_model(judge: Judge) -> None:
    frames = judge.example_frames()
    if judge.package.spec in (MULTIFILE, POLYMORPHIC):
        assert len(frames) >= 6, "the fixtures are meant to carry examples"
    disagreements = [d for frame in frames if (d := judge.disagreement(frame))]
    assert disagreements == [], "\n".join(disagreements)


def test_examples_are_valid(judge: Judge) -> None:
    """``specwire check`` already requires it; here both validators must say so."""
    invalid = [
        f"{frame.label}: {errors}"
        for frame in judge.example_frames()
        if (errors := judge.schema_errors(frame) + judge.model_errors(frame))
    ]
    assert invalid == []


def test_examples_survive_decode_and_encode(judge: Judge) -> None:
    """The generated ``encode`` writes a decoded example back as it was (wire names, no extras)."""
    changed = []
    for frame in judge.example_frames():
        encoded = json.loads(judge.module.encode(judge.decode(frame)))
        if encoded != frame.value:
            changed.append(
                f"{frame.label}:\n    {json.dumps(frame.value)}\n -> {json.dumps(encoded)}"
            )
    assert changed == [], "\n".join(changed)


@pytest.mark.parametrize("spec_path", [MULTIFILE, POLYMORPHIC], ids=["multifile", "polymorphic"])
def test_mutated_examples_are_rejected_by_schema_and_model(judge: Judge) -> None:
    mutated = [m for frame in judge.example_frames() for m in judge.mutations(frame)]
    assert sum(must_reject for _, must_reject in mutated) >= 12
    wrong = []
    for frame, must_reject in mutated:
        by_schema = "rejects" if judge.schema_errors(frame) else "accepts"
        by_model = "rejects" if judge.model_errors(frame) else "accepts"
        if by_schema != by_model or (must_reject and by_schema == "accepts"):
            wrong.append(
                f"{frame.label}: jsonschema {by_schema}, the model {by_model}"
                f"{' (both must reject)' if must_reject else ''}\n    {json.dumps(frame.value)}"
            )
    assert wrong == [], "\n".join(wrong)


# -- hand-written frames -------------------------------------------------------------------


def _changed(base: dict[str, Any], path: tuple[str | int, ...], value: Any) -> dict[str, Any]:
    """A deep copy of ``base`` with the value at ``path`` replaced (or added)."""
    result = copy.deepcopy(base)
    target: Any = result
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return result


ORDER = {
    "id": "ord_A1B2C3D4E5F6",
    "status": "paid",
    "items": [
        {"sku": "BOOK-0042", "quantity": 2, "unit_price": {"amount_minor": 1250, "currency": "EUR"}}
    ],
    "total": {"amount_minor": 2500, "currency": "EUR"},
    "created_at_ms": 1767225600000,
}
CREATED = {"type": "order.created", "order": ORDER}
STATUS_CHANGED = {
    "type": "order.status_changed",
    "order_id": "ord_A1B2C3D4E5F6",
    "from": "paid",
    "to": "shipped",
    "changed_at_ms": 1767229200000,
}
SUBSCRIBE = {"type": "subscribe", "id": "req-1"}
SYSTEM_STATUS = {
    "event": "systemStatus",
    "connectionID": 1,
    "status": "online",
    "version": "1.9.0",
    "maintenance_until": None,
}
STATUS_ERROR = {"event": "subscriptionStatus", "status": "error", "errorMessage": "No such pair"}
MARKET = {"event": "addOrder", "ordertype": "market", "type": "buy", "pair": "XBT/USD"}


def known_bug(reason: str) -> pytest.MarkDecorator:
    """A case that shows a disagreement in src/ (see the reason); strict, so a fix is noticed."""
    return pytest.mark.xfail(reason=reason, strict=True, raises=AssertionError)


def case(
    spec: Path,
    message: str,
    value: Any,
    valid: bool,
    name: str,
    *,
    part: str = "payload",
    **kw: Any,
) -> Any:
    prefix = {MULTIFILE: "multifile", POLYMORPHIC: "polymorphic"}.get(spec, spec.stem)
    label = f"{prefix}-{name}"
    return pytest.param(spec, Frame(message, part, label, value), valid, id=label, **kw)


HAND_WRITTEN = [
    # multifile: keywords reached through files other than the root document
    case(MULTIFILE, "orderStatusChanged", STATUS_CHANGED, True, "optional-field-absent"),
    case(MULTIFILE, "orderStatusChanged", {**STATUS_CHANGED, "reason": None}, True, "nullable"),
    case(MULTIFILE, "orderStatusChanged", {**STATUS_CHANGED, "reason": 5}, False, "nullable-type"),
    case(MULTIFILE, "orderStatusChanged", {**STATUS_CHANGED, "to": "lost"}, False, "enum"),
    case(MULTIFILE, "orderStatusChanged", {**STATUS_CHANGED, "from_": "paid"}, False, "alias"),
    case(MULTIFILE, "orderStatusChanged", {**STATUS_CHANGED, "order_id": "42"}, False, "pattern"),
    case(MULTIFILE, "orderCreated", _changed(CREATED, ("order", "items"), []), False, "min-items"),
    case(
        MULTIFILE,
        "orderCreated",
        _changed(CREATED, ("order", "total", "currency"), "eur"),
        False,
        "whole-file-ref-pattern",
    ),
    case(
        MULTIFILE,
        "orderCreated",
        _changed(CREATED, ("order", "items", 0, "unit_price", "cents"), 1),
        False,
        "nested-closed-object",
    ),
    case(
        MULTIFILE,
        "orderCreated",
        _changed(CREATED, ("order", "items", 0, "quantity"), "2"),
        False,
        "strict-integer",
    ),
    case(
        MULTIFILE,
        "subscribe",
        {**SUBSCRIBE, "statuses": ["paid", "paid"]},
        False,
        "unique-items",
    ),
    case(MULTIFILE, "subscribe", {**SUBSCRIBE, "statuses": []}, False, "min-items-array"),
    # polymorphic: oneOf, anyOf, trait headers, nullable, enum
    case(POLYMORPHIC, "systemStatus", SYSTEM_STATUS, True, "nullable-null"),
    case(
        POLYMORPHIC,
        "systemStatus",
        {**SYSTEM_STATUS, "maintenance_until": "2026-01-01T06:00:00+01:00"},
        True,
        "date-time",
    ),
    case(
        POLYMORPHIC,
        "systemStatus",
        {**SYSTEM_STATUS, "maintenance_until": "next Tuesday"},
        False,
        "date-time-format",
    ),
    case(POLYMORPHIC, "systemStatus", {**SYSTEM_STATUS, "status": "closed"}, False, "enum-value"),
    case(POLYMORPHIC, "systemStatus", {**SYSTEM_STATUS, "connectionID": "1"}, False, "string-int"),
    case(
        POLYMORPHIC,
        "systemStatus",
        {**SYSTEM_STATUS, "maintenance_until": 1767225600},
        False,
        "number-for-date-time",
    ),
    case(
        POLYMORPHIC,
        "systemStatus",
        {**SYSTEM_STATUS, "connectionID": 1.0},
        True,
        "integral-float",
        marks=known_bug("draft-07 'integer' accepts 1.0; the strict generated int rejects it"),
    ),
    case(POLYMORPHIC, "subscriptionStatus", STATUS_ERROR, True, "oneof-second-branch"),
    case(
        POLYMORPHIC,
        "subscriptionStatus",
        {**STATUS_ERROR, "channelName": "ticker"},
        False,
        "oneof-branches-mixed",
    ),
    case(
        POLYMORPHIC,
        "subscriptionStatus",
        {**STATUS_ERROR, "status": "subscribed"},
        False,
        "oneof-no-branch",
    ),
    case(POLYMORPHIC, "addOrder", {**MARKET, "volume": "1"}, True, "anyof-second-branch"),
    case(
        POLYMORPHIC,
        "addOrder",
        {**MARKET, "volume": "1", "price": "2"},
        False,
        "anyof-closed-branches",
    ),
    case(
        POLYMORPHIC,
        "subscribe",
        {"x-request-id": "3f2b8c1e-9a4d-4e6f-8b7a-1c2d3e4f5a6b"},
        True,
        "trait-headers",
        part="headers",
    ),
    case(
        POLYMORPHIC,
        "addOrder",
        {"x-request-id": "3F2B8C1E-9A4D-4E6F-8B7A-1C2D3E4F5A6B"},
        False,
        "trait-headers-pattern",
        part="headers",
    ),
    case(POLYMORPHIC, "addOrder", {"x_request_id": "x"}, False, "header-alias", part="headers"),
    # a public document: oneOf members that overlap
    case(
        ONEOF,
        "testMessages",
        {"key": "value"},
        False,
        "oneof-overlapping-members",
        marks=known_bug(
            "oneOf becomes a plain union: a frame that matches both members (oneOf "
            "rejects it) is accepted by the model"
        ),
    ),
    case(ONEOF, "testMessages", {"key": "a", "key2": 1}, True, "oneof-exactly-one-member"),
]


@pytest.mark.parametrize(("spec_path", "frame", "valid"), HAND_WRITTEN)
def test_hand_written_frame(judge: Judge, frame: Frame, valid: bool) -> None:
    """The model gives jsonschema's verdict, and that verdict is the one the case expects.

    A disagreement fails with ``AssertionError`` (what the known-bug marks expect); a
    case whose frame no longer gets its expected verdict fails with ``pytest.fail``.
    """
    schema_errors = judge.schema_errors(frame)
    model_errors = judge.model_errors(frame)
    by_schema = "rejects" if schema_errors else "accepts"
    by_model = "rejects" if model_errors else "accepts"
    assert by_model == by_schema, (
        f"jsonschema {by_schema}, the model {by_model}: {schema_errors or model_errors}"
    )
    expected = "accepts" if valid else "rejects"
    if by_schema != expected:
        pytest.fail(f"both validators {by_schema} this frame; the case expects {expected}")


def test_plain_checks_give_the_models_verdicts(judge: Judge) -> None:
    """The hub checks large encoded messages without models (specwire.protocol.plain)."""
    frames = judge.example_frames()
    frames += [mutated for frame in frames for mutated, _ in judge.mutations(frame)]
    wrong = []
    for frame in frames:
        adapter: pydantic.TypeAdapter[Any] = pydantic.TypeAdapter(
            judge.model(frame.message, frame.part)
        )
        plain = plain_validator(adapter.core_schema)  # generated code has no validation code
        data = json.dumps(frame.value)
        verdicts = [
            _verdict(validate, data) for validate in (adapter.validate_json, plain.validate_json)
        ]
        if verdicts[0] != verdicts[1]:
            wrong.append(f"{frame.label}: model {verdicts[0]}, plain {verdicts[1]}")
    assert wrong == [], "\n".join(wrong)


def _verdict(validate: Callable[[str], Any], data: str) -> list[tuple[Any, ...]] | None:
    try:
        validate(data)
    except pydantic.ValidationError as exc:
        kinds = {"model_type": "dict_type"}  # "not an object", named after what is built
        return sorted((tuple(e["loc"]), kinds.get(e["type"], e["type"])) for e in exc.errors())
    return None
