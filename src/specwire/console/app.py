"""The console's HTTP application: ``/ws``, the REST API under ``/api``, ``/metrics``, ``/healthz``.

One FastAPI application on one port. The REST API reads the engine directly (so it
is never staler than the call), and changes it through the collector, which
announces each change on the WebSocket at once. Errors are RFC 9457
``application/problem+json`` documents; a field at fault is named in ``errors``
(``{"field": ..., "pointer": ..., "message": ...}``).

Auth is the WebSocket's: when the server takes tokens, each request needs
``Authorization: Bearer <token>``; reads need the scope of what they read
(``topics:read``, ``groups:read``, ``cluster:read``) and changes need ``admin``.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Sequence
from http import HTTPStatus
from typing import Annotated, Any, Protocol

from console_live_updates import ClusterHealth, ConsumerGroupStats
from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import WebSocketRoute
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from specwire.console.analysis import cluster_health
from specwire.console.collector import Collector
from specwire.console.engine import (
    BrokerNotFound,
    BrokerState,
    ClusterEngine,
    ClusterState,
    EngineError,
    GroupState,
    InvalidTopic,
    TopicExists,
    TopicNotFound,
    TopicState,
)
from specwire.runtime.auth import InvalidToken, OriginPolicy, Principal
from specwire.runtime.hub import Hub
from specwire.runtime.transports.asgi import websocket_endpoint, websocket_not_found

__all__ = ["BrokerControl", "Problem", "create_console_app"]

PROBLEM_JSON = "application/problem+json"
ADMIN = "admin"
MAX_BODY_BYTES = 64 * 1024
"""The largest request body the REST API reads (a topic with its config is far smaller)."""


class BrokerControl(Protocol):
    """Engines whose brokers can be stopped and started (the embedded one)."""

    def stop_broker(self, broker_id: int) -> None: ...

    def start_broker(self, broker_id: int) -> None: ...


class Problem(Exception):
    """An RFC 9457 problem, raised by a handler and rendered as ``application/problem+json``."""

    def __init__(
        self,
        status: int,
        detail: str,
        *,
        errors: Sequence[dict[str, str]] = (),
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.errors = list(errors)
        self.headers = headers or {}


def _problem_response(request: Request, problem: Problem) -> JSONResponse:
    body: dict[str, Any] = {
        "type": "about:blank",
        "title": HTTPStatus(problem.status).phrase,
        "status": problem.status,
        "detail": problem.detail,
        "instance": request.url.path,
    }
    if problem.errors:
        body["errors"] = problem.errors
    return JSONResponse(
        body, status_code=problem.status, media_type=PROBLEM_JSON, headers=problem.headers
    )


class BodyLimit:
    """Reads no more than ``limit`` bytes of a request body: 413 (a problem) beyond.

    A body declared larger (``Content-Length``) is refused before a byte of it is
    read; one that turns out larger (chunked, or longer than declared) is refused
    once the limit is passed, from inside the route, so that the answer is the same
    problem document. Starlette's own limit answers in plain text, hence this.
    """

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        detail = f"the request body is larger than {self.limit} bytes"
        declared = Headers(scope=scope).get("content-length", "")
        if declared.isdigit() and int(declared) > self.limit:
            response = _problem_response(Request(scope), Problem(413, detail))
            await response(scope, receive, send)
            return
        seen = 0

        async def limited() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.limit:
                    raise StarletteHTTPException(413, detail)
            return message

        await self.app(scope, limited, send)


def _field_error(field: str, message: str) -> dict[str, str]:
    return {"field": field, "pointer": f"#/{field}", "message": message}


# -- representations -------------------------------------------------------------------


class TopicCreate(BaseModel):
    """``POST /api/topics``."""

    model_config = ConfigDict(extra="forbid")

    name: Annotated[str, Field(min_length=1, max_length=249, pattern=r"^[A-Za-z0-9._-]+$")]
    partitions: Annotated[int, Field(ge=1, le=10_000)]
    replication_factor: Annotated[int | None, Field(ge=1)] = None
    """Defaults to the cluster's default (3, or the number of brokers if fewer)."""
    config: dict[str, str] = Field(default_factory=dict)
    """Configuration overrides, Kafka style (``retention.ms``, ``cleanup.policy``, ...)."""


class PartitionView(BaseModel):
    partition: int
    leader: int | None
    replicas: list[int]
    isr: list[int]
    start_offset: int
    end_offset: int
    size_bytes: int


class TopicView(BaseModel):
    name: str
    partitions: int
    replication_factor: int
    config: dict[str, str]
    messages: int
    size_bytes: int
    under_replicated_partitions: int
    offline_partitions: int


