"""Load AsyncAPI documents from YAML or JSON files and resolve ``$ref`` across files.

A :class:`Workspace` reads each file once and answers ``$ref`` lookups relative to the
place the reference is written, following chains of references. Every value it returns
comes with its :class:`Location` (file and RFC 6901 JSON Pointer), so that errors and
lint problems can say exactly where they are.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urldefrag

import yaml

__all__ = ["DocumentError", "Location", "Workspace", "escape_token", "pointer_join"]


class DocumentError(Exception):
    """A document that cannot be read or a reference that cannot be followed.

    The message reads ``file:pointer: what is wrong``, the form every specwire
    diagnostic takes.
    """

    def __init__(self, location: Location, message: str) -> None:
        super().__init__(f"{location}: {message}")
        self.location = location
        self.reason = message


def escape_token(token: str) -> str:
    """Escape one reference token for a JSON Pointer (RFC 6901, section 4)."""
    return token.replace("~", "~0").replace("/", "~1")


def _unescape_token(token: str) -> str:
    return token.replace("~1", "/").replace("~0", "~")


def pointer_join(pointer: str, *tokens: str | int) -> str:
    """Append reference tokens to a JSON Pointer."""
    return pointer + "".join("/" + escape_token(str(token)) for token in tokens)


@dataclass(frozen=True, order=True)
class Location:
    """Where a value lives: a file and a JSON Pointer inside it (``""`` is the root)."""

    file: Path
    pointer: str = ""

    def child(self, *tokens: str | int) -> Location:
        return Location(self.file, pointer_join(self.pointer, *tokens))

    def display(self, base: Path | None = None) -> str:
        path = self.file
        if base is not None and self.file.is_relative_to(base):
            path = self.file.relative_to(base)
        return f"{path}:{self.pointer or '/'}"

    def __str__(self) -> str:
        return self.display(Path.cwd())


class _UniqueKeyLoader(yaml.SafeLoader):
    """A YAML loader that refuses duplicate keys, which YAML forbids and PyYAML accepts."""


def _construct_mapping(loader: _UniqueKeyLoader, node: yaml.MappingNode) -> dict[Any, Any]:
    loader.flatten_mapping(node)
    mapping: dict[Any, Any] = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        if key in mapping:
            mark = key_node.start_mark
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key {key!r} (line {mark.line + 1})", mark
            )
        mapping[key] = loader.construct_object(value_node, deep=True)
    return mapping


_UniqueKeyLoader.add_constructor(
    yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG,
    _construct_mapping,
)
# YAML 1.1 reads bare dates as datetime objects; JSON documents have only strings.
_UniqueKeyLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def read_document(path: Path) -> Any:
    """Parse one YAML or JSON file; JSON is read as YAML 1.2's subset unless it ends in .json."""
    location = Location(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise DocumentError(location, f"cannot read file: {exc.strerror or exc}") from exc
    except UnicodeDecodeError as exc:
        raise DocumentError(location, f"not UTF-8 text: {exc}") from exc
    try:
        if path.suffix.lower() == ".json":
            return json.loads(text)
        return yaml.load(text, Loader=_UniqueKeyLoader)  # noqa: S506 - a SafeLoader subclass
    except json.JSONDecodeError as exc:
        raise DocumentError(location, f"invalid JSON at line {exc.lineno}: {exc.msg}") from exc
    except yaml.YAMLError as exc:
        raise DocumentError(location, f"invalid YAML: {exc}") from exc


@dataclass
class Workspace:
    """The files of one document set, loaded lazily and once each."""

    root: Path
    _files: dict[Path, Any] = field(default_factory=dict)

    @classmethod
    def open(cls, path: str | Path) -> Workspace:
        root = Path(path).resolve()
        workspace = cls(root)
        workspace.document(root)
        return workspace

    @property
    def files(self) -> tuple[Path, ...]:
        """Every file read so far, the root first."""
        return tuple(self._files)

    def sha256(self) -> str:
        """sha256 over the bytes of every file read so far, in the order they were read.

        For a single-file document this is the file's own sha256. Call it after every
        stage that follows references, so that no file is left out.
        """
        if len(self._files) == 1:
            return hashlib.sha256(self.root.read_bytes()).hexdigest()
        hasher = hashlib.sha256()
        for file in self._files:
            hasher.update(hashlib.sha256(file.read_bytes()).digest())
        return hasher.hexdigest()

    def document(self, path: Path) -> Any:
        if path not in self._files:
            self._files[path] = read_document(path)
        return self._files[path]

    def get(self, location: Location) -> Any:
        """The value at ``location``, without following references."""
        value = self.document(location.file)
        if not location.pointer:
            return value
        if not location.pointer.startswith("/"):
            raise DocumentError(location, "a JSON Pointer must start with '/'")
        walked = ""
        for raw in location.pointer[1:].split("/"):
            token = _unescape_token(raw)
            walked = pointer_join(walked, token)
            if isinstance(value, dict) and token in value:
                value = value[token]
            elif isinstance(value, list) and token.isdigit() and int(token) < len(value):
                value = value[int(token)]
            else:
                raise DocumentError(
                    Location(location.file, walked), "the reference points to nothing here"
                )
        return value

    def target(self, ref: str, base: Location) -> Location:
        """Where a ``$ref`` written at ``base`` points (one step, no chains)."""
        address, fragment = urldefrag(ref)
        if "://" in address:
            raise DocumentError(
                base, f"remote reference {ref!r} is not supported; use a local file"
            )
        file = (base.file.parent / unquote(address)).resolve() if address else base.file
        pointer = unquote(fragment)
        if pointer and not pointer.startswith("/"):
            raise DocumentError(
                base, f"reference {ref!r}: only JSON Pointer fragments are supported"
            )
        return Location(file, pointer)

    def resolve(self, value: Any, location: Location) -> tuple[Any, Location]:
        """Follow ``$ref`` chains from a value found at ``location``: the target and its place."""
        seen: set[Location] = set()
        while isinstance(value, dict) and isinstance(value.get("$ref"), str):
            target = self.target(value["$ref"], location.child("$ref"))
            if target in seen:
                raise DocumentError(location, f"circular reference {value['$ref']!r}")
            seen.add(target)
            try:
                value = self.get(target)
            except DocumentError as exc:
                raise DocumentError(
                    location.child("$ref"), f"unresolved reference {value['$ref']!r} ({exc.reason})"
                ) from exc
            location = target
        return value, location

    def at(self, location: Location) -> tuple[Any, Location]:
        """The value at ``location``, references followed."""
        return self.resolve(self.get(location), location)
