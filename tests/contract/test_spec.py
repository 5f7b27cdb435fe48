"""The spec itself: valid AsyncAPI 3, lint-clean, and every example agrees with the generated code.

Each example of ``components.messages.*.examples`` must be accepted by its payload model, by the
decoder of its direction and by its JSON Schema, survive ``encode(decode(frame))`` unchanged,
match no other message schema, and be refused by the other direction.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from functools import cache
from importlib.resources import files
from pathlib import Path
from typing import Any

import pytest
import yaml
from console_live_updates import MESSAGES, TAGS, encode
from jsonschema import Draft7Validator
from pydantic import ValidationError

from specwire.codegen.lint import lint

REPO_ROOT = Path(__file__).resolve().parents[2]
SPEC_PATH = REPO_ROOT / "asyncapi.yaml"
META_SCHEMA_PATH = REPO_ROOT / "node_modules" / "@asyncapi" / "specs" / "schemas" / "3.0.0.json"
SCHEMAS_DIR = files("console_live_updates") / "schemas"

OTHER = {"server-to-client": "client-to-server", "client-to-server": "server-to-client"}


def _examples() -> list[Any]:
    spec = yaml.safe_load(SPEC_PATH.read_text(encoding="utf-8"))
    return [
        pytest.param(message_id, example["payload"], id=f"{message_id}/{example['name']}")
        for message_id, message in spec["components"]["messages"].items()
        for example in message.get("examples", [])
    ]


EXAMPLES = _examples()


@cache
def _meta_validator() -> Draft7Validator:
    """The official AsyncAPI 3.0.0 JSON Schema, from ``node_modules`` (a failure, never a skip)."""
    if not META_SCHEMA_PATH.is_file():
        pytest.fail(
            f"AsyncAPI meta-schema not found at {META_SCHEMA_PATH}: "
            f"run `npm ci` in {REPO_ROOT} (or `make setup`) to install @asyncapi/specs",
            pytrace=False,
        )
    meta = json.loads(META_SCHEMA_PATH.read_text(encoding="utf-8"))
    assert meta["$schema"].startswith("http://json-schema.org/draft-07/schema")
    Draft7Validator.check_schema(meta)
    return Draft7Validator(meta, format_checker=Draft7Validator.FORMAT_CHECKER)


def _render(errors: list[Any]) -> str:
    return "\n".join(f"  at /{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in errors)


# --------------------------------------------------------------------------------------------
# The document
# --------------------------------------------------------------------------------------------


def test_spec_is_valid_asyncapi_3(spec: dict[str, Any]) -> None:
    assert spec["asyncapi"] == "3.0.0"
    meta_validator = _meta_validator()
    errors = sorted(meta_validator.iter_errors(spec), key=lambda e: list(map(str, e.path)))
    assert not errors, f"{SPEC_PATH.name} violates the AsyncAPI 3.0.0 schema:\n{_render(errors)}"


def test_meta_schema_catches_a_broken_document(spec: dict[str, Any]) -> None:
    """The meta-schema check is not vacuous (its $refs resolve and it rejects a broken spec)."""
    meta_validator = _meta_validator()
    broken = copy.deepcopy(spec)
    del broken["info"]["version"]
    broken["operations"]["subscribe"]["action"] = "publish"  # AsyncAPI 2 vocabulary
    broken["channels"]["live"]["address"] = 42
    messages = {e.message for e in meta_validator.iter_errors(broken)}
    assert "'version' is a required property" in messages
    assert len(list(meta_validator.iter_errors(broken))) >= 3


def test_lint_reports_nothing() -> None:
    problems = lint(SPEC_PATH)
    assert problems == [], "lint problems (warnings included):\n" + "\n".join(
        p.render() for p in problems
    )


def test_every_message_has_an_example_and_a_schema(spec: dict[str, Any]) -> None:
    messages = spec["components"]["messages"]
    assert messages.keys() == MESSAGES.keys()
    assert [m for m, message in messages.items() if not message.get("examples")] == []
    assert {p.name.removesuffix(".json") for p in (SCHEMAS_DIR / "messages").iterdir()} == set(
        MESSAGES
    )


@pytest.mark.parametrize(
    "relative",
    [
        "bundle.json",
        "server-to-client.json",
        "client-to-server.json",
        *(f"messages/{message_id}.json" for message_id in MESSAGES),
    ],
)
def test_generated_schema_is_valid_draft_07(relative: str) -> None:
    schema = json.loads((SCHEMAS_DIR / relative).read_text(encoding="utf-8"))
    assert schema["$schema"] == "http://json-schema.org/draft-07/schema#"
    Draft7Validator.check_schema(schema)


# --------------------------------------------------------------------------------------------
# The examples
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("message_id", "example"), EXAMPLES)
def test_example_is_accepted_and_round_trips(
    message_id: str,
    example: dict[str, Any],
    directions: dict[str, str],
    decoders: dict[str, Callable[[bytes | str], Any]],
    same_json: Callable[[Any, Any], bool],
) -> None:
    tag_property, tag_value = TAGS[message_id]
    assert example[tag_property] == tag_value
    frame = json.dumps(example)
    model_class = MESSAGES[message_id]

    model = model_class.model_validate_json(frame)
    decoded = decoders[directions[message_id]](frame.encode())
    assert type(decoded) is model_class
    assert decoded == model

    for encoded in (encode(model), encode(decoded)):
        again = json.loads(encoded)
        assert same_json(again, example), f"round trip changed the example:\n{again}\n{example}"

    with pytest.raises(ValidationError):
        decoders[OTHER[directions[message_id]]](frame)


@pytest.mark.parametrize(("message_id", "example"), EXAMPLES)
def test_example_matches_exactly_its_message_schema(
    message_id: str,
    example: dict[str, Any],
    message_validator: Callable[[str], Draft7Validator],
) -> None:
    errors = list(message_validator(message_id).iter_errors(example))
    assert not errors, f"rejected by messages/{message_id}.json:\n{_render(errors)}"
    matching = [other for other in MESSAGES if message_validator(other).is_valid(example)]
    assert matching == [message_id]


@pytest.mark.parametrize(("message_id", "example"), EXAMPLES)
def test_example_belongs_to_its_direction_only(
    message_id: str,
    example: dict[str, Any],
    directions: dict[str, str],
    direction_validator: Callable[[str], Draft7Validator],
) -> None:
    own = directions[message_id]
    errors = list(direction_validator(own).iter_errors(example))
    assert not errors, f"rejected by {own}.json:\n{_render(errors)}"
    assert not direction_validator(OTHER[own]).is_valid(example), f"accepted by {OTHER[own]}.json"
