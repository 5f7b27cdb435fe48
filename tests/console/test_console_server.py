"""The reference console server end to end: real uvicorn on 127.0.0.1, real WebSocket clients.

Every frame a test client receives is checked against the spec's JSON Schema by
``peers.Peer`` (an independent oracle); REST answers are read as a user would.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest
from console_server import INTERVAL, Start
from peers import DEADLINE, Connect, Peer

from specwire.console.app import MAX_BODY_BYTES
from specwire.console.server import ConsoleServer

Http = Callable[..., httpx.AsyncClient]


async def subscribed(peer: Peer, *channels: str) -> dict[str, Any]:
    return await peer.request(
        {"type": "subscribe", "id": "s", "channels": [{"name": c} for c in channels]}
    )


async def next_event(
    peer: Peer, wanted: str, timeout: float = DEADLINE, **match: Any
) -> dict[str, Any]:
    """The next ``wanted`` frame whose fields equal ``match`` (others are skipped)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        frame = await peer.recv_type(wanted, max(0.0, deadline - loop.time()))
        if all(_get(frame, key) == value for key, value in match.items()):
            return frame


def _get(frame: dict[str, Any], dotted: str) -> Any:
    value: Any = frame
    for part in dotted.split("__"):
        value = value.get(part) if isinstance(value, dict) else None
    return value


async def test_snapshots_arrive_at_the_interval(console: Start, peers: Connect) -> None:
    server = await console(traffic=True)
    peer = await peers(server.ws_url)
    await subscribed(peer, "metrics")
    first = await peer.recv_type("metrics.snapshot")  # the latest one, at once
    frames = [await peer.recv_type("metrics.snapshot") for _ in range(4)]
    seqs = [f["seq"] for f in [first, *frames]]
    assert seqs == list(range(seqs[0], seqs[0] + 5))
    gaps = [b["timestamp_ms"] - a["timestamp_ms"] for a, b in itertools.pairwise(frames)]
    assert all(INTERVAL * 1000 * 0.5 <= gap <= INTERVAL * 1000 * 3 for gap in gaps), gaps
    latest = frames[-1]
    assert INTERVAL * 1000 * 0.5 <= latest["interval_ms"] <= INTERVAL * 1000 * 3
    assert latest["cluster"]["status"] == "HEALTHY"
    assert latest["cluster"]["brokers_online"] == latest["cluster"]["brokers_expected"] == 3
    assert latest["throughput"]["produce_messages_per_s"] > 0  # the traffic generator runs
    assert {t["name"] for t in latest["topics"]} >= {"orders", "payments"}
    assert latest["latency"]["produce"]["p99_ms"] is not None


async def test_a_topic_created_through_rest_is_announced_once(
    console: Start, peers: Connect, http: Http
) -> None:
    server = await console()
    peer = await peers(server.ws_url)
    await subscribed(peer, "topics")
    api = http(server)
    created = await api.post(
        "/api/topics",
        json={"name": "invoices", "partitions": 4, "config": {"retention.ms": "1000"}},
    )
    assert created.status_code == 201, created.text
    assert created.headers["location"].endswith("/api/topics/invoices")
    assert created.json()["partitions"] == 4
    event = await peer.recv_type("topic.created")
    assert event["topic"] == {
        "name": "invoices",
        "partitions": 4,
        "replication_factor": 3,
        "config": {"retention.ms": "1000"},
    }
    assert event["source"] == "api"
    assert (await api.get("/api/topics/invoices")).status_code == 200
    deleted = await api.delete("/api/topics/invoices")
    assert deleted.status_code == 204
    gone = await peer.recv_type("topic.deleted")
    assert (gone["name"], gone["source"], gone["seq"]) == ("invoices", "api", event["seq"] + 1)
    await _quiet_ticks(server, 2)  # the ticks' change detection adds nothing
    await nothing_more(peer, "topic.", INTERVAL * 2)


async def _quiet_ticks(server: ConsoleServer, ticks: int) -> None:
    """Wait until the collector has ticked ``ticks`` more times."""
    target = server.collector.ticks + ticks
    loop = asyncio.get_running_loop()
    deadline = loop.time() + DEADLINE
    while server.collector.ticks < target:
        assert loop.time() < deadline, "the collector stopped ticking"
        await asyncio.sleep(INTERVAL / 4)


