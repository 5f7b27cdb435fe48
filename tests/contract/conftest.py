"""Shared fixtures of the contract tests: the spec, its message directions, the JSON Schema oracle.

The contract tests compare two independent readings of ``asyncapi.yaml``: the generated pydantic
package ``console_live_updates`` and the generated JSON Schemas, judged by ``jsonschema`` (the
oracle). Helpers are handed out as session fixtures rather than imported from this module, so
that no test module depends on ``conftest`` being importable.
"""

from __future__ import annotations

import json
import typing
from collections.abc import Callable, Mapping
from functools import cache
from importlib.resources import files
from pathlib import Path
from typing import Any, Literal

import pytest
import yaml
from console_live_updates import (
    MESSAGES,
    ClientMessage,
    ServerMessage,
    decode_client_message,
    decode_server_message,
)
from jsonschema import Draft7Validator
from pydantic import BaseModel

REPO_ROOT = Path(__file__).resolve().parents[2]
SPEC_PATH = REPO_ROOT / "asyncapi.yaml"
SCHEMAS_DIR = files("console_live_updates") / "schemas"

Direction = Literal["server-to-client", "client-to-server"]
Decoder = Callable[[bytes | str], BaseModel]


@cache
def _load_spec() -> dict[str, Any]:
    spec = yaml.safe_load(SPEC_PATH.read_text(encoding="utf-8"))
    assert isinstance(spec, dict)
    return spec


@cache
def _load_schema(relative: str) -> dict[str, Any]:
    schema = json.loads((SCHEMAS_DIR / relative).read_text(encoding="utf-8"))
    assert isinstance(schema, dict)
    return schema


def _resolve(document: Mapping[str, Any], ref: str) -> Any:
    """Follow a local JSON Pointer reference (``#/a/b``) in ``document``."""
    assert ref.startswith("#/"), f"only local references are expected, got {ref!r}"
    node: Any = document
    for token in ref[2:].split("/"):
        node = node[token.replace("~1", "/").replace("~0", "~")]
    return node


def _message_id(spec: Mapping[str, Any], ref: str) -> str:
    """``#/channels/live/messages/x`` (-> ``#/components/messages/y``) -> ``y``."""
    while True:
        if ref.startswith("#/components/messages/"):
            return ref.rsplit("/", 1)[1]
        target = _resolve(spec, ref)
        assert "$ref" in target, f"{ref} is neither a component message nor a reference to one"
        ref = target["$ref"]


def _union_members(alias: Any) -> set[type[BaseModel]]:
    """The classes of a ``TypeAliasType`` of ``Annotated[A | B | ..., Field(...)]``."""
    union = typing.get_args(alias.__value__)[0]
    return set(typing.get_args(union))


def _same_json(left: Any, right: Any) -> bool:
    """Equality of two ``json.loads`` results, as JSON values.

    Stricter than ``==``: ``True`` is not ``1`` and ``{"a": 1}`` is not ``{"a": 1, "b": None}``
    (Python's ``==`` already distinguishes those two, but not bools from numbers). Numbers
    compare by value, as in JSON, where ``3`` and ``3.0`` are the same number (JSON Schema
    draft 6+ even calls ``3.0`` an integer): fields declared ``type: number`` are held as floats
    by the models and come back as ``3.0``, which is not a change.
    """
    if isinstance(left, bool) or isinstance(right, bool):
        return type(left) is type(right) and left == right
    if isinstance(left, int | float) and isinstance(right, int | float):
        return left == right
    if isinstance(left, dict) and isinstance(right, dict):
        return left.keys() == right.keys() and all(_same_json(left[k], right[k]) for k in left)
    if isinstance(left, list) and isinstance(right, list):
        return len(left) == len(right) and all(map(_same_json, left, right))
    return type(left) is type(right) and left == right


@cache
def _validator(relative: str) -> Draft7Validator:
    schema = _load_schema(relative)
    Draft7Validator.check_schema(schema)
    return Draft7Validator(schema, format_checker=Draft7Validator.FORMAT_CHECKER)


@pytest.fixture(scope="session")
def spec() -> dict[str, Any]:
    """``asyncapi.yaml``, as plain data."""
    return _load_spec()


@pytest.fixture(scope="session")
def directions(spec: dict[str, Any]) -> dict[str, Direction]:
    """Message id -> direction, read from the spec's operations.

    The application is the server: a ``receive`` operation's messages travel client -> server
    and its replies server -> client; a ``send`` operation the other way round. The result is
    checked against the generated unions, so the decoders and the spec cannot silently diverge.
    """
    found: dict[str, set[Direction]] = {}
    for name, operation in spec["operations"].items():
        inbound: Direction = "client-to-server"
        outbound: Direction = "server-to-client"
        if operation["action"] == "send":
            inbound, outbound = outbound, inbound
        else:
            assert operation["action"] == "receive", name
        for ref in operation.get("messages", []):
            found.setdefault(_message_id(spec, ref["$ref"]), set()).add(inbound)
        for ref in operation.get("reply", {}).get("messages", []):
            found.setdefault(_message_id(spec, ref["$ref"]), set()).add(outbound)
    assert found.keys() == MESSAGES.keys(), "every message is used by an operation"
    ambiguous = {message_id: d for message_id, d in found.items() if len(d) != 1}
    assert not ambiguous, f"messages travelling both ways: {ambiguous}"
    result = {message_id: d.pop() for message_id, d in found.items()}

    server = _union_members(ServerMessage)
    client = _union_members(ClientMessage)
    for message_id, direction in result.items():
        model = MESSAGES[message_id]
        expected = server if direction == "server-to-client" else client
        other = client if direction == "server-to-client" else server
        assert model in expected, f"{message_id} ({direction}) is missing from its union"
        assert model not in other, f"{message_id} ({direction}) is in the other union"
    return result


@pytest.fixture(scope="session")
def decoders() -> dict[Direction, Decoder]:
    """Direction -> the generated decoder of that direction."""
    return {
        "server-to-client": decode_server_message,
        "client-to-server": decode_client_message,
    }


@pytest.fixture(scope="session")
def message_validator() -> Callable[[str], Draft7Validator]:
    """Message id -> jsonschema validator of its standalone ``messages/<id>.json`` (the oracle)."""
    return lambda message_id: _validator(f"messages/{message_id}.json")


@pytest.fixture(scope="session")
def direction_validator() -> Callable[[Direction], Draft7Validator]:
    """Direction -> jsonschema validator of ``server-to-client.json`` / ``client-to-server.json``."""
    return lambda direction: _validator(f"{direction}.json")


@pytest.fixture(scope="session")
def same_json() -> Callable[[Any, Any], bool]:
    """JSON-value equality (see ``_same_json``)."""
    return _same_json
