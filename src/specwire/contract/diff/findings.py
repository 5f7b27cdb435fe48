"""The findings of ``specwire diff``: rule ids, severities, who a change breaks, the report."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

FORMAT = "specwire-diff/1"
"""The ``format`` field of the JSON report; changes only when its shape does."""

Severity = Literal["breaking", "warning", "non-breaking", "info"]
Party = Literal["clients", "servers", "both", "none"]

SEVERITIES: tuple[Severity, ...] = ("breaking", "warning", "non-breaking", "info")

RULES: dict[str, str] = {
    # documents
    "message-removed": "a message no longer travels in one direction",
    "message-added": "a message starts travelling in one direction",
    "message-renamed": "a message keeps its tag and direction under a new id",
    "tag-changed": "the value of the property that tells messages apart changed",
    "payload-opaque": "a payload is, or is no longer, in a schema language other than JSON Schema",
    "opaque-payload-changed": "a payload in a schema language other than JSON Schema changed; "
    "it is not compared",
    "operation-removed": "an operation is gone",
    "operation-added": "a new operation",
    "operation-action-changed": "an operation changed from send to receive or back",
    "operation-channel-changed": "an operation moved to a channel at another address",
    "reply-added": "an operation gained a reply",
    "reply-removed": "an operation lost its reply",
    "reply-message-added": "a reply may be a new message",
    "reply-message-removed": "a reply can no longer be a message",
    "reply-channel-changed": "a reply moved to a channel at another address",
    "channel-removed": "a channel (and its address) is gone",
    "channel-added": "a new channel",
    "channel-address-changed": "a channel's address changed",
    # servers and the handshake
    "server-removed": "a server is gone",
    "server-added": "a new server",
    "server-url-changed": "a server's protocol, host or path changed",
    "server-protocol-version-changed": "a server's protocol version changed (warning)",
    "server-variable-value-removed": "a variable of a server's URL no longer accepts a value",
    "server-variable-value-added": "a variable of a server's URL accepts a new value",
    "server-variable-default-changed": "a variable of a server's URL has another default",
    "security-required": "a server that let clients in without credentials now wants them",
    "security-dropped": "a server no longer wants credentials",
    "security-scheme-removed": "a server no longer accepts a way to authenticate",
    "security-scheme-added": "a server accepts another way to authenticate",
    "security-scheme-changed": "a way to authenticate works differently (a name, a place, scopes)",
    "binding-method-changed": "the HTTP method of a WebSocket handshake changed",
    "binding-changed": "a channel binding changed in a way that is not judged (warning)",
    # schemas
    "required-property-removed": "a required property is gone",
    "optional-property-removed": "an optional property is gone",
    "required-property-added": "a new required property",
    "optional-property-added": "a new optional property",
    "property-became-required": "an optional property became required",
    "property-became-optional": "a required property became optional",
    "type-narrowed": "a schema accepts fewer JSON types",
    "type-widened": "a schema accepts more JSON types",
    "type-changed": "a schema accepts other JSON types",
    "enum-value-added": "an enum accepts a new value",
    "enum-value-removed": "an enum lost a value",
    "enum-added": "a schema is restricted to an enum",
    "enum-removed": "a schema is no longer restricted to an enum",
    "const-changed": "a const has another value",
    "const-added": "a schema is restricted to one value",
    "const-removed": "a schema is no longer restricted to one value",
    "constraint-tightened": "a bound, pattern or other assertion accepts less",
    "constraint-loosened": "a bound, pattern or other assertion accepts more",
    "pattern-changed": "a pattern was replaced by another",
    "additional-properties-forbidden": "an object no longer accepts unknown properties",
    "additional-properties-allowed": "an object now accepts unknown properties",
    "variant-added": "a oneOf/anyOf has a new member",
    "variant-removed": "a oneOf/anyOf lost a member",
    "format-changed": "a string format changed (warning: validators may check formats)",
    "schema-keyword-changed": "a keyword whose effect cannot be judged changed (warning)",
    "default-changed": "a default value changed",
    "deprecated": "a schema was marked deprecated",
}
"""Every rule id, with what it means. Ids are stable: tools may match on them."""

# -- findings and the report -----------------------------------------------------------


@dataclass(frozen=True)
class Finding:
    """One difference, judged."""

    rule: str
    severity: Severity
    breaks: Party
    location: str
    """``messages/<id>/payload/<property>/...`` (``*`` for array items and map values),
    ``operations/<id>/...`` or ``channels/<id>``; JSON Pointer escaping in names."""
    text: str

    def to_json(self) -> dict[str, str]:
        return {
            "rule": self.rule,
            "severity": self.severity,
            "breaks": self.breaks,
            "location": self.location,
            "text": self.text,
        }

    def render(self) -> str:
        who = f" ({self.breaks})" if self.breaks != "none" else ""
        return f"{self.severity}{who} {self.location}: {self.text} [{self.rule}]"


@dataclass(frozen=True)
class DiffReport:
    old: str
    new: str
    findings: tuple[Finding, ...]
    """Breaking first, then warnings, non-breaking changes and information."""

    @property
    def breaking(self) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if f.severity == "breaking")

    def count(self, severity: Severity) -> int:
        return sum(1 for f in self.findings if f.severity == severity)

    def to_json(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "old": self.old,
            "new": self.new,
            "summary": {severity: self.count(severity) for severity in SEVERITIES},
            "findings": [f.to_json() for f in self.findings],
        }

    def summary(self) -> str:
        counts = ", ".join(f"{self.count(s)} {s}" for s in SEVERITIES)
        return f"{self.old} -> {self.new}: {counts}"

    def render(self) -> str:
        return "".join(f.render() + "\n" for f in self.findings)


# -- who a change breaks ---------------------------------------------------------------

_WRITER = "writer"
"""Old writers may write what new readers reject."""
_READER = "reader"
"""New writers write what old readers reject, whatever they choose."""
_OPT_IN = "opt-in"
"""New writers may write what old readers reject, when they use the new latitude."""

_SERVER, _CLIENT = "server", "client"


def _parties(effects: frozenset[str], writers: frozenset[str]) -> set[str]:
    found: set[str] = set()
    for writer in writers:
        writer_party, reader_party = (
            ("servers", "clients") if writer == _SERVER else ("clients", "servers")
        )
        if _WRITER in effects:
            found.add(writer_party)
        if _READER in effects or (_OPT_IN in effects and writer == _SERVER):
            found.add(reader_party)
    return found


def _consequences(effects: frozenset[str], writers: frozenset[str]) -> list[str]:
    said: list[str] = []
    for writer in sorted(writers, reverse=True):
        if _WRITER in effects:
            said.append(
                "servers on the old document may send what new clients reject"
                if writer == _SERVER
                else "old clients may send what the new server refuses"
            )
        if _READER in effects:
            said.append(
                "old clients reject what the new server sends"
                if writer == _SERVER
                else "old servers refuse what new clients send"
            )
        elif _OPT_IN in effects:
            said.append(
                "old clients may receive what they reject"
                if writer == _SERVER
                else "new clients can use it only with servers on the new document"
            )
    return said


def _who(parties: set[str]) -> Party:
    if parties >= {"clients", "servers"}:
        return "both"
    if "clients" in parties:
        return "clients"
    if "servers" in parties:
        return "servers"
    return "none"


@dataclass(frozen=True)
class _Change:
    """A schema difference, before it is known who writes the message."""

    rule: str
    path: tuple[str, ...]
    what: str
    effects: frozenset[str]
    severity: Severity | None = None
    """Set for warnings and information, whose severity does not depend on parties."""
