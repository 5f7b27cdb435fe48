"""Servers, security requirements and bindings: what a client meets before its first frame."""

from __future__ import annotations

from typing import Any

from specwire.codegen.loader import pointer_join
from specwire.contract.diff.documents import _HANDSHAKE_PARTS, _handshake_key, _pointer, _Side
from specwire.contract.diff.findings import _CLIENT, Severity, _consequences, _parties
from specwire.contract.diff.schemas import _canon, _dict, _list, _SchemaDiff, _show


class _HandshakeDiffer:
    """The comparisons of servers, security and bindings, mixed into the document differ."""

    old: _Side
    new: _Side
    schemas: _SchemaDiff

    def add(
        self,
        rule: str,
        location: str,
        text: str,
        breaks: set[str],
        severity: Severity | None = None,
    ) -> None:
        """Record a finding (the differ's own ``add``)."""
        raise NotImplementedError

    def servers(self) -> None:
        old_servers, new_servers = self.old.servers, self.new.servers
        new_urls = {_url(server) for server in new_servers.values()}
        for server_id, server in old_servers.items():
            base = _pointer("servers", server_id)
            url = _url(server)
            if server_id not in new_servers:
                if url in new_urls:
                    self.add(
                        "server-removed",
                        base,
                        f"server `{server_id}` removed; its URL {_show(url)} is still "
                        "described by another server",
                        set(),
                        "info",
                    )
                else:
                    self.add(
                        "server-removed",
                        base,
                        f"server `{server_id}` ({_show(url)}) removed: clients that connect "
                        "to it lose it",
                        {"clients"},
                    )
                continue
            now = new_servers[server_id]
            if _url(now) != url:
                self.add(
                    "server-url-changed",
                    base,
                    f"server `{server_id}` moved from {_show(url)} to {_show(_url(now))}: "
                    "clients that connect to the old URL do not reach the new server",
                    {"clients", "servers"},
                )
            if server.get("protocolVersion") != now.get("protocolVersion"):
                self.add(
                    "server-protocol-version-changed",
                    base + "/protocolVersion",
                    f"server `{server_id}` changed protocol version from "
                    f"{_show(server.get('protocolVersion'))} to "
                    f"{_show(now.get('protocolVersion'))}",
                    set(),
                    "warning",
                )
            self.variables(server_id, server["variables"], now["variables"])
            self.security(
                base + "/security",
                f"server `{server_id}`",
                "connect",
                self.old.security[server_id],
                self.new.security[server_id],
            )
        for server_id, server in new_servers.items():
            if server_id not in old_servers:
                self.add(
                    "server-added",
                    _pointer("servers", server_id),
                    f"new server `{server_id}` at {_show(_url(server))}",
                    set(),
                )

    def variables(self, server_id: str, old: dict[str, Any], new: dict[str, Any]) -> None:
        for name in old.keys() & new.keys():
            base = _pointer("servers", server_id, "variables", name)
            before, after = _list(old[name].get("enum")), _list(new[name].get("enum"))
            if before and after:
                for value in before:
                    if value not in after:
                        self.add(
                            "server-variable-value-removed",
                            base + "/enum",
                            f"`{{{name}}}` of server `{server_id}` no longer accepts "
                            f"{_show(value)}: clients configured with it cannot connect",
                            {"clients"},
                        )
                for value in after:
                    if value not in before:
                        self.add(
                            "server-variable-value-added",
                            base + "/enum",
                            f"`{{{name}}}` of server `{server_id}` accepts {_show(value)}",
                            set(),
                        )
            if old[name].get("default") != new[name].get("default"):
                self.add(
                    "server-variable-default-changed",
                    base + "/default",
                    f"`{{{name}}}` of server `{server_id}` defaults to "
                    f"{_show(new[name].get('default'))} instead of "
                    f"{_show(old[name].get('default'))}: clients that take the default "
                    "connect elsewhere",
                    set(),
                    "warning",
                )

    def security(
        self, base: str, owner: str, doing: str, old: dict[str, str], new: dict[str, str]
    ) -> None:
        """Compare two lists of alternative security requirements (``owner``: who wants them)."""
        if not old and not new:
            return
        if not old:
            self.add(
                "security-required",
                base,
                f"{owner} now wants credentials ({_names(new)}): old clients that {doing} "
                "without them are refused",
                {"clients"},
            )
            return
        if not new:
            self.add(
                "security-dropped",
                base,
                f"{owner} no longer wants credentials; clients that send them "
                f"({_names(old)}) are let in too",
                set(),
            )
            return
        for name, definition in old.items():
            if name not in new:
                self.add(
                    "security-scheme-removed",
                    base,
                    f"{owner} no longer accepts `{name}`: old clients that authenticate with "
                    f"it are refused ({_names(new)} still accepted)",
                    {"clients"},
                )
            elif new[name] != definition:
                self.add(
                    "security-scheme-changed",
                    base,
                    f"`{name}` for {owner} changed from {definition} to {new[name]}: old "
                    "clients present credentials the new server does not take, and new "
                    "clients the old server does not",
                    {"clients", "servers"},
                )
        for name in new:
            if name not in old:
                self.add(
                    "security-scheme-added",
                    base,
                    f"{owner} also accepts `{name}`; new clients can use it only with servers "
                    "on the new document",
                    set(),
                )

    def handshake(self) -> None:
        """Compare the bindings of the channels both documents have."""
        kept = {c.id for c in self.old.spec.channels}
        for channel_id in (c.id for c in self.new.spec.channels if c.id in kept):
            before = self.old.bindings.get(channel_id, {})
            after = self.new.bindings.get(channel_id, {})
            base = _pointer("channels", channel_id, "bindings")
            for protocol in dict.fromkeys([*before, *after]):
                old_binding, new_binding = before.get(protocol), after.get(protocol)
                if protocol == "ws":
                    self.ws_binding(channel_id, _dict(old_binding), _dict(new_binding))
                    continue
                if _canon(_unversioned(old_binding)) != _canon(_unversioned(new_binding)):
                    self.add(
                        "binding-changed",
                        base + "/" + _pointer(protocol),
                        f"the {protocol} binding of channel `{channel_id}` changed; it is not "
                        "judged: review it by hand",
                        set(),
                        "warning",
                    )

    def other_bindings(self) -> None:
        """Bindings of servers, operations and messages both documents have, as written."""
        after = self.new.other_bindings
        for owner, before in self.old.other_bindings.items():
            if owner not in after:
                continue
            now = after[owner]
            for protocol in dict.fromkeys([*before, *now]):
                old_binding, new_binding = before.get(protocol), now.get(protocol)
                if _canon(_unversioned(old_binding)) != _canon(_unversioned(new_binding)):
                    kind, _, token = owner.partition("/")
                    what, name = kind.removesuffix("s"), token.replace("~1", "/").replace("~0", "~")
                    self.add(
                        "binding-changed",
                        owner + "/bindings/" + _pointer(protocol),
                        f"the {protocol} binding of {what} `{name}` changed; it is not judged: "
                        "review it by hand",
                        set(),
                        "warning",
                    )

    def ws_binding(self, channel_id: str, old: dict[str, Any], new: dict[str, Any]) -> None:
        base = _pointer("channels", channel_id, "bindings", "ws")
        old_method, new_method = old.get("method", "GET"), new.get("method", "GET")
        if old_method != new_method:
            self.add(
                "binding-method-changed",
                base + "/method",
                f"the handshake of channel `{channel_id}` is now a {new_method} request "
                f"instead of {old_method}",
                {"clients", "servers"},
            )
        for part in _HANDSHAKE_PARTS:
            key = _handshake_key(channel_id, part)
            old_schema = _handshake_schema(self.old.bundle.extras.get(key))
            new_schema = _handshake_schema(self.new.bundle.extras.get(key))
            for change in self.schemas.compare(old_schema, new_schema):
                said = _consequences(change.effects, _CLIENTS_WRITE)
                what = "query string" if part == "query" else "headers"
                text = f"the handshake's {what} on channel `{channel_id}`: {change.what}" + (
                    f"; {'; '.join(said)}" if said else ""
                )
                location = base + "/" + part + pointer_join("", *change.path)
                self.add(
                    change.rule,
                    location,
                    text,
                    _parties(change.effects, _CLIENTS_WRITE),
                    change.severity,
                )
        rest = ("method", "bindingVersion", *_HANDSHAKE_PARTS)
        old_rest = {k: v for k, v in old.items() if k not in rest}
        new_rest = {k: v for k, v in new.items() if k not in rest}
        if _canon(old_rest) != _canon(new_rest):
            self.add(
                "binding-changed",
                base,
                f"the ws binding of channel `{channel_id}` changed outside method, query "
                "and headers; it is not judged: review it by hand",
                set(),
                "warning",
            )


_CLIENTS_WRITE = frozenset({_CLIENT})


def _url(server: dict[str, Any]) -> str:
    protocol = server.get("protocol", "")
    return f"{protocol}://{server.get('host', '')}{server.get('pathname', '')}"


def _names(schemes: dict[str, str]) -> str:
    return ", ".join(f"`{name}`" for name in schemes)


def _unversioned(binding: Any) -> Any:
    if isinstance(binding, dict):
        return {k: v for k, v in binding.items() if k != "bindingVersion"}
    return binding


def _handshake_schema(definition: str | None) -> dict[str, Any]:
    if definition is None:
        return {"type": "object"}
    return {"$ref": "#/definitions/" + definition}