class TopicDetail(TopicView):
    partition_details: list[PartitionView]


class MemberView(BaseModel):
    member_id: str
    client_id: str
    host: str
    assignments: list[str]
    """``topic-partition`` names."""


class GroupOffsetView(BaseModel):
    topic: str
    partition: int
    committed_offset: int
    committed_at_ms: int
    end_offset: int | None
    """``None`` when the topic no longer exists."""
    lag: int | None


class GroupView(BaseModel):
    group_id: str
    state: str
    members: int
    topics: list[str]
    total_lag: int
    status: str | None
    """Burrow-style lag status from the latest snapshot; ``None`` before the first."""


class GroupDetail(GroupView):
    member_details: list[MemberView]
    offsets: list[GroupOffsetView]
    lag: ConsumerGroupStats | None
    """The group as the latest ``metrics.snapshot`` showed it."""


class BrokerView(BaseModel):
    id: int
    host: str
    port: int
    online: bool
    rack: str | None


class ClusterView(BaseModel):
    engine: str
    controller_id: int | None
    brokers: list[BrokerView]
    health: ClusterHealth
    topics: int
    groups: int


def _topic_view(topic: TopicState) -> TopicView:
    return TopicView(**_topic_fields(topic))


def _topic_fields(topic: TopicState) -> dict[str, Any]:
    return {
        "name": topic.name,
        "partitions": len(topic.partitions),
        "replication_factor": topic.replication_factor,
        "config": dict(topic.config),
        "messages": sum(p.end_offset - p.start_offset for p in topic.partitions),
        "size_bytes": sum(p.size_bytes for p in topic.partitions),
        "under_replicated_partitions": sum(
            1 for p in topic.partitions if len(p.isr) < len(p.replicas)
        ),
        "offline_partitions": sum(1 for p in topic.partitions if p.leader is None),
    }


def _topic_detail(topic: TopicState) -> TopicDetail:
    return TopicDetail(
        **_topic_fields(topic),
        partition_details=[
            PartitionView(
                partition=p.partition,
                leader=p.leader,
                replicas=list(p.replicas),
                isr=list(p.isr),
                start_offset=p.start_offset,
                end_offset=p.end_offset,
                size_bytes=p.size_bytes,
            )
            for p in topic.partitions
        ],
    )


def _end_offsets(state: ClusterState) -> dict[tuple[str, int], int]:
    return {(t.name, p.partition): p.end_offset for t in state.topics for p in t.partitions}


def _group_fields(
    group: GroupState, ends: dict[tuple[str, int], int], collector: Collector
) -> dict[str, Any]:
    topics = {topic for topic, _ in group.offsets} | {
        topic for m in group.members for topic, _ in m.assignments
    }
    total = 0
    for key, committed in group.offsets.items():
        end = ends.get(key)
        if end is not None:
            total += max(0, end - committed.offset)
    return {
        "group_id": group.group_id,
        "state": group.state,
        "members": len(group.members),
        "topics": sorted(topics),
        "total_lag": total,
        "status": _latest_status(collector, group.group_id),
    }


def _latest_status(collector: Collector, group_id: str) -> str | None:
    row = collector.builder.groups.get(group_id)
    return None if row is None else str(row["status"])


def _latest_stats(collector: Collector, group_id: str) -> ConsumerGroupStats | None:
    row = collector.builder.groups.get(group_id)
    return None if row is None else ConsumerGroupStats.model_validate(row)


def _group_detail(group: GroupState, state: ClusterState, collector: Collector) -> GroupDetail:
    ends = _end_offsets(state)
    offsets = []
    for (topic, partition), committed in sorted(group.offsets.items()):
        end = ends.get((topic, partition))
        offsets.append(
            GroupOffsetView(
                topic=topic,
                partition=partition,
                committed_offset=committed.offset,
                committed_at_ms=committed.committed_at_ms,
                end_offset=end,
                lag=None if end is None else max(0, end - committed.offset),
            )
        )
    return GroupDetail(
        **_group_fields(group, ends, collector),
        member_details=[
            MemberView(
                member_id=m.member_id,
                client_id=m.client_id,
                host=m.host,
                assignments=[f"{t}-{p}" for t, p in m.assignments],
            )
            for m in group.members
        ],
        offsets=offsets,
        lag=_latest_stats(collector, group.group_id),
    )


def _broker_view(broker: BrokerState) -> BrokerView:
    return BrokerView(
        id=broker.id, host=broker.host, port=broker.port, online=broker.online, rack=broker.rack
    )


