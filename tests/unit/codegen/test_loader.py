"""specwire.codegen.loader: reading files and following references."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from specwire.codegen.loader import DocumentError, Location, Workspace, pointer_join, read_document


def test_pointer_tokens_are_escaped() -> None:
    assert pointer_join("/a", "b/c", "d~e", 0) == "/a/b~1c/d~0e/0"


def test_yaml_and_json_read_alike(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text("a: 1\nwhen: 2024-01-01\n", encoding="utf-8")
    (tmp_path / "b.json").write_text('{"a": 1, "when": "2024-01-01"}', encoding="utf-8")
    # YAML's bare dates stay strings, as JSON has no dates.
    assert read_document(tmp_path / "a.yaml") == read_document(tmp_path / "b.json")


@pytest.mark.parametrize(
    ("name", "text", "reason"),
    [
        ("dup.yaml", "a: 1\na: 2\n", "duplicate key 'a'"),
        ("bad.yaml", "a: [1,\n", "invalid YAML"),
        ("bad.json", '{"a": }', "invalid JSON at line 1"),
        ("bin.yaml", b"\xff\xfe", "not UTF-8"),
    ],
)
def test_broken_files_name_the_file(
    tmp_path: Path, name: str, text: str | bytes, reason: str
) -> None:
    path = tmp_path / name
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    with pytest.raises(DocumentError) as caught:
        read_document(path)
    assert reason in str(caught.value)
    assert str(caught.value).startswith(f"{path}:/")


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(DocumentError, match="cannot read file"):
        Workspace.open(tmp_path / "absent.yaml")


def test_references_are_followed_across_files(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / "root.yaml").write_text("a: {$ref: 'sub/one.yaml#/b'}\n", encoding="utf-8")
    (tmp_path / "sub" / "one.yaml").write_text("b: {$ref: '../two.yaml'}\n", encoding="utf-8")
    (tmp_path / "two.yaml").write_text("value: 42\n", encoding="utf-8")
    ws = Workspace.open(tmp_path / "root.yaml")
    value, where = ws.at(Location(ws.root, "/a"))
    assert value == {"value": 42}
    assert where == Location((tmp_path / "two.yaml").resolve(), "")
    assert len(ws.files) == 3


def test_escaped_and_percent_encoded_pointers(tmp_path: Path) -> None:
    (tmp_path / "r.yaml").write_text(
        "x: {$ref: '#/defs/a~1b'}\ny: {$ref: '#/defs/c%20d'}\ndefs: {a/b: 1, c d: 2}\n",
        encoding="utf-8",
    )
    ws = Workspace.open(tmp_path / "r.yaml")
    assert ws.at(Location(ws.root, "/x"))[0] == 1
    assert ws.at(Location(ws.root, "/y"))[0] == 2


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("a: {$ref: '#/nowhere'}\n", "unresolved reference '#/nowhere'"),
        ("a: {$ref: '#/b'}\nb: {$ref: '#/a'}\n", "circular reference"),
        ("a: {$ref: 'https://example.com/x.yaml'}\n", "remote reference"),
        ("a: {$ref: '#anchor'}\n", "only JSON Pointer fragments"),
        ("a: {$ref: '#/list/9'}\nlist: [1]\n", "unresolved reference"),
    ],
)
def test_bad_references(tmp_path: Path, text: str, reason: str) -> None:
    (tmp_path / "r.yaml").write_text(text, encoding="utf-8")
    ws = Workspace.open(tmp_path / "r.yaml")
    with pytest.raises(DocumentError, match=reason) as caught:
        ws.at(Location(ws.root, "/a"))
    assert caught.value.location.pointer.startswith("/")


def test_pointer_must_start_with_slash(tmp_path: Path) -> None:
    (tmp_path / "r.yaml").write_text("a: 1\n", encoding="utf-8")
    ws = Workspace.open(tmp_path / "r.yaml")
    with pytest.raises(DocumentError, match="must start with '/'"):
        ws.get(Location(ws.root, "a"))


def test_locations_display_relative_to_a_base(tmp_path: Path) -> None:
    location = Location(tmp_path / "specs" / "a.yaml", "/info")
    assert location.display(tmp_path) == "specs/a.yaml:/info"
    assert Location(tmp_path / "a.yaml").display(tmp_path / "elsewhere") == f"{tmp_path}/a.yaml:/"


def test_sha256_covers_every_file_read(tmp_path: Path) -> None:
    (tmp_path / "root.yaml").write_text("a: {$ref: 'other.yaml'}\n", encoding="utf-8")
    (tmp_path / "other.yaml").write_text("b: 1\n", encoding="utf-8")
    ws = Workspace.open(tmp_path / "root.yaml")
    alone = ws.sha256()
    assert alone == hashlib.sha256((tmp_path / "root.yaml").read_bytes()).hexdigest()
    ws.at(Location(ws.root, "/a"))
    both = ws.sha256()
    assert both != alone
    (tmp_path / "other.yaml").write_text("b: 2\n", encoding="utf-8")
    assert ws.sha256() != both
