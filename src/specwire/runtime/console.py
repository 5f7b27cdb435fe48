"""The console live-updates protocol on the hub: channels, ``welcome`` and the four requests.

Channel ``live`` of ``asyncapi.yaml``: ``subscribe`` -> ``subscribed`` (then any
replay), ``unsubscribe`` -> ``unsubscribed``, ``ping`` -> ``pong``, ``auth`` ->
``authenticated``; whatever is refused gets the spec's ``error`` with the request's
``id``. Filters narrow ``metrics.snapshot`` lists and skip ``topic.*``/``group.*``
events that do not match.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, cast

from console_live_updates import (
    SPEC_VERSION,
    Auth,
    Authenticated,
    ChannelInfo,
    ChannelSubscription,
    Error,
    Limits,
    MetricsSnapshot,
    Ping,
    Pong,
    StreamPosition,
    Subscribe,
    Subscribed,
    SubscribedChannel,
    SubscriptionFilter,
    Unsubscribe,
    Unsubscribed,
    Welcome,
)
from pydantic import BaseModel

from specwire.protocol.console import console_binding
from specwire.runtime.auth import InvalidToken, Principal, TokenVerifier
from specwire.runtime.hub import (
    ChannelKind,
    ChannelSpec,
    Client,
    Hub,
    HubConfig,
    glob_match,
    glob_matcher,
)
from specwire.runtime.metrics import HubMetrics

__all__ = [
    "SNAPSHOT_INTERVAL_MS",
    "console_channels",
    "create_console_hub",
    "refine_event",
    "refine_snapshot",
]

SNAPSHOT_INTERVAL_MS = 2000


def refine_snapshot(message: BaseModel, filter_: Any) -> BaseModel | None:
    """A snapshot with only the topics and groups the filter names (cluster-wide figures stay)."""
    message = cast(MetricsSnapshot, message)
    filter_ = cast(SubscriptionFilter, filter_)
    topics, groups = message.topics, message.groups
    topic_patterns, group_patterns = _patterns(filter_.topics), _patterns(filter_.groups)
    if topic_patterns is not None:  # an absent list keeps everything
        keep = glob_matcher(tuple(topic_patterns))
        topics = [t for t in topics if keep(t.name)]
    if group_patterns is not None:
        keep = glob_matcher(tuple(group_patterns))
        groups = [g for g in groups if keep(g.group_id)]
    return message.model_copy(update={"topics": topics, "groups": groups})


def refine_event(message: BaseModel, filter_: Any) -> BaseModel | None:
    """The event itself if its topic or group matches the filter, else nothing."""
    filter_ = cast(SubscriptionFilter, filter_)
    topic = getattr(message, "topic", None)
    name = getattr(topic, "name", None) or getattr(message, "name", None)
    if isinstance(name, str):
        return message if glob_match(name, _patterns(filter_.topics)) else None
    group = getattr(message, "group_id", None)
    if isinstance(group, str):
        return message if glob_match(group, _patterns(filter_.groups)) else None
    return message


def _patterns(value: object) -> list[str] | None:
    return value if isinstance(value, list) else None


def console_channels(
    *, history: int = 1000, history_age_ms: int = 300_000, snapshots: int = 60
) -> list[ChannelSpec]:
    return [
        ChannelSpec(
            "metrics", ChannelKind.SNAPSHOT, "metrics:read", snapshots, refine=refine_snapshot
        ),
        ChannelSpec(
            "topics",
            ChannelKind.EVENTS,
            "topics:read",
            history,
            history_age_ms,
            refine=refine_event,
        ),
        ChannelSpec(
            "groups",
            ChannelKind.EVENTS,
            "groups:read",
            history,
            history_age_ms,
            refine=refine_event,
        ),
        ChannelSpec("cluster", ChannelKind.EVENTS, "cluster:read", history, history_age_ms),
    ]


ALL_SCOPES = frozenset({"metrics:read", "topics:read", "groups:read", "cluster:read"})


def _tag(hub: Hub, item: object) -> str | None:
    return hub.binding.tag_of(item) if isinstance(item, BaseModel) else None


def _scopes(hub: Hub, client: Client) -> frozenset[str]:
    principal = client.principal
    if isinstance(principal, Principal):
        return frozenset(s for s in ALL_SCOPES if principal.allows(s))
    # Without a token: every channel when the server takes no tokens, none when it does.
    return ALL_SCOPES if hub.verifier is None else frozenset()


def welcome_builder(snapshot_interval_ms: int) -> Any:
    def welcome(hub: Hub, client: Client) -> BaseModel:
        return _welcome(hub, client, snapshot_interval_ms)

    return welcome


def _welcome(hub: Hub, client: Client, snapshot_interval_ms: int) -> BaseModel:
    config = hub.config
    channels = []
    for spec in hub.channels.values():
        info: dict[str, Any] = {
            "name": spec.name,
            "kind": spec.kind.value,
            "required_scope": spec.scope or "*",
        }
        if spec.kind is ChannelKind.SNAPSHOT:
            info.update(interval_ms=snapshot_interval_ms, history_max_messages=spec.history)
        else:
            info.update(
                history_max_messages=spec.history,
                history_max_age_ms=spec.history_age_ms,
                epoch=hub.epoch,
            )
        channels.append(ChannelInfo.model_validate(info))
    return Welcome(
        type="welcome",
        session_id=client.id,
        protocol_version=SPEC_VERSION,
        server_time_ms=hub.now_ms(),
        heartbeat_interval_ms=int(config.heartbeat_interval_s * 1000),
        heartbeat_timeout_ms=int(config.heartbeat_timeout_s * 1000),
        limits=Limits(
            max_message_bytes=config.limits.max_message_bytes,
            max_subscriptions=config.max_subscriptions,
            max_messages_per_s=config.max_messages_per_s,
            send_queue_size=config.send_queue_size,
        ),
        channels=channels,
        authenticated=isinstance(client.principal, Principal),
        scopes=sorted(_scopes(hub, client)),
    )


def _error(request_id: str, code: str, message: str, path: str | None = None) -> Error:
    fields: dict[str, Any] = {"type": "error", "id": request_id, "code": code, "message": message}
    if path is not None:
        fields["details"] = [{"path": path, "reason": message}]
    return Error.model_validate(fields)


async def on_subscribe(hub: Hub, client: Client, message: BaseModel) -> BaseModel | None:
    message = cast(Subscribe, message)
    requests: list[ChannelSubscription] = list(message.channels)
    names = [r.name for r in requests]
    for index, name in enumerate(names):
        if name in names[:index]:
            return _error(
                message.id,
                "invalid_message",
                f"channel {name!r} is named twice",
                f"/channels/{index}/name",
            )
    scopes = _scopes(hub, client)
    for index, request in enumerate(requests):
        scope = hub.channels[request.name].scope
        if scope is not None and scope not in scopes:
            code = "unauthorized" if client.principal is None else "forbidden"
            return _error(
                message.id,
                code,
                f"channel {request.name!r} needs scope {scope!r}",
                f"/channels/{index}/name",
            )
    if len(set(client.subscriptions) | set(names)) > hub.config.max_subscriptions:
        return _error(
            message.id,
            "too_many_subscriptions",
            f"at most {hub.config.max_subscriptions} subscriptions",
        )
    # One synchronous block from here: the reply, the replay and the subscription happen
    # between two publishes, so nothing is missed and nothing arrives twice.
    now = hub.now_ms()
    replies: list[SubscribedChannel] = []
    follow: list[tuple[str, list[tuple[bytes, int, str | None]]]] = []
    for request in requests:
        spec = hub.channels[request.name]
        filter_ = request.filter if isinstance(request.filter, SubscriptionFilter) else None
        if spec.kind is ChannelKind.EVENTS:
            history = hub.events[spec.name]
            frames: list[tuple[bytes, int, str | None]] = []
            recovered: bool | None = None
            if isinstance(request.since, StreamPosition):
                replay = history.since(request.since.epoch, request.since.seq, now)
                recovered = replay.recovered
                for entry in replay.entries:
                    item = entry.item
                    if filter_ is not None and spec.refine is not None:
                        narrowed = (
                            spec.refine(item, filter_) if isinstance(item, BaseModel) else item
                        )
                        if narrowed is None:
                            continue
                    frames.append((entry.frame, entry.seq, _tag(hub, item)))
            position = StreamPosition(epoch=history.epoch, seq=history.last_seq)
            replies.append(
                SubscribedChannel(
                    name=request.name, position=position, recovered=recovered, replayed=len(frames)
                )
            )
        else:
            count = request.history if isinstance(request.history, int) else 1
            entries = hub.snapshots[spec.name].recent(count)
            # Counted under the newest snapshot's type (older ones are held as frames only).
            tag = entries[-1].tag if entries else None
            frames = []
            for entry in entries:
                data = entry.frame
                if filter_ is not None and spec.refine is not None:
                    # Older snapshots are held as frames only: decode one to narrow it.
                    item = entry.item
                    snapshot = (
                        item if isinstance(item, BaseModel) else hub.binding.validate_outbound(data)
                    )
                    narrowed = spec.refine(snapshot, filter_)
                    if narrowed is None:
                        continue
                    data = client.session.reply(narrowed)
                frames.append((data, entry.seq, tag))
            replies.append(
                SubscribedChannel(name=request.name, recovered=None, replayed=len(frames))
            )
        follow.append((request.name, frames))
    hub.post(client, Subscribed(type="subscribed", id=message.id, channels=replies))
    for (channel, frames), request in zip(follow, requests, strict=True):
        hub.subscribe(
            client,
            channel,
            request.filter if isinstance(request.filter, SubscriptionFilter) else None,
        )
        for data, seq, tag in frames:
            hub.post(client, data, channel, seq, tag=tag)
    return None


async def on_unsubscribe(hub: Hub, client: Client, message: BaseModel) -> BaseModel | None:
    message = cast(Unsubscribe, message)
    for name in message.channels:
        hub.unsubscribe(client, name)
    return Unsubscribed(type="unsubscribed", id=message.id, channels=list(message.channels))


async def on_ping(hub: Hub, client: Client, message: BaseModel) -> BaseModel | None:
    message = cast(Ping, message)
    fields: dict[str, Any] = {"type": "pong", "id": message.id, "timestamp_ms": hub.now_ms()}
    if isinstance(message.timestamp_ms, int):
        fields["client_timestamp_ms"] = message.timestamp_ms
    return Pong.model_validate(fields)


def auth_handler(verifier: TokenVerifier) -> Any:
    async def on_auth(hub: Hub, client: Client, message: BaseModel) -> BaseModel | None:
        message = cast(Auth, message)
        try:
            principal = await verifier.verify(message.token)
        except InvalidToken as exc:
            return _error(message.id, "unauthorized", exc.reason)
        if principal.expired(hub.now_ms()):
            return _error(message.id, "unauthorized", "token expired")
        for name in client.subscriptions:
            scope = hub.channels[name].scope
            if scope is not None and not principal.allows(scope):
                return _error(
                    message.id,
                    "forbidden",
                    f"the new token does not allow subscribed channel {name!r}",
                )
        hub.set_principal(client, principal)
        return Authenticated(
            type="authenticated",
            id=message.id,
            subject=principal.subject,
            scopes=sorted(s for s in ALL_SCOPES if principal.allows(s)),
            expires_at_ms=principal.expires_at_ms,
        )

    return on_auth


def create_console_hub(
    *,
    verifier: TokenVerifier | None = None,
    auth_required: bool = False,
    config: HubConfig | None = None,
    metrics: HubMetrics | None = None,
    channels: Iterable[ChannelSpec] | None = None,
    snapshot_interval_ms: int = SNAPSHOT_INTERVAL_MS,
) -> Hub:
    """A hub speaking the console protocol, with its handlers registered."""
    hub = Hub(
        console_binding(),
        channels if channels is not None else console_channels(),
        welcome=welcome_builder(snapshot_interval_ms),
        config=config,
        metrics=metrics,
        verifier=verifier,
        auth_required=auth_required,
    )
    hub.on("subscribe")(on_subscribe)
    hub.on("unsubscribe")(on_unsubscribe)
    hub.on("ping")(on_ping)
    hub.on("auth")(auth_handler(verifier) if verifier is not None else on_auth_disabled)
    return hub


async def on_auth_disabled(hub: Hub, client: Client, message: BaseModel) -> BaseModel | None:
    message = cast(Auth, message)
    return _error(
        message.id, "unauthorized", "this server does not take tokens; every channel is open"
    )