async def nothing_more(peer: Peer, prefix: str, timeout: float) -> None:
    """No frame whose type starts with ``prefix`` arrives within ``timeout``."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while (left := deadline - loop.time()) > 0:
        try:
            frame = await peer.recv(left)
        except TimeoutError:
            return
        assert not frame["type"].startswith(prefix), frame


async def test_a_topic_made_by_another_tool_is_detected_exactly_once(
    console: Start, peers: Connect
) -> None:
    server = await console()
    peer = await peers(server.ws_url)
    await subscribed(peer, "topics")
    await server.engine.create_topic("made.elsewhere", 2)  # not through the console's API
    event = await peer.recv_type("topic.created", timeout=INTERVAL * 5)
    assert (event["topic"]["name"], event["source"]) == ("made.elsewhere", "detected")
    await server.engine.delete_topic("made.elsewhere")
    gone = await peer.recv_type("topic.deleted", timeout=INTERVAL * 5)
    assert (gone["name"], gone["source"], gone["seq"]) == (
        "made.elsewhere",
        "detected",
        event["seq"] + 1,
    )
    await _quiet_ticks(server, 2)
    await nothing_more(peer, "topic.", INTERVAL * 2)


async def test_stopping_a_broker_degrades_health_and_starting_it_heals(
    console: Start, peers: Connect, http: Http
) -> None:
    server = await console()
    peer = await peers(server.ws_url)
    await subscribed(peer, "cluster")
    api = http(server)
    assert (
        await api.post("/api/topics", json={"name": "orders", "partitions": 3})
    ).status_code == 201
    stopped = await api.post("/api/brokers/2/stop")
    assert stopped.status_code == 200 and stopped.json()["online"] is False
    degraded = await peer.recv_type("cluster.health_changed", timeout=INTERVAL * 5)
    assert (degraded["previous_status"], degraded["status"]) == ("HEALTHY", "DEGRADED")
    assert "broker 2 offline" in degraded["reasons"]
    assert (degraded["brokers_online"], degraded["brokers_expected"]) == (2, 3)
    cluster = (await api.get("/api/cluster")).json()
    assert cluster["health"]["status"] == "DEGRADED"
    assert cluster["health"]["partitions_under_replicated"] > 0
    assert (await api.post("/api/brokers/2/start")).status_code == 200
    healed = await peer.recv_type("cluster.health_changed", timeout=INTERVAL * 5)
    assert (healed["previous_status"], healed["status"], healed["reasons"]) == (
        "DEGRADED",
        "HEALTHY",
        [],
    )
    assert (await api.post("/api/brokers/9/stop")).status_code == 404


async def test_a_slow_consumer_group_falls_behind(console: Start, peers: Connect) -> None:
    server = await console(traffic=True)
    peer = await peers(server.ws_url)
    await subscribed(peer, "groups", "metrics")
    # The default traffic has fraud-scoring consume payments slower than they are produced.
    window = 10 * INTERVAL
    change = await next_event(
        peer, "group.status_changed", timeout=window * 4 + DEADLINE, group_id="fraud-scoring"
    )
    assert change["status"] == "WARN" and change["previous_status"] == "OK"
    assert change["total_lag"] > 0
    snapshot = await peer.recv_type("metrics.snapshot")
    (group,) = [g for g in snapshot["groups"] if g["group_id"] == "fraud-scoring"]
    assert group["status"] == "WARN"
    assert group["total_lag"] >= change["total_lag"]
    assert group["lag_seconds"] is not None and group["lag_seconds"] > 0


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        ({"name": "bad name!", "partitions": 1}, 422, "name"),
        ({"name": "ok", "partitions": 0}, 422, "partitions"),
        ({"name": "ok", "partitions": 1, "replication_factor": 4}, 422, "replication_factor"),
        ({"name": "ok", "partitions": 1, "config": {"retention.ms": "soon"}}, 422, "config"),
        ({"name": "orders", "partitions": 1}, 409, "name"),
        ({"partitions": 1}, 422, "name"),
    ],
)
async def test_bad_rest_input_is_a_problem_naming_the_field(
    console: Start, http: Http, body: dict[str, Any], status: int, field: str
) -> None:
    server = await console()
    api = http(server)
    assert (
        await api.post("/api/topics", json={"name": "orders", "partitions": 1})
    ).status_code in (201, 409)
    answer = await api.post("/api/topics", json=body)
    assert answer.status_code == status
    assert answer.headers["content-type"] == "application/problem+json"
    problem = answer.json()
    assert problem["status"] == status and problem["title"] and problem["detail"]
    assert field in [e["field"] for e in problem["errors"]]


async def test_missing_things_and_malformed_bodies(console: Start, http: Http) -> None:
    server = await console()
    api = http(server)
    for method, path in [
        ("GET", "/api/topics/nope"),
        ("DELETE", "/api/topics/nope"),
        ("GET", "/api/groups/nope"),
    ]:
        answer = await api.request(method, path)
        assert answer.status_code == 404
        assert answer.headers["content-type"] == "application/problem+json"
    malformed = await api.post(
        "/api/topics", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert malformed.status_code == 400
    assert malformed.json()["detail"] == "the body is not valid JSON"


async def test_a_body_over_the_limit_is_refused_without_being_read(
    console: Start, http: Http
) -> None:
    server = await console()
    api = http(server)
    limit = MAX_BODY_BYTES
    padded = b'{"name": "big", "partitions": 1, "pad": "' + b"x" * limit + b'"}'

    async def chunked() -> AsyncIterator[bytes]:  # no Content-Length: counted as it comes
        for start in range(0, len(padded), 4096):
            yield padded[start : start + 4096]

    json_type = {"content-type": "application/json"}
    for body in (padded, chunked()):
        answer = await api.post("/api/topics", content=body, headers=json_type)
        assert answer.status_code == 413
        assert answer.headers["content-type"] == "application/problem+json"
        assert answer.json()["detail"] == f"the request body is larger than {limit} bytes"
    assert (await api.get("/api/topics/big")).status_code == 404  # nothing was created
    fits = await api.post("/api/topics", json={"name": "small", "partitions": 1})
    assert fits.status_code == 201


async def test_rest_reads_the_cluster(console: Start, http: Http) -> None:
    server = await console(traffic=True)
    api = http(server)
    topics = (await api.get("/api/topics")).json()
    assert [t["name"] for t in topics] == sorted(t["name"] for t in topics)
    groups = (await api.get("/api/groups")).json()
    group_ids = [g["group_id"] for g in groups]
    assert "fraud-scoring" in group_ids
    detail = (await api.get("/api/groups/fraud-scoring")).json()
    assert detail["members"] == len(detail["member_details"]) > 0
    cluster = (await api.get("/api/cluster")).json()
    assert cluster["engine"] == "embedded" and len(cluster["brokers"]) == 3
    assert (await api.get("/docs")).status_code == 200
    schema = (await api.get("/openapi.json")).json()
    assert "/api/topics/{name}" in schema["paths"]


async def test_rest_needs_a_token_when_the_server_takes_tokens(
    console: Start, http: Http, peers: Connect
) -> None:
    server = await console(tokens=["s3cret-token"])
    anonymous = http(server)
    refused = await anonymous.get("/api/topics")
    assert refused.status_code == 401
    assert refused.headers["www-authenticate"].startswith("Bearer")
    assert refused.headers["content-type"] == "application/problem+json"
    assert (
        await anonymous.get("/api/topics", headers={"Authorization": "Bearer wrong"})
    ).status_code == 401
    allowed = http(server, headers={"Authorization": "Bearer s3cret-token"})
    assert (await allowed.get("/api/topics")).status_code == 200
    assert (
        await allowed.post("/api/topics", json={"name": "t", "partitions": 1})
    ).status_code == 201
    peer = await peers(server.ws_url + "?token=s3cret-token")
    reply = await subscribed(peer, "topics")
    assert reply["type"] == "subscribed"


async def test_healthz_and_metrics(console: Start, http: Http) -> None:
    server = await console()
    api = http(server)
    healthy = await api.get("/healthz")
    assert healthy.status_code == 200 and healthy.json()["status"] == "ok"
    metrics = (await api.get("/metrics")).text
    assert 'specwire_collector_ticks_total{result="ok"}' in metrics
    for task in server.tasks:  # the collector stops: health goes stale
        task.cancel()
    loop = asyncio.get_running_loop()
    deadline = loop.time() + DEADLINE
    while (answer := await api.get("/healthz")).status_code == 200:
        assert loop.time() < deadline
        await asyncio.sleep(INTERVAL)
    assert answer.status_code == 503 and answer.json()["status"] == "stale"


async def test_a_failing_tick_is_counted_and_the_next_one_runs(
    console: Start, peers: Connect
) -> None:
    server = await console()
    peer = await peers(server.ws_url)
    await subscribed(peer, "metrics")
    await peer.recv_type("metrics.snapshot")
    engine = server.engine
    real_state = engine.state
    calls = 0

    async def failing_once() -> Any:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise RuntimeError("the cluster did not answer")
        return await real_state()

    engine.state = failing_once  # type: ignore[method-assign]
    before = server.collector.failures
    await peer.recv_type("metrics.snapshot", timeout=INTERVAL * 5)  # a later tick still runs
    while server.collector.failures == before:
        await peer.recv_type("metrics.snapshot", timeout=INTERVAL * 5)
    assert server.collector.failures == before + 1
    await peer.recv_type("metrics.snapshot", timeout=INTERVAL * 5)
