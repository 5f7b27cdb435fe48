"""The ASGI endpoint inside an application: HTTP routes beside it, routing, refusals, options."""

from __future__ import annotations

import asyncio
import errno
import signal
import typing
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httpx
import pytest
from peers import DEADLINE, Connect
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.types import Message
from starlette.websockets import WebSocket
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from specwire.runtime.auth import Principal, StaticTokenVerifier
from specwire.runtime.console import create_console_hub
from specwire.runtime.hub import Hub, HubConfig
from specwire.runtime.transports.asgi import (
    AsgiServer,
    AsgiTransport,
    UvicornTransport,
    create_app,
    start_asgi_server,
    websocket_endpoint,
    websocket_not_found,
)

Start = Callable[..., Awaitable[AsgiServer]]


@pytest.fixture
async def asgi() -> AsyncIterator[Start]:
    servers: list[AsgiServer] = []

    async def start(hub: Hub, **options: Any) -> AsgiServer:
        server = await start_asgi_server(hub, **options)
        servers.append(server)
        return server

    yield start
    for server in reversed(servers):
        await server.shutdown(timeout=DEADLINE)


def console_app(hub: Hub) -> Starlette:
    """What the reference server looks like: a REST API, health, and the hub at /ws."""

    async def healthz(request: Request) -> Response:
        return JSONResponse({"status": "ok", "clients": len(hub.clients)})

    return Starlette(
        routes=[
            Route("/healthz", healthz),
            WebSocketRoute("/ws", websocket_endpoint(hub)),
            WebSocketRoute("/{path:path}", websocket_not_found),
        ]
    )


async def test_the_hub_and_http_routes_share_one_server(asgi: Start, peers: Connect) -> None:
    hub = create_console_hub(config=HubConfig(debug=True))
    server = await asgi(hub, app=console_app(hub))
    peer = await peers(server.url)
    assert (await peer.request({"type": "ping", "id": "p"}))["type"] == "pong"
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{server.port}") as http:
        health = await http.get("/healthz", timeout=DEADLINE)
        assert (health.status_code, health.json()) == (200, {"status": "ok", "clients": 1})
        assert (await http.get("/nothing-here", timeout=DEADLINE)).status_code == 404
    assert (await peer.request({"type": "ping", "id": "again"}))["type"] == "pong"


@pytest.mark.parametrize("app", ["create_app", "console_app"])
async def test_another_websocket_path_is_404(asgi: Start, peers: Connect, app: str) -> None:
    hub = create_console_hub()
    server = await asgi(hub, app=console_app(hub) if app == "console_app" else create_app(hub))
    for path in ("/elsewhere", "/healthz", "/ws/deeper", "/"):
        with pytest.raises(InvalidStatus) as caught:
            await peers(f"ws://127.0.0.1:{server.port}{path}")
        assert caught.value.response.status_code == 404
    assert hub.clients == {}


def refused(hub: Hub, reason: str) -> float | None:
    return hub.metrics.registry.get_sample_value(
        "specwire_connections_refused_total", {"reason": reason}
    )


async def test_refusals_are_http_statuses(asgi: Start, peers: Connect) -> None:
    tokens = StaticTokenVerifier({"good": Principal("ops", frozenset({"*"}))})
    hub = create_console_hub(
        verifier=tokens, auth_required=True, config=HubConfig(max_connections=1)
    )
    url = (await asgi(hub, origins=["https://console.example.com"])).url
    console = {"origin": "https://console.example.com"}
    cases: list[tuple[dict[str, Any], int, bytes]] = [
        ({"origin": "https://evil.example.com"}, 403, b"origin not allowed\n"),
        (console, 401, b"a token is required\n"),
        (
            {**console, "additional_headers": {"Authorization": "Bearer bad"}},
            401,
            b"unknown token\n",
        ),
    ]
    for options, status, body in cases:
        with pytest.raises(InvalidStatus) as caught:
            await peers(url, **options)
        response = caught.value.response
        assert (response.status_code, response.body) == (status, body)
        if status == 401:
            assert response.headers["WWW-Authenticate"].startswith("Bearer")
    await peers(url + "?token=good", **console)
    with pytest.raises(InvalidStatus) as caught:
        await peers(url + "?token=good", **console)
    assert caught.value.response.status_code == 503
    assert (refused(hub, "origin"), refused(hub, "unauthorized"), refused(hub, "limit")) == (
        1,
        2,
        1,
    )


