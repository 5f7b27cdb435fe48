"""specwire.protocol.plain: the models' checks with plain data out, judged against the models.

The oracle is the generated model itself: for every frame, the plain validator must
accept exactly what the model accepts, and reject the rest at the same locations
with the same error types.
"""

from __future__ import annotations

import json
import types
from pathlib import Path
from typing import Annotated, Any

import console_live_updates as package
import pytest
import yaml
from console_live_updates import server_message_adapter
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import (
    MISSING,
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    RootModel,
    TypeAdapter,
    ValidationError,
    field_validator,
    model_validator,
)

from specwire.protocol import OutboundInvalid, binding_for, check_outbound, decode_outbound
from specwire.protocol.console import console_binding
from specwire.protocol.plain import UnsupportedSchema, plain_validator

REPO = Path(__file__).resolve().parents[3]
PLAIN = plain_validator(server_message_adapter.core_schema)
BINDING = console_binding()


def server_examples() -> list[tuple[str, dict[str, Any]]]:
    doc = yaml.safe_load((REPO / "asyncapi.yaml").read_text(encoding="utf-8"))
    found = []
    for message_id, message in doc["components"]["messages"].items():
        for index, example in enumerate(message.get("examples", ())):
            payload = example.get("payload")
            if isinstance(payload, dict):
                found.append((f"{message_id}[{index}]", payload))
    return found


def verdict(validate: Any, data: bytes) -> list[tuple[tuple[Any, ...], str]] | None:
    """None when accepted, else each error's location and type."""
    try:
        validate(data)
    except ValidationError as exc:
        # "not an object" is model_type for a model and dict_type for plain data
        return sorted(
            (tuple(e["loc"]), "dict_type" if e["type"] == "model_type" else e["type"])
            for e in exc.errors()
        )
    return None


def model_verdict(data: bytes) -> list[tuple[tuple[Any, ...], str]] | None:
    return verdict(server_message_adapter.validate_json, data)


def plain_verdict(data: bytes) -> list[tuple[tuple[Any, ...], str]] | None:
    return verdict(PLAIN.validate_json, data)


SERVER_FRAMES = [
    (label, payload)
    for label, payload in server_examples()
    if model_verdict(json.dumps(payload).encode()) is None
]


def test_the_spec_has_server_examples_to_judge() -> None:
    tags = {payload["type"] for _, payload in SERVER_FRAMES}
    assert {"welcome", "metrics.snapshot", "topic.created", "error"} <= tags


@pytest.mark.parametrize(("label", "payload"), SERVER_FRAMES, ids=[x for x, _ in SERVER_FRAMES])
def test_valid_frames_give_the_same_data_as_the_model(label: str, payload: dict[str, Any]) -> None:
    data = json.dumps(payload).encode()
    model = server_message_adapter.validate_json(data)
    assert present(PLAIN.validate_json(data)) == model.model_dump()


def present(value: Any) -> Any:
    """Plain data without the fields left ``MISSING`` (a model's dump leaves them out)."""
    if isinstance(value, dict):
        return {k: present(v) for k, v in value.items() if v is not MISSING}
    if isinstance(value, list):
        return [present(item) for item in value]
    return value


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3)
    ),
    max_leaves=8,
)


def paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every location inside a JSON value, the value itself first."""
    found = [prefix]
    if isinstance(value, dict):
        for key, child in value.items():
            found += paths(child, (*prefix, key))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            found += paths(child, (*prefix, index))
    return found


def replaced(value: Any, path: tuple[Any, ...], new: Any) -> Any:
    if not path:
        return new
    head, rest = path[0], path[1:]
    if isinstance(value, dict):
        return {**value, head: replaced(value[head], rest, new)}
    copy = list(value)
    copy[head] = replaced(copy[head], rest, new)
    return copy


@st.composite
def mutated_frames(draw: st.DrawFn) -> bytes:
    """A valid server example with one value replaced, one key dropped or one key added."""
    _, payload = draw(st.sampled_from(SERVER_FRAMES))
    path = draw(st.sampled_from(paths(payload)[1:]))
    how = draw(st.sampled_from(("replace", "drop", "add")))
    if how == "replace":
        payload = replaced(payload, path, draw(json_values))
    else:
        parent = path[:-1]
        target: Any = payload
        for key in parent:
            target = target[key]
        if isinstance(target, dict) and how == "drop":
            payload = replaced(payload, parent, {k: v for k, v in target.items() if k != path[-1]})
        elif isinstance(target, dict):
            key = draw(st.text(max_size=8))
            payload = replaced(payload, parent, {**target, key: draw(json_values)})
    return json.dumps(payload).encode()


@settings(max_examples=400, deadline=None)
@given(data=mutated_frames())
def test_mutated_frames_get_the_models_verdict_at_the_same_places(data: bytes) -> None:
    assert plain_verdict(data) == model_verdict(data)


@pytest.mark.parametrize(
    "data",
    [b"", b"[]", b"null", b"{}", b'{"type": "nope"}', b"{not json", b'"metrics.snapshot"'],
)
def test_frames_that_are_not_messages_get_the_models_verdict(data: bytes) -> None:
    assert plain_verdict(data) == model_verdict(data)
    assert plain_verdict(data) is not None


# -- check_outbound ------------------------------------------------------------------------


def snapshot() -> dict[str, Any]:
    return next(payload for _, payload in SERVER_FRAMES if payload["type"] == "metrics.snapshot")


def test_check_outbound_returns_the_tag() -> None:
    assert check_outbound(BINDING, json.dumps(snapshot()).encode()) == "metrics.snapshot"


def test_check_outbound_refuses_what_decode_outbound_refuses() -> None:
    bad = {**snapshot(), "seq": 0}
    data = json.dumps(bad).encode()
    with pytest.raises(OutboundInvalid) as checked:
        check_outbound(BINDING, data)
    with pytest.raises(OutboundInvalid) as decoded:
        decode_outbound(BINDING, data)
    assert checked.value.message_type == decoded.value.message_type == "metrics.snapshot"
    assert [e["loc"] for e in checked.value.errors] == [e["loc"] for e in decoded.value.errors]


# -- what is rewritten and what is refused -------------------------------------------------


class Strict(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid", allow_inf_nan=False)
    name: Annotated[str, Field(min_length=1, pattern="^[a-z]+$")]
    count: Annotated[int, Field(ge=0)] = 0
    ratio: float | None = None
    wire: Annotated[int, Field(alias="wire-name")] = 1


class Open(BaseModel):
    model_config = ConfigDict(extra="allow")
    inner: Strict
    tags: list[str] = []


class Root(RootModel[list[Open]]):
    pass


@pytest.mark.parametrize(
    "value",
    [
        [],
        [{"inner": {"name": "abc"}}],
        [{"inner": {"name": "abc", "count": 2, "ratio": 0.5, "wire-name": 3}, "x": {"y": 1}}],
        [{"inner": {"name": "abc", "wire": 3}}],
        [{"inner": {"name": "ABC"}}],
        [{"inner": {"name": ""}}],
        [{"inner": {"name": "abc", "count": -1}}],
        [{"inner": {"name": "abc", "count": "1"}}],
        [{"inner": {"name": "abc", "count": True}}],
        [{"inner": {"name": "abc", "extra": 1}}],
        [{"inner": {}}],
        [{"tags": ["a"]}],
        [{"inner": {"name": "abc"}, "tags": [1]}],
    ],
)
def test_models_options_and_root_models_keep_their_rules(value: Any) -> None:
    adapter = TypeAdapter(Root)
    plain = plain_validator(adapter.core_schema)
    data = json.dumps(value).encode()
    assert verdict(plain.validate_json, data) == verdict(adapter.validate_json, data)
    if verdict(adapter.validate_json, data) is None:
        assert plain.validate_json(data) == adapter.validate_json(data).model_dump()


def test_numbers_too_large_for_a_float_are_refused_alike() -> None:
    adapter = TypeAdapter(Root)
    data = b'[{"inner": {"name": "abc", "ratio": 1e400}}]'
    assert verdict(adapter.validate_json, data) is not None
    assert verdict(plain_validator(adapter.core_schema).validate_json, data) == verdict(
        adapter.validate_json, data
    )


class WithFieldCode(BaseModel):
    values: list[int]

    @field_validator("values")
    @classmethod
    def unique(cls, values: list[int]) -> list[int]:
        if len(set(values)) != len(values):
            raise ValueError("items must be unique")
        return values


def test_validation_code_on_a_fields_value_is_kept() -> None:
    adapter = TypeAdapter(WithFieldCode)
    plain = plain_validator(adapter.core_schema)
    assert plain.validate_json(b'{"values": [1, 2]}') == {"values": [1, 2]}
    for data in (b'{"values": [1, 1]}', b'{"values": [1.5]}'):
        assert verdict(plain.validate_json, data) == verdict(adapter.validate_json, data)
        assert verdict(plain.validate_json, data) is not None


class WithModelCode(BaseModel):
    value: int

    @model_validator(mode="after")
    def check(self) -> WithModelCode:
        return self


class WithCodeOnAModelField(BaseModel):
    inner: Annotated[Strict, AfterValidator(lambda inner: inner)]


@pytest.mark.parametrize("model", [WithModelCode, WithCodeOnAModelField])
def test_validation_code_that_would_get_a_model_is_refused(model: type[BaseModel]) -> None:
    with pytest.raises(UnsupportedSchema):
        plain_validator(TypeAdapter(model).core_schema)


def test_fields_left_out_stay_out() -> None:
    class Optional(BaseModel):
        kept: int | MISSING = MISSING  # type: ignore[valid-type]
        filled: int = 3

    plain = plain_validator(TypeAdapter(Optional).core_schema)
    assert plain.validate_json(b"{}") == {"filled": 3}
    assert plain.validate_json(b'{"kept": 1}') == {"kept": 1, "filled": 3}


def test_a_binding_falls_back_to_the_models_when_they_run_code() -> None:
    adapter = TypeAdapter(WithModelCode)
    fake = types.SimpleNamespace(**{name: getattr(package, name) for name in dir(package)})
    fake.server_message_adapter = adapter
    binding = binding_for(fake, console_binding().error)  # type: ignore[arg-type]
    assert binding.check_outbound is None
    with pytest.raises(OutboundInvalid):
        check_outbound(binding, b'{"value": "x"}')
    assert check_outbound(binding, b'{"value": 1}') == "WithModelCode"
