"""What a generated client SDK needs to know about a document, whatever the language.

Derived from the IR alone:

- **requests**: every ``receive`` operation with a ``reply`` (the client sends the
  operation's message and waits for a reply correlated by the message's
  ``correlationId``), and every ``receive`` operation without one (send only);
- **pushes**: what the server may send on its own (its ``send`` operations);
- **errors**: reply messages marked ``x-specwire-error: true``; a request whose
  reply is one of them raises instead of returning.

Optional hints, as ``x-specwire-*`` extensions on operations (documented in
``docs/reference/spec-extensions.md``), let the client do more for a document
that has them:

- ``x-specwire-role``: ``subscribe``, ``unsubscribe``, ``heartbeat`` or ``auth``.
  A heartbeat request is sent on a timer and its reply awaited, to detect a dead
  connection; subscriptions are remembered and made again after a reconnect.
- ``x-specwire-resume`` (on the subscribe operation): how positions work, so that
  a resubscription resumes where the client left off::

      x-specwire-resume:
        channels: [topics, groups, cluster]   # the channels that can resume
        list: channels      # request field: the array of channel subscriptions
        name: name          # in each subscription: the channel's name
        since: since        # in each subscription: where {epoch, seq} goes
        replyList: channels # reply field: one entry per channel
        recovered: recovered  # in each reply entry: whether history was recovered
        channel: channel    # pushed messages: their channel, epoch and seq fields
        epoch: epoch
        seq: seq

- ``x-specwire-interval-ms`` on a ``send`` operation: the cadence at which the
  server sends it (used by the contract suite, shown in docs).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from specwire.codegen.ir import Direction, Operation, Spec

__all__ = ["ClientModel", "Request", "Resume", "client_model", "snake"]

ROLES = frozenset({"subscribe", "unsubscribe", "heartbeat", "auth"})


@dataclass(frozen=True)
class Request:
    """One operation the client can call."""

    operation: str
    """The operation's id in the document."""
    method: str
    """The method name (snake_case of the operation id; camelCase in TypeScript)."""
    message: str
    """The id of the message the client sends."""
    replies: tuple[str, ...]
    """Ids of the reply messages that are answers (empty: nothing is awaited)."""
    errors: tuple[str, ...]
    """Ids of the reply messages that are errors (the call raises)."""
    correlation: str | None
    """The payload property both the request and its reply carry (``id``), if any."""
    role: str | None
    title: str | None
    summary: str | None
    description: str | None


@dataclass(frozen=True)
class Resume:
    """How subscriptions resume (``x-specwire-resume``)."""

    channels: tuple[str, ...]
    list: str
    name: str
    since: str
    reply_list: str
    recovered: str
    channel: str
    epoch: str
    seq: str


@dataclass(frozen=True)
class ClientModel:
    title: str
    version: str
    description: str | None
    tag: str | None
    """The property every server message is told apart by (``type``), if one is."""
    requests: tuple[Request, ...]
    pushes: tuple[str, ...]
    """Ids of the messages the server sends on its own, in document order."""
    server_messages: tuple[str, ...]
    """Ids of every message the server may send (pushes and replies)."""
    client_messages: tuple[str, ...]
    errors: tuple[str, ...]
    resume: Resume | None
    intervals: dict[str, int]
    """Message id -> the cadence in ms at which the server sends it (``x-specwire-interval-ms``)."""

    def role(self, role: str) -> Request | None:
        return next((r for r in self.requests if r.role == role), None)


def snake(name: str) -> str:
    """``sendMetricsSnapshot`` -> ``send_metrics_snapshot``; ``get-items`` -> ``get_items``."""
    text = re.sub(r"[^0-9A-Za-z]+", "_", name)
    text = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", text)
    text = re.sub(r"_+", "_", text).strip("_").lower()
    if not text or text[0].isdigit():
        text = "op_" + text
    return text


def _extensions(operation: Operation) -> dict[str, Any]:
    return dict(operation.extensions)


def _correlation(spec: Spec, message_ids: tuple[str, ...]) -> str | None:
    """The payload property named by the messages' ``correlationId`` (``$message.payload#/id``)."""
    for message_id in message_ids:
        correlation = spec.message(message_id).correlation_id
        if correlation is None:
            continue
        match = re.fullmatch(r"\$message\.payload#/([^/]+)", correlation.location)
        if match:
            return match.group(1).replace("~1", "/").replace("~0", "~")
    return None


def client_model(spec: Spec, tag: str | None) -> ClientModel:
    """The client's view of ``spec``."""
    error_ids = frozenset(
        m.id for m in spec.messages if dict(m.extensions).get("x-specwire-error") is True
    )
    requests: list[Request] = []
    intervals: dict[str, int] = {}
    resume: Resume | None = None
    for operation in spec.operations:
        extensions = _extensions(operation)
        if operation.action is Direction.SEND:
            interval = extensions.get("x-specwire-interval-ms")
            if isinstance(interval, int) and interval > 0:
                for message_id in operation.messages:
                    intervals[message_id] = interval
            continue
        role = extensions.get("x-specwire-role")
        role = role if isinstance(role, str) and role in ROLES else None
        replies = operation.reply.messages if operation.reply is not None else ()
        for message_id in operation.messages:
            requests.append(
                Request(
                    operation=operation.id,
                    method=snake(operation.id)
                    if len(operation.messages) == 1
                    else snake(f"{operation.id}_{message_id}"),
                    message=message_id,
                    replies=tuple(r for r in replies if r not in error_ids),
                    errors=tuple(r for r in replies if r in error_ids),
                    correlation=_correlation(spec, (message_id, *replies)),
                    role=role,
                    title=operation.title,
                    summary=operation.summary,
                    description=operation.description,
                )
            )
        hint = extensions.get("x-specwire-resume")
        if role == "subscribe" and isinstance(hint, dict):
            resume = Resume(
                channels=tuple(str(c) for c in hint.get("channels", ())),
                list=str(hint.get("list", "channels")),
                name=str(hint.get("name", "name")),
                since=str(hint.get("since", "since")),
                reply_list=str(hint.get("replyList", "channels")),
                recovered=str(hint.get("recovered", "recovered")),
                channel=str(hint.get("channel", "channel")),
                epoch=str(hint.get("epoch", "epoch")),
                seq=str(hint.get("seq", "seq")),
            )
    pushes = tuple(
        dict.fromkeys(
            message_id
            for operation in spec.operations
            if operation.action is Direction.SEND
            for message_id in operation.messages
        )
    )
    return ClientModel(
        title=spec.title,
        version=spec.version,
        description=spec.description,
        tag=tag,
        requests=tuple(requests),
        pushes=pushes,
        server_messages=spec.messages_in(Direction.SEND),
        client_messages=spec.messages_in(Direction.RECEIVE),
        errors=tuple(sorted(error_ids)),
        resume=resume,
        intervals=intervals,
    )
