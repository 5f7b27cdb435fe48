"""specwire.codegen.emit_python: the generated package's shape and behaviour."""

from __future__ import annotations

import importlib
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from pydantic import ValidationError
from specdocs import WriteSpec, minimal

from specwire.codegen.emit_python import package_name
from specwire.codegen.generate import Generated, generate, write_tree


@pytest.fixture
def load_package(tmp_path: Path) -> Iterator[Any]:
    """Generate a document into ``tmp_path/out`` and import it; forget it afterwards."""
    out = tmp_path / "out"
    names: list[str] = []

    def load(generated: Generated) -> ModuleType:
        write_tree(generated.files, out)
        importlib.invalidate_caches()
        names.append(generated.package)
        return importlib.import_module(generated.package)

    sys.path.insert(0, str(out))
    try:
        yield load
    finally:
        sys.path.remove(str(out))
        for name in list(sys.modules):
            if any(name == n or name.startswith(n + ".") for n in names):
                del sys.modules[name]


@pytest.mark.parametrize(
    ("title", "expected"),
    [
        ("Console Live Updates", "console_live_updates"),
        ("Streetlights Kafka API", "streetlights_kafka_api"),
        ("2FA codes", "api_2fa_codes"),
        ("class", "api_class"),
        ("¿?", "asyncapi_models"),
    ],
)
def test_package_name(title: str, expected: str) -> None:
    assert package_name(title) == expected


def test_the_generated_package_decodes_validates_and_encodes(
    write_spec: WriteSpec, load_package: Any
) -> None:
    generated = generate(write_spec())
    assert generated.package == "tick_feed"
    assert generated.warnings == ()
    pkg = load_package(generated)
    assert pkg.SPEC_TITLE == "Tick Feed"
    assert set(pkg.MESSAGES) == {"ping", "pong", "tick"}
    assert pkg.TAGS["tick"] == ("type", "tick")
    tick = pkg.decode_server_message('{"type":"tick","price":2,"volume":null}')
    assert isinstance(tick, pkg.Tick)
    # Absent optional fields stay absent; an explicit null stays null.
    assert json.loads(pkg.encode(tick)) == {"type": "tick", "price": 2.0, "volume": None}
    assert pkg.encode(pkg.Tick(type="tick", price=1)) == b'{"type":"tick","price":1.0}'
    assert isinstance(pkg.decode_client_message(b'{"type":"ping","id":"a"}'), pkg.Ping)
    with pytest.raises(ValidationError) as caught:
        pkg.decode_client_message(b'{"type":"ping","id":1}')
    assert caught.value.errors()[0]["loc"] == ("id",)
    with pytest.raises(ValidationError) as caught:
        pkg.decode_server_message(b'{"type":"tick","price":-1}')
    # A discriminated union names the member it chose by its tag, then the path.
    assert caught.value.errors()[0]["loc"] == ("tick", "price")
    with pytest.raises(ValidationError, match="union_tag_invalid"):
        pkg.decode_server_message(b'{"type":"nope"}')
    with pytest.raises(ValidationError):
        pkg.decode_server_message(b'{"type":"tick","price":"1"}')  # no lax coercion


def test_directions_and_operation_unions(write_spec: WriteSpec) -> None:
    doc = minimal()
    doc["operations"]["sendTick"]["messages"].append({"$ref": "#/channels/live/messages/pong"})
    doc["operations"]["ping"]["reply"]["messages"].append({"$ref": "#/channels/live/messages/tick"})
    messages = generate(write_spec(doc)).files["tick_feed/messages.py"]
    assert (
        'ServerMessage = TypeAliasType("ServerMessage", Annotated[Pong | Tick, Field(discriminator="type")])'
        in messages
    )
    assert 'ClientMessage = TypeAliasType("ClientMessage", Ping)' in messages
    assert '"SendTickMessage", Annotated[Tick | Pong, Field(discriminator="type")]' in messages
    assert 'PingReply = TypeAliasType("PingReply", Annotated[Pong | Tick' in messages


def test_messages_without_a_tag_fall_back_to_a_smart_union(
    write_spec: WriteSpec, load_package: Any
) -> None:
    doc = minimal()
    for name in ("Pong",):
        doc["components"]["schemas"][name]["required"] = ["id"]
    generated = generate(write_spec(doc))
    assert generated.warnings == (
        "ServerMessage: its messages share no required constant property, so a frame is "
        "matched against each in turn (pydantic's smart union)",
    )
    assert (
        'ServerMessage = TypeAliasType("ServerMessage", Pong | Tick)'
        in generated.files["tick_feed/messages.py"]
    )
    pkg = load_package(generated)
    assert isinstance(pkg.decode_server_message('{"id": "x"}'), pkg.Pong)