@pytest.mark.parametrize(
    ("options", "headers", "code"),
    [
        ({"origins": ["https://console.example.com"]}, [(b"origin", b"https://evil.test")], 1008),
        # Browsers send one Origin (uvicorn's websockets layer refuses two with 400 itself).
        (
            {"origins": ["https://console.example.com"]},
            [(b"origin", b"https://console.example.com"), (b"origin", b"https://evil.test")],
            1008,
        ),
        ({"config": HubConfig(max_connections=0)}, [], 1013),
        ({"auth_required": True}, [], 1008),
    ],
    ids=["origin", "two-origins", "limit", "unauthorized"],
)
async def test_without_denial_responses_a_refusal_closes_before_accept(
    options: dict[str, Any], headers: list[tuple[bytes, bytes]], code: int
) -> None:
    origins = options.pop("origins", ())
    hub = create_console_hub(**options)
    sent: list[Message] = []

    async def receive() -> Message:
        return {"type": "websocket.connect"}

    async def send(message: Message) -> None:
        sent.append(message)

    scope = {
        "type": "websocket",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "scheme": "ws",
        "server": ("127.0.0.1", 80),
        "client": ("127.0.0.1", 50000),
        "root_path": "",
        "path": "/ws",
        "raw_path": b"/ws",
        "query_string": b"",
        "headers": [(b"host", b"127.0.0.1"), *headers],
        "subprotocols": [],
        "extensions": {},  # no websocket.http.response
    }
    await create_app(hub, origins=origins)(scope, receive, send)
    assert [(m["type"], m["code"]) for m in sent] == [("websocket.close", code)]
    assert hub.clients == {}


async def test_the_test_server_uses_direct_writes_and_plain_uvicorn_the_buffer(
    asgi: Start, peers: Connect
) -> None:
    direct_hub, buffered_hub = create_console_hub(), create_console_hub()
    await peers((await asgi(direct_hub)).url)
    await peers((await asgi(buffered_hub, ws="websockets-sansio")).url)
    ((direct,),) = [[c.transport for c in direct_hub.clients.values()]]
    ((buffered,),) = [[c.transport for c in buffered_hub.clients.values()]]
    assert isinstance(direct, UvicornTransport)
    assert isinstance(buffered, AsgiTransport)


async def test_compression_is_off_even_when_the_client_offers_it(asgi: Start) -> None:
    server = await asgi(create_console_hub())
    async with connect(server.url, open_timeout=DEADLINE) as connection:  # offers deflate
        assert connection.protocol.extensions == []
        assert connection.request is not None
        assert "permessage-deflate" in connection.request.headers["Sec-WebSocket-Extensions"]


async def test_the_server_binds_a_free_port_and_leaves_signals_alone(asgi: Start) -> None:
    handlers = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    first, second = await asgi(create_console_hub()), await asgi(create_console_hub())
    assert first.port != second.port
    assert first.url == f"ws://127.0.0.1:{first.port}/ws"
    await first.shutdown()
    await second.shutdown()
    assert {sig: signal.getsignal(sig) for sig in handlers} == handlers


def test_the_endpoint_declares_its_websocket_parameter_for_fastapi() -> None:
    # FastAPI injects the WebSocket into the parameter annotated with the class.
    hints = typing.get_type_hints(websocket_endpoint(create_console_hub()))
    assert hints == {"websocket": WebSocket, "return": type(None)}


async def test_a_port_in_use_raises_oserror(asgi: Start) -> None:
    first = await asgi(create_console_hub())
    with pytest.raises(OSError, match="in use") as caught:
        await start_asgi_server(create_console_hub(), port=first.port)
    assert caught.value.errno == errno.EADDRINUSE


async def test_the_request_deadline_answers_only_requests_not_yet_answered(asgi: Start) -> None:
    async def early(request: Request) -> Response:  # answers without reading the body
        return JSONResponse({"status": "refused early"}, status_code=413)

    hub = create_console_hub(config=HubConfig(handshake_timeout_s=0.2))
    app = Starlette(routes=[Route("/upload", early, methods=["POST"])])
    server = await asgi(hub, app=app)
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    writer.write(b"POST /upload HTTP/1.1\r\nHost: 127.0.0.1\r\ncontent-length: 100\r\n\r\n0123")
    try:
        received = await asyncio.wait_for(reader.read(), DEADLINE)  # to the server's close
    finally:
        writer.close()
        await writer.wait_closed()
    # The body never came whole, but the request had its answer: no 408 after it.
    assert received.count(b"HTTP/1.1 ") == 1
    assert received.startswith(b"HTTP/1.1 413 ")
    assert received.endswith(b'{"status":"refused early"}')
