"""One side of a comparison: a document as ``specwire generate`` reads it, and more.

Besides the spec and its bundled schemas: its servers (variables resolved), their
security requirements by scheme name, and the bindings of its channels, servers,
operations and messages.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from specwire.codegen.build import build_spec, merge_patch
from specwire.codegen.ir import Direction, Spec
from specwire.codegen.loader import Location, Workspace, pointer_join
from specwire.codegen.schemas import Bundle, bundle_schemas, find_tag, object_tags
from specwire.contract.diff.findings import _CLIENT, _SERVER
from specwire.contract.diff.schemas import _canon, _dict, _list


@dataclass(frozen=True)
class _Side:
    path: Path
    spec: Spec
    bundle: Bundle
    writers: dict[str, frozenset[str]]
    """Message id -> who sends it (``server``, ``client``), for messages that travel."""
    tags: dict[str, tuple[str, Any]]
    """Message id -> (tag property, value), for messages that have one."""
    servers: dict[str, dict[str, Any]]
    """Server id -> the server, its variables resolved."""
    security: dict[str, dict[str, str]]
    """Server id -> scheme name -> the scheme's definition, canonical, without words."""
    bindings: dict[str, dict[str, Any]]
    """Channel id -> protocol -> the channel's binding, resolved."""
    operation_security: dict[str, dict[str, str]]
    """Operation id -> its own security requirements, like ``security``."""
    other_bindings: dict[str, dict[str, Any]]
    """``servers/<id>``, ``operations/<id>``, ``messages/<id>`` -> protocol -> binding."""

    def address(self, channel_id: str | None) -> str | None:
        if channel_id is None:
            return None
        try:
            channel = self.spec.channel(channel_id)
        except KeyError:
            return None
        return channel.address if channel.address is not None else channel.id


_HANDSHAKE_PARTS = ("query", "headers")
_SECURITY_SCHEMES = "/components/securitySchemes/"


def _wordless(value: Any) -> Any:
    """A security scheme without words: no descriptions, summaries or ``x-`` keys at any
    depth, the descriptions of ``availableScopes`` dropped and ``scopes`` in order."""
    if isinstance(value, dict):
        kept: dict[str, Any] = {}
        for key, item in value.items():
            if key in ("description", "summary", "title") or key.startswith("x-"):
                continue
            if key == "availableScopes" and isinstance(item, dict):
                kept[key] = sorted(item)
            elif key == "scopes" and isinstance(item, list):
                kept[key] = sorted(item, key=_canon)
            else:
                kept[key] = _wordless(item)
        return kept
    if isinstance(value, list):
        return [_wordless(item) for item in value]
    return value


def _servers(
    workspace: Workspace, spec: Spec
) -> tuple[dict[str, dict[str, Any]], dict[str, dict[str, str]]]:
    """Each server, its variables resolved, and its security schemes by name."""
    servers: dict[str, dict[str, Any]] = {}
    security: dict[str, dict[str, str]] = {}
    for server_id, raw in spec.servers:
        at = spec.source.child("servers", server_id)
        found, at = workspace.resolve(raw, at)
        server = dict(_dict(found))
        variables: dict[str, Any] = {}
        for name, variable in _dict(server.get("variables")).items():
            value, _ = workspace.resolve(variable, at.child("variables", name))
            variables[name] = _dict(value)
        server["variables"] = variables
        servers[server_id] = server
        security[server_id] = _schemes(workspace, server.get("security"), at.child("security"))
    return servers, security


def _schemes(workspace: Workspace, requirements: Any, at: Location) -> dict[str, str]:
    """Security requirements: scheme name -> its definition, canonical, without words."""
    schemes: dict[str, str] = {}
    for index, requirement in enumerate(_list(requirements)):
        scheme, where = workspace.resolve(requirement, at.child(index))
        if where.pointer.startswith(_SECURITY_SCHEMES):
            token = where.pointer.removeprefix(_SECURITY_SCHEMES)
            name = token.replace("~1", "/").replace("~0", "~")
        else:  # written in place: named by its type, and its rank among those
            kind = _dict(scheme).get("type", "unknown")
            name = f"inline {kind}"
            rank = 2
            while name in schemes:
                name, rank = f"inline {kind} ({rank})", rank + 1
        schemes[name] = _canon(_wordless(scheme))
    return schemes