def test_union_names_do_not_shadow_models(write_spec: WriteSpec, load_package: Any) -> None:
    doc = minimal()
    doc["components"]["schemas"]["ServerMessage"] = {"type": "string"}
    doc["info"]["title"] = 'Quotes """ and \\ backslashes'
    generated = generate(write_spec(doc))
    pkg = load_package(generated)
    assert pkg.ServerMessage2 is not None
    assert pkg.SPEC_TITLE == 'Quotes """ and \\ backslashes'
    assert pkg.__doc__.startswith('Typed messages of Quotes """ and \\ backslashes')


def test_non_object_payloads_and_headers(write_spec: WriteSpec, load_package: Any) -> None:
    doc = minimal()
    doc["components"]["messages"]["tick"]["payload"] = {
        "type": "array",
        "items": {"type": "number"},
    }
    doc["components"]["messages"]["tick"]["headers"] = {
        "type": "object",
        "properties": {"trace-id": {"type": "string"}},
    }
    doc["components"]["messages"]["tick"]["examples"] = [{"payload": [1.5]}]
    pkg = load_package(generate(write_spec(doc)))
    assert "MESSAGES: Mapping[str, Any]" in Path(pkg.__file__).with_name("messages.py").read_text()
    headers = pkg.MESSAGE_HEADERS["tick"].model_validate_json('{"trace-id": "abc"}')
    assert pkg.encode(headers) == b'{"trace-id":"abc"}'


def test_models_accept_exactly_what_the_schema_accepts(
    write_spec: WriteSpec, load_package: Any
) -> None:
    doc = minimal()
    doc["components"]["schemas"]["Ping"]["properties"].update(
        {
            "at": {"type": "string", "format": "date-time"},
            "email": {"type": "string", "format": "email"},
            "site": {"type": "string", "format": "uri"},
            "n": {"type": "integer", "default": 5},
            "flag": {"type": "boolean"},
        }
    )
    pkg = load_package(generate(write_spec(doc)))
    ping = pkg.Ping.model_validate_json(
        '{"type":"ping","id":"a","email":"ops@example.com","site":"https://example.com"}'
    )
    # Strings with formats pydantic would rewrite come back exactly as sent.
    assert json.loads(pkg.encode(ping)) == {
        "type": "ping",
        "id": "a",
        "email": "ops@example.com",
        "site": "https://example.com",
        "n": 5,
    }
    for bad in (
        '"flag":"yes"',
        '"flag":1',
        '"n":"1"',
        '"n":1.5',
        '"n":null',
        '"at":"2024-01-01T00:00:00"',
        '"extra":1',
    ):
        with pytest.raises(ValidationError):
            pkg.Ping.model_validate_json('{"type":"ping","id":"a",' + bad + "}")
    with pytest.raises(ValidationError, match="frozen"):
        ping.id = "b"


def test_unique_items_are_checked(write_spec: WriteSpec, load_package: Any) -> None:
    doc = minimal()
    doc["components"]["schemas"]["Ping"]["properties"].update(
        {
            "tags": {"type": "array", "items": {"type": "string"}, "uniqueItems": True},
            "$weights": {"type": "array", "uniqueItems": True},
            "plain": {"type": "array"},
        }
    )
    generated = generate(write_spec(doc))
    assert "tick_feed/_checks.py" in generated.files
    pkg = load_package(generated)
    ok = pkg.Ping.model_validate_json('{"type":"ping","id":"a","tags":["x","y"],"plain":[1,1]}')
    assert ok.tags == ["x", "y"]
    pkg.Ping.model_validate_json('{"type":"ping","id":"a","$weights":[1,true,"1",[1],{"a":1}]}')
    for duplicated in (
        '"tags":["x","x"]',
        '"$weights":[1,1.0]',
        '"$weights":[{"a":[1]},{"a":[1.0]}]',
    ):
        with pytest.raises(ValidationError, match="uniqueItems"):
            pkg.Ping.model_validate_json('{"type":"ping","id":"a",' + duplicated + "}")


def test_no_checks_module_without_unique_items(write_spec: WriteSpec) -> None:
    assert "tick_feed/_checks.py" not in generate(write_spec()).files


def test_the_package_works_inside_another_package(write_spec: WriteSpec, tmp_path: Path) -> None:
    doc = minimal()
    doc["components"]["schemas"]["Ping"]["properties"]["tags"] = {
        "type": "array",
        "uniqueItems": True,
    }
    outer = tmp_path / "nest" / "app"
    outer.mkdir(parents=True)
    (outer / "__init__.py").write_text("", encoding="utf-8")
    write_tree(generate(write_spec(doc)).files, outer)
    script = 'from app.tick_feed import decode_client_message as d; print(type(d(\'{"type":"ping","id":"a"}\')).__name__)'
    result = subprocess.run(
        [sys.executable, "-W", "error", "-c", script],
        cwd=tmp_path / "nest",
        capture_output=True,
        text=True,
        check=True,
    )
    assert result.stdout.strip() == "Ping"