# -- the application -------------------------------------------------------------------


def create_console_app(
    hub: Hub,
    collector: Collector,
    *,
    origins: Sequence[str] | OriginPolicy = (),
    ws_path: str = "/ws",
    title: str = "specwire console",
    max_body_bytes: int = MAX_BODY_BYTES,
) -> FastAPI:
    """The console's whole HTTP surface, for one hub, its collector and its engine."""
    engine: ClusterEngine = collector.engine
    verifier = hub.verifier

    def scoped(scope: str) -> Callable[[Request], Awaitable[Principal | None]]:
        async def check(request: Request) -> Principal | None:
            if verifier is None:
                return None
            header = request.headers.get("authorization", "")
            scheme, _, token = header.partition(" ")
            challenge = {"WWW-Authenticate": 'Bearer realm="specwire"'}
            if scheme.lower() != "bearer" or not token.strip():
                raise Problem(401, "a bearer token is required", headers=challenge)
            try:
                principal = await verifier.verify(token.strip())
            except InvalidToken as exc:
                raise Problem(401, f"invalid token: {exc}", headers=challenge) from exc
            if principal.expired(int(hub.clock() * 1000)):
                raise Problem(401, "invalid token: expired", headers=challenge)
            if not principal.allows(scope):
                raise Problem(403, f"this token lacks the {scope!r} scope")
            return principal

        return check

    app = FastAPI(
        title=title,
        summary="Live updates of a streaming cluster: REST API, WebSocket feed at /ws.",
        version="1.0.0",
        routes=[WebSocketRoute(ws_path, websocket_endpoint(hub, origins=origins))],
    )
    app.add_middleware(BodyLimit, limit=max_body_bytes)

    @app.exception_handler(Problem)
    async def on_problem(request: Request, exc: Problem) -> Response:
        return _problem_response(request, exc)

    @app.exception_handler(RequestValidationError)
    async def on_invalid(request: Request, exc: RequestValidationError) -> Response:
        errors = []
        malformed = False
        for error in exc.errors():
            location = [str(part) for part in error.get("loc", ())]
            if error.get("type") == "json_invalid":
                malformed = True
            field = ".".join(location[1:]) if location[:1] == ["body"] else ".".join(location)
            errors.append(
                {
                    "field": field or "body",
                    "pointer": "#/" + "/".join(location[1:]),
                    "message": str(error.get("msg", "invalid")),
                }
            )
        if malformed:
            return _problem_response(request, Problem(400, "the body is not valid JSON"))
        return _problem_response(request, Problem(422, "the request is invalid", errors=errors))

    @app.exception_handler(StarletteHTTPException)
    async def on_http(request: Request, exc: StarletteHTTPException) -> Response:
        return _problem_response(
            request, Problem(exc.status_code, str(exc.detail), headers=dict(exc.headers or {}))
        )

    read_topics = Depends(scoped("topics:read"))
    read_groups = Depends(scoped("groups:read"))
    read_cluster = Depends(scoped("cluster:read"))
    admin = Depends(scoped(ADMIN))
    problems: dict[int | str, dict[str, Any]] = {
        401: {"description": "No valid bearer token (RFC 9457 problem)."},
        403: {"description": "The token lacks the scope (RFC 9457 problem)."},
    }

    @app.get("/api/topics", tags=["topics"], dependencies=[read_topics], responses=problems)
    async def list_topics() -> list[TopicView]:
        """Every topic, sorted by name."""
        state = await engine.state()
        return [_topic_view(t) for t in state.topics]

    @app.post(
        "/api/topics",
        status_code=201,
        tags=["topics"],
        dependencies=[admin],
        responses={
            **problems,
            409: {"description": "A topic of that name exists."},
            422: {"description": "Invalid name, partitions, replication factor or config."},
        },
    )
    async def create_topic(body: TopicCreate, request: Request, response: Response) -> TopicDetail:
        """Create a topic; ``topic.created`` goes out on the WebSocket at once."""
        try:
            topic = await collector.create_topic(
                body.name, body.partitions, body.replication_factor, body.config
            )
        except TopicExists as exc:
            raise Problem(409, str(exc), errors=[_field_error("name", str(exc))]) from exc
        except InvalidTopic as exc:
            field = exc.field or "body"
            raise Problem(422, str(exc), errors=[_field_error(field, str(exc))]) from exc
        response.headers["Location"] = str(request.url_for("get_topic", name=topic.name))
        return _topic_detail(topic)

    async def find_topic(name: str) -> TopicState:
        state = await engine.state()
        for topic in state.topics:
            if topic.name == name:
                return topic
        raise Problem(404, f"no topic named {name!r}")

    @app.get(
        "/api/topics/{name}",
        tags=["topics"],
        dependencies=[read_topics],
        responses={**problems, 404: {"description": "No such topic."}},
    )
    async def get_topic(name: str) -> TopicDetail:
        """One topic, with its partitions' leaders, replicas, ISR and offsets."""
        return _topic_detail(await find_topic(name))

    @app.delete(
        "/api/topics/{name}",
        status_code=204,
        tags=["topics"],
        dependencies=[admin],
        responses={**problems, 404: {"description": "No such topic."}},
    )
    async def delete_topic(name: str) -> Response:
        """Delete a topic; ``topic.deleted`` goes out on the WebSocket at once."""
        try:
            await collector.delete_topic(name)
        except TopicNotFound as exc:
            raise Problem(404, f"no topic named {name!r}") from exc
        return Response(status_code=204)

    @app.get("/api/groups", tags=["groups"], dependencies=[read_groups], responses=problems)
    async def list_groups() -> list[GroupView]:
        """Every consumer group, sorted by id, with its lag and latest lag status."""
        state = await engine.state()
        ends = _end_offsets(state)
        return [GroupView(**_group_fields(g, ends, collector)) for g in state.groups]

    @app.get(
        "/api/groups/{group_id}",
        tags=["groups"],
        dependencies=[read_groups],
        responses={**problems, 404: {"description": "No such group."}},
    )
    async def get_group(group_id: str) -> GroupDetail:
        """One consumer group: members and assignments, committed offsets and lag."""
        state = await engine.state()
        for group in state.groups:
            if group.group_id == group_id:
                return _group_detail(group, state, collector)
        raise Problem(404, f"no consumer group {group_id!r}")

    @app.get("/api/cluster", tags=["cluster"], dependencies=[read_cluster], responses=problems)
    async def get_cluster() -> ClusterView:
        """Brokers, controller and health, as of now."""
        state = await engine.state()
        return ClusterView(
            engine=engine.name,
            controller_id=state.controller_id,
            brokers=[_broker_view(b) for b in state.brokers],
            health=cluster_health(state),
            topics=len(state.topics),
            groups=len(state.groups),
        )

    if hasattr(engine, "stop_broker") and hasattr(engine, "start_broker"):
        control: BrokerControl = engine  # type: ignore[assignment]

        async def change_broker(broker_id: int, action: Callable[[int], None]) -> BrokerView:
            try:
                async with collector.lock:
                    action(broker_id)
            except BrokerNotFound as exc:
                raise Problem(404, str(exc)) from exc
            except EngineError as exc:
                raise Problem(409, str(exc)) from exc
            state = await engine.state()
            return next(_broker_view(b) for b in state.brokers if b.id == broker_id)

        broker_responses: dict[int | str, dict[str, Any]] = {
            **problems,
            404: {"description": "No such broker."},
        }

        @app.post(
            "/api/brokers/{broker_id}/stop",
            tags=["brokers"],
            dependencies=[admin],
            responses=broker_responses,
        )
        async def stop_broker(broker_id: int) -> BrokerView:
            """Stop a broker of the embedded cluster: its partitions lose a replica or go
            offline, and health turns DEGRADED or UNHEALTHY at the next tick."""
            return await change_broker(broker_id, control.stop_broker)

        @app.post(
            "/api/brokers/{broker_id}/start",
            tags=["brokers"],
            dependencies=[admin],
            responses=broker_responses,
        )
        async def start_broker(broker_id: int) -> BrokerView:
            """Start a stopped broker of the embedded cluster again."""
            return await change_broker(broker_id, control.start_broker)

    @app.get("/metrics", tags=["operations"], response_class=Response)
    async def metrics() -> Response:
        """Prometheus metrics of the hub and the collector."""
        body, content_type = hub.metrics.render()
        return Response(body, media_type=content_type)

    @app.get(
        "/healthz",
        tags=["operations"],
        responses={503: {"description": "The collector is not running or is stale."}},
    )
    async def healthz() -> Response:
        """200 while the collector ticks on time; 503 when it has stopped or fails."""
        fresh = collector.fresh()
        body = {
            "status": "ok" if fresh else "stale",
            "engine": engine.name,
            "interval_s": collector.interval_s,
            "ticks": collector.ticks,
            "failures": collector.failures,
            "connections": len(hub.clients),
        }
        return Response(
            json.dumps(body), status_code=200 if fresh else 503, media_type="application/json"
        )

    app.router.routes.append(WebSocketRoute("/{path:path}", websocket_not_found))
    return app
