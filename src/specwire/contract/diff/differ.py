"""The document differ: messages, operations, replies and channels, then the handshake."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from specwire.codegen.ir import Direction, Reply
from specwire.codegen.loader import pointer_join
from specwire.contract.diff.documents import _load, _pointer, _Side
from specwire.contract.diff.findings import (
    _CLIENT,
    _SERVER,
    SEVERITIES,
    DiffReport,
    Finding,
    Severity,
    _consequences,
    _parties,
    _who,
)
from specwire.contract.diff.handshake import _HandshakeDiffer
from specwire.contract.diff.schemas import _canon, _SchemaDiff, _show


class _Differ(_HandshakeDiffer):
    def __init__(self, old: _Side, new: _Side) -> None:
        self.old = old
        self.new = new
        self.schemas = _SchemaDiff(old.bundle, new.bundle)
        self.findings: list[Finding] = []

    def add(
        self,
        rule: str,
        location: str,
        text: str,
        breaks: set[str],
        severity: Severity | None = None,
    ) -> None:
        who = _who(breaks)
        judged: Severity = severity or ("breaking" if who != "none" else "non-breaking")
        self.findings.append(Finding(rule, judged, who, location, text))

    # -- messages ------------------------------------------------------------------------

    def messages(self) -> None:
        old, new = self.old.writers, self.new.writers
        renamed: dict[str, str] = {}
        for writer in (_CLIENT, _SERVER):
            gone = [m for m, w in old.items() if writer in w and writer not in new.get(m, ())]
            came = [m for m, w in new.items() if writer in w and writer not in old.get(m, ())]
            for message_id in gone:
                tag = self.old.tags.get(message_id)
                twin = next(
                    (
                        m
                        for m in came
                        if tag is not None
                        and _canon(self.new.tags.get(m)) == _canon(tag)
                        and m not in old
                        and message_id not in new
                    ),
                    None,
                )
                if twin is not None and tag is not None:
                    came.remove(twin)
                    renamed[message_id] = twin
                    self.add(
                        "message-renamed",
                        _pointer("messages", message_id),
                        f"message `{message_id}` is now `{twin}` (same tag "
                        f"{tag[0]}={_show(tag[1])}, nothing changes on the wire; "
                        "generated names do)",
                        set(),
                        "info",
                    )
                    continue
                label = _tagged(message_id, tag)
                if writer == _SERVER:
                    text = (
                        f"the server no longer sends {label}: clients that handle it "
                        "stop getting it"
                    )
                else:
                    text = (
                        f"the server no longer receives {label}: old clients sending it are refused"
                    )
                self.add("message-removed", _pointer("messages", message_id), text, {"clients"})
            for message_id in came:
                label = _tagged(message_id, self.new.tags.get(message_id))
                if writer == _SERVER:
                    text = (
                        f"the server may send {label}: clients must ignore unknown message "
                        "types (the generated Python client drops them)"
                    )
                else:
                    text = (
                        f"the server receives {label}: new clients can send it only to "
                        "servers on the new document"
                    )
                self.add("message-added", _pointer("messages", message_id), text, set())
        for message_id, writers in old.items():
            twin = renamed.get(message_id, message_id)
            common = writers & new.get(twin, frozenset())
            if common:
                self.message(message_id, twin, common)

    def message(self, old_id: str, new_id: str, writers: frozenset[str]) -> None:
        base = _pointer("messages", new_id)
        old_tag, new_tag = self.old.tags.get(old_id), self.new.tags.get(new_id)
        skip: set[tuple[str, ...]] = set()
        if old_tag is not None and new_tag is not None and _canon(old_tag) != _canon(new_tag):
            self.add(
                "tag-changed",
                base,
                f"`{new_id}` is now tagged {new_tag[0]}={_show(new_tag[1])} instead of "
                f"{old_tag[0]}={_show(old_tag[1])}: the other side no longer recognises it",
                {"clients", "servers"},
            )
            skip = {(old_tag[0],), (new_tag[0],)}
        old_message, new_message = self.old.spec.message(old_id), self.new.spec.message(new_id)
        if bool(old_message.schema_format) != bool(new_message.schema_format) or (
            old_message.schema_format != new_message.schema_format
        ):
            self.add(
                "payload-opaque",
                base + "/payload",
                f"the payload schema format of `{new_id}` changed from "
                f"{old_message.schema_format or 'JSON Schema'} to "
                f"{new_message.schema_format or 'JSON Schema'}",
                {"clients", "servers"},
            )
            return
        if new_message.schema_format and _canon(old_message.payload) != _canon(new_message.payload):
            self.add(
                "opaque-payload-changed",
                base + "/payload",
                f"the {new_message.schema_format} payload schema of `{new_id}` changed; it is "
                "not JSON Schema, so what the change breaks is not judged: review it by hand",
                {"clients", "servers"},
                "warning",
            )
        parts = [("payload", self.old.bundle.payloads, self.new.bundle.payloads)]
        parts.append(("headers", self.old.bundle.headers, self.new.bundle.headers))
        for part, old_defs, new_defs in parts:
            if old_id not in old_defs and new_id not in new_defs:
                continue
            old_schema = {"$ref": "#/definitions/" + old_defs[old_id]} if old_id in old_defs else {}
            new_schema = {"$ref": "#/definitions/" + new_defs[new_id]} if new_id in new_defs else {}
            for change in self.schemas.compare(old_schema, new_schema):
                if change.path in skip and change.rule == "const-changed":
                    continue
                location = base + "/" + part + pointer_join("", *change.path)
                said = _consequences(change.effects, writers)
                text = f"`{new_id}`: {change.what}" + (f"; {'; '.join(said)}" if said else "")
                breaks = _parties(change.effects, writers)
                self.add(change.rule, location, text, breaks, change.severity)

    # -- operations and channels -------------------------------------------------------------

    def operations(self) -> None:
        old_ops = {op.id: op for op in self.old.spec.operations}
        new_ops = {op.id: op for op in self.new.spec.operations}
        for op_id, op in old_ops.items():
            base = _pointer("operations", op_id)
            if op_id not in new_ops:
                what = "requests" if op.action is Direction.RECEIVE else "messages"
                self.add(
                    "operation-removed",
                    base,
                    f"operation `{op_id}` ({op.action.value}) removed: clients built on it "
                    f"lose its {what}",
                    {"clients"},
                )
                continue
            now = new_ops[op_id]
            if now.action is not op.action:
                self.add(
                    "operation-action-changed",
                    base + "/action",
                    f"operation `{op_id}` changed from {op.action.value} to {now.action.value}",
                    {"clients", "servers"},
                )
                continue
            old_address, new_address = self.old.address(op.channel), self.new.address(now.channel)
            if old_address != new_address and op.channel != now.channel:
                # (a channel whose own address changed is one channel-address-changed)
                self.add(
                    "operation-channel-changed",
                    base + "/channel",
                    f"operation `{op_id}` moved from address {_show(old_address)} to "
                    f"{_show(new_address)}",
                    {"clients", "servers"},
                )
            self.reply(op_id, op.action, op.reply, now.reply)
            self.security(
                base + "/security",
                f"operation `{op_id}`",
                "use it",
                self.old.operation_security[op_id],
                self.new.operation_security[op_id],
            )
        for op_id, op in new_ops.items():
            if op_id not in old_ops:
                self.add(
                    "operation-added",
                    _pointer("operations", op_id),
                    f"new operation `{op_id}` ({op.action.value})",
                    set(),
                )

    def reply(self, op_id: str, action: Direction, old: Reply | None, new: Reply | None) -> None:
        base = _pointer("operations", op_id, "reply")
        answers = action is Direction.RECEIVE  # the server answers a client's request
        if old is None and new is None:
            return
        if old is None:
            if answers:
                self.add(
                    "reply-added",
                    base,
                    f"`{op_id}` now gets a reply from the server; clients that do not wait "
                    "for it must ignore it",
                    set(),
                )
            else:
                self.add(
                    "reply-added",
                    base,
                    f"the server now expects clients to reply to `{op_id}`; old clients do not",
                    {"clients"},
                )
            return
        if new is None:
            self.add(
                "reply-removed",
                base,
                f"`{op_id}` no longer gets a reply; old clients wait for one in vain"
                if answers
                else f"the server no longer expects a reply to `{op_id}`; old clients send one",
                {"clients"},
            )
            return
        old_address, new_address = self.old.address(old.channel), self.new.address(new.channel)
        if old_address != new_address and old.channel != new.channel:
            self.add(
                "reply-channel-changed",
                base + "/channel",
                f"the reply to `{op_id}` moved from address {_show(old_address)} to "
                f"{_show(new_address)}",
                {"clients", "servers"},
            )
        for message_id in new.messages:
            if message_id not in old.messages:
                self.add(
                    "reply-message-added",
                    base + "/messages/" + _pointer(message_id),
                    f"the server may answer `{op_id}` with `{message_id}`, which old clients do "
                    "not expect as its reply"
                    if answers
                    else f"clients may reply to `{op_id}` with `{message_id}`; new clients can "
                    "only with servers on the new document",
                    {"clients"} if answers else set(),
                )
        for message_id in old.messages:
            if message_id not in new.messages:
                self.add(
                    "reply-message-removed",
                    base + "/messages/" + _pointer(message_id),
                    f"the server no longer answers `{op_id}` with `{message_id}`: clients that "
                    "wait for it stop getting it"
                    if answers
                    else f"the server no longer accepts `{message_id}` as a reply to `{op_id}`: "
                    "old clients sending it are refused",
                    {"clients"},
                )

    def channels(self) -> None:
        old_channels = {c.id: c for c in self.old.spec.channels}
        new_channels = {c.id: c for c in self.new.spec.channels}
        new_addresses = {self.new.address(c) for c in new_channels}
        for channel_id in old_channels:
            base = _pointer("channels", channel_id)
            old_address = self.old.address(channel_id)
            if channel_id not in new_channels:
                if old_address in new_addresses:
                    self.add(
                        "channel-removed",
                        base,
                        f"channel `{channel_id}` removed; its address {_show(old_address)} is "
                        "still served by another channel",
                        set(),
                        "info",
                    )
                else:
                    self.add(
                        "channel-removed",
                        base,
                        f"channel `{channel_id}` and its address {_show(old_address)} removed",
                        {"clients"},
                    )
                continue
            new_address = self.new.address(channel_id)
            if old_address != new_address:
                self.add(
                    "channel-address-changed",
                    base + "/address",
                    f"channel `{channel_id}` moved from {_show(old_address)} to "
                    f"{_show(new_address)}",
                    {"clients", "servers"},
                )
        for channel_id in new_channels:
            if channel_id not in old_channels:
                self.add(
                    "channel-added",
                    _pointer("channels", channel_id),
                    f"new channel `{channel_id}` at {_show(self.new.address(channel_id))}",
                    set(),
                )

    # -- servers and the handshake -------------------------------------------------------------


def _tagged(message_id: str, tag: tuple[str, Any] | None) -> str:
    return f"`{message_id}`" + (f" ({tag[0]}={_show(tag[1])})" if tag is not None else "")


def diff_documents(old: str | Path, new: str | Path) -> DiffReport:
    """Compare two AsyncAPI 3 documents; raises :class:`DocumentError` when one is unreadable."""
    differ = _Differ(_load(old), _load(new))
    differ.servers()
    differ.channels()
    differ.handshake()
    differ.other_bindings()
    differ.operations()
    differ.messages()
    rank = {severity: index for index, severity in enumerate(SEVERITIES)}
    findings = sorted(differ.findings, key=lambda f: rank[f.severity])
    return DiffReport(str(old), str(new), tuple(findings))