def _operation_security(workspace: Workspace, spec: Spec) -> dict[str, dict[str, str]]:
    """Operation id -> its own security requirements (none: the server's apply)."""
    found: dict[str, dict[str, str]] = {}
    for operation in spec.operations:
        raw, at = workspace.at(operation.location)
        found[operation.id] = _schemes(workspace, _dict(raw).get("security"), at.child("security"))
    return found


def _bindings(
    workspace: Workspace, spec: Spec
) -> tuple[dict[str, dict[str, Any]], dict[str, tuple[Any, Location]]]:
    """Each channel's bindings, and its WebSocket handshake schemas to bundle."""
    bindings: dict[str, dict[str, Any]] = {}
    schemas: dict[str, tuple[Any, Location]] = {}
    for channel in spec.channels:
        if channel.bindings is None:
            continue
        located = _protocols(workspace, channel.bindings, channel.location.child("bindings"))
        bindings[channel.id] = _unlocated(located)
        ws, where = located.get("ws", (None, channel.location))
        for part in _HANDSHAKE_PARTS:
            if isinstance(ws, dict) and part in ws:
                schemas[_handshake_key(channel.id, part)] = (ws[part], where.child(part))
    return bindings, schemas


def _protocols(workspace: Workspace, raw: Any, at: Location) -> dict[str, tuple[Any, Location]]:
    """A ``bindings`` object, resolved: protocol -> its binding and where it is written."""
    found, at = workspace.resolve(raw, at)
    return {
        protocol: workspace.resolve(binding, at.child(protocol))
        for protocol, binding in _dict(found).items()
    }


def _unlocated(located: dict[str, tuple[Any, Location]]) -> dict[str, Any]:
    return {protocol: binding for protocol, (binding, _) in located.items()}


def _other_bindings(
    workspace: Workspace, spec: Spec, servers: dict[str, dict[str, Any]]
) -> dict[str, dict[str, Any]]:
    """Bindings of servers, operations and messages: ``<kind>/<id>`` -> protocol -> binding."""
    found: dict[str, dict[str, Any]] = {}
    for server_id, server in servers.items():
        at = spec.source.child("servers", server_id, "bindings")
        found[_pointer("servers", server_id)] = _unlocated(
            _protocols(workspace, server.get("bindings"), at)
        )
    owners = [("operations", op.id, op.location) for op in spec.operations]
    owners += [("messages", message.id, message.location) for message in spec.messages]
    for kind, owner_id, location in owners:
        raw, at = workspace.at(location)
        own = _dict(raw)
        bindings: Any = None
        for index, trait_ref in enumerate(_list(own.get("traits"))):  # traits first, then its own
            trait, _ = workspace.resolve(trait_ref, at.child("traits", index))
            if "bindings" in _dict(trait):
                bindings = merge_patch(bindings, _dict(trait)["bindings"])
        if "bindings" in own:
            bindings = merge_patch(bindings, own["bindings"])
        found[_pointer(kind, owner_id)] = _unlocated(
            _protocols(workspace, bindings, at.child("bindings"))
        )
    return found


def _handshake_key(channel_id: str, part: str) -> str:
    return f"{channel_id} handshake {part}"


def _load(path: str | Path) -> _Side:
    workspace = Workspace.open(path)
    spec = build_spec(workspace)
    bindings, handshake = _bindings(workspace, spec)
    servers, security = _servers(workspace, spec)
    bundle = bundle_schemas(workspace, spec, handshake)
    writers: dict[str, set[str]] = {}
    tags: dict[str, tuple[str, Any]] = {}
    for direction, writer in ((Direction.RECEIVE, _CLIENT), (Direction.SEND, _SERVER)):
        ids = spec.messages_in(direction)
        for message_id in ids:
            writers.setdefault(message_id, set()).add(writer)
        tag = find_tag(bundle, [bundle.payloads[m] for m in ids])
        if tag is None:
            continue
        for message_id in ids:
            value = object_tags(bundle, bundle.payloads[message_id]).get(tag.property)
            if value is not None:
                tags[message_id] = (tag.property, value)
    frozen = {m: frozenset(w) for m, w in writers.items()}
    ordered = {m.id: frozen[m.id] for m in spec.messages if m.id in frozen}
    return _Side(
        Path(path),
        spec,
        bundle,
        ordered,
        tags,
        servers,
        security,
        bindings,
        _operation_security(workspace, spec),
        _other_bindings(workspace, spec, servers),
    )


def _pointer(*tokens: str) -> str:
    return pointer_join("", *tokens).removeprefix("/")
