"""Tokens at the handshake and in-band, expiry, handler failures, and shutdown without leaks."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
from peers import DEADLINE, Connect
from pydantic import BaseModel
from websockets.exceptions import ConnectionClosed, InvalidStatus

from specwire.runtime.auth import Principal, StaticTokenVerifier
from specwire.runtime.console import create_console_hub
from specwire.runtime.hub import CLOSE_SERVICE_RESTART, Client, Hub, HubConfig

READER = Principal("dashboard", frozenset({"metrics:read", "cluster:read"}))
METRICS_ONLY = Principal("narrow", frozenset({"metrics:read"}))
ADMIN = Principal("ops", frozenset({"*"}))


def verifier(**extra: Principal) -> StaticTokenVerifier:
    tokens = {"reader-token": READER, "admin-token": ADMIN, "metrics-only": METRICS_ONLY}
    return StaticTokenVerifier({**tokens, **extra})


async def test_a_required_token_is_checked_at_the_handshake(serve: Any, peers: Connect) -> None:
    hub = create_console_hub(verifier=verifier(), auth_required=True)
    url = (await serve(hub)).url
    for attempt in ({}, {"additional_headers": {"Authorization": "Bearer wrong"}}):
        with pytest.raises(InvalidStatus) as caught:
            await peers(url, **attempt)
        assert caught.value.response.status_code == 401
    by_header = await peers(
        url, welcome=False, additional_headers={"Authorization": "Bearer admin-token"}
    )
    welcome = await by_header.recv()
    assert (welcome["authenticated"], len(welcome["scopes"])) == (True, 4)
    by_query = await peers(url + "?token=reader-token", welcome=False)
    assert (await by_query.recv())["scopes"] == ["cluster:read", "metrics:read"]


async def test_scopes_decide_which_channels_a_client_may_subscribe(
    serve: Any, peers: Connect
) -> None:
    hub = create_console_hub(verifier=verifier())
    url = (await serve(hub)).url
    reader = await peers(url + "?token=reader-token")
    error = await reader.request(
        {"type": "subscribe", "id": "s", "channels": [{"name": "metrics"}, {"name": "topics"}]}
    )
    assert (error["code"], error["details"][0]["path"]) == ("forbidden", "/channels/1/name")
    assert hub.clients and not next(iter(hub.clients.values())).subscriptions  # all or nothing
    anonymous = await peers(url)
    error = await anonymous.request(
        {"type": "subscribe", "id": "a", "channels": [{"name": "metrics"}]}
    )
    assert error["code"] == "unauthorized"


async def test_in_band_auth_then_subscribe(serve: Any, peers: Connect) -> None:
    hub = create_console_hub(verifier=verifier())
    peer = await peers((await serve(hub)).url)
    refused = await peer.request({"type": "auth", "id": "a1", "token": "nope"})
    assert (refused["type"], refused["code"]) == ("error", "unauthorized")
    granted = await peer.request({"type": "auth", "id": "a2", "token": "reader-token"})
    assert granted == {
        "type": "authenticated",
        "id": "a2",
        "subject": "dashboard",
        "scopes": ["cluster:read", "metrics:read"],
        "expires_at_ms": None,
    }
    assert (
        await peer.request({"type": "subscribe", "id": "s", "channels": [{"name": "cluster"}]})
    )["type"] == "subscribed"
    # A new token must still allow what the session is subscribed to.
    narrower = await peer.request({"type": "auth", "id": "a3", "token": "metrics-only"})
    assert narrower["code"] == "forbidden"


async def test_an_expired_token_closes_the_connection_with_1008(serve: Any, peers: Connect) -> None:
    soon = Principal("short-lived", frozenset({"*"}), expires_at_ms=int(time.time() * 1000) + 300)
    later = Principal("refreshed", frozenset({"*"}))
    hub = create_console_hub(verifier=verifier(soon=soon, later=later))
    url = (await serve(hub)).url
    refreshed = await peers(url + "?token=soon")
    reply = await refreshed.request({"type": "auth", "id": "r", "token": "later"})
    assert reply["subject"] == "refreshed"
    assert all(c.expiry is None for c in hub.clients.values())  # the refresh cancelled the expiry
    expiring = await peers(url + "?token=soon")
    error = await expiring.recv_type("error", timeout=DEADLINE)
    assert (error["code"], error["message"], "id" in error) == (
        "unauthorized",
        "token expired",
        False,
    )
    with pytest.raises(ConnectionClosed):
        await expiring.recv()
    assert expiring.connection.close_code == 1008
    assert (await refreshed.request({"type": "ping", "id": "still-open"}))["type"] == "pong"


async def test_a_failing_handler_answers_internal_and_the_connection_stays(
    serve: Any, peers: Connect
) -> None:
    hub = create_console_hub()

    @hub.on("ping")
    async def broken(hub: Hub, client: Client, message: BaseModel) -> BaseModel | None:
        raise RuntimeError("bug in a handler")

    peer = await peers((await serve(hub)).url)
    error = await peer.request({"type": "ping", "id": "p"})
    assert (error["code"], error["id"]) == ("internal", "p")
    assert "bug" not in error["message"]  # no internals leak to the client
    assert (await peer.request({"type": "unsubscribe", "id": "u", "channels": ["metrics"]}))[
        "type"
    ] == "unsubscribed"


async def test_restart_closes_every_client_with_1012_and_leaves_nothing_behind(
    serve: Any, peers: Connect
) -> None:
    before = {t for t in asyncio.all_tasks() if not t.done()}
    hub = create_console_hub(config=HubConfig(debug=True))
    server = await serve(hub)
    clients = [await peers(server.url) for _ in range(5)]
    for peer in clients:
        await peer.request({"type": "subscribe", "id": "s", "channels": [{"name": "topics"}]})
    await server.shutdown(CLOSE_SERVICE_RESTART, "restarting")
    for peer in clients:
        await asyncio.wait_for(peer.connection.wait_closed(), DEADLINE)
        assert (peer.connection.close_code, peer.connection.close_reason) == (1012, "restarting")
    assert hub.clients == {}
    assert all(not subscribers for subscribers in hub.subscribers.values())
    assert (
        hub.metrics.registry.get_sample_value("specwire_disconnects_total", {"reason": "shutdown"})
        == 5
    )
    for peer in clients:
        await peer.connection.close()
    left = {t for t in asyncio.all_tasks() if not t.done()} - before - {asyncio.current_task()}
    assert left == set()
