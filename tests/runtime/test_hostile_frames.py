"""Hundreds of hostile frames through a real socket: no crash, a spec answer to each, no collateral."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from peers import SERVER_TO_CLIENT
from websockets.sync.client import ClientConnection, connect

from specwire.protocol import Limits
from specwire.runtime.console import create_console_hub
from specwire.runtime.hub import HubConfig
from specwire.runtime.transports.native import NativeServer, start_server

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=30),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=25,
)
requests = st.fixed_dictionaries(
    {
        "type": st.sampled_from(["subscribe", "unsubscribe", "ping", "auth", "pong", "welcome"])
        | json_values
    },
    optional={
        "id": st.text(max_size=140) | json_values,
        "channels": json_values
        | st.lists(
            st.fixed_dictionaries(
                {"name": st.sampled_from(["metrics", "topics", "weather"]) | json_values},
                optional={"since": json_values, "filter": json_values, "history": json_values},
            ),
            max_size=3,
        ),
        "token": json_values,
        "timestamp_ms": json_values,
    },
)
frames = (
    st.text(max_size=300)
    | json_values.map(json.dumps)
    | requests.map(json.dumps)
    | st.binary(max_size=64)
)


class ServerThread:
    """A hub on its own event loop in a thread, so hypothesis can drive it synchronously."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        config = HubConfig(max_messages_per_s=0, limits=Limits(max_invalid_frames=10**9))
        self.hub = create_console_hub(config=config)
        self.server: NativeServer = self.run(start_server(self.hub))

    def run(self, coroutine: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout=10)

    def stop(self) -> None:
        self.run(self.server.shutdown(timeout=5))
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=10)
        self.loop.close()


@pytest.fixture(scope="module")
def server() -> Iterator[ServerThread]:
    running = ServerThread()
    yield running
    running.stop()


@pytest.fixture(scope="module")
def attacker(server: ServerThread) -> Iterator[ClientConnection]:
    with connect(server.server.url, compression=None, open_timeout=5) as connection:
        assert json.loads(connection.recv(timeout=5))["type"] == "welcome"
        yield connection


def answers(connection: ClientConnection) -> list[dict[str, Any]]:
    """Everything the server sent back for one frame, fenced by a ping that must be answered."""
    connection.send(json.dumps({"type": "ping", "id": "fence"}))
    got: list[dict[str, Any]] = []
    while True:
        raw = connection.recv(timeout=5)
        assert isinstance(raw, str)
        frame = json.loads(raw)
        assert not list(SERVER_TO_CLIENT.iter_errors(frame)), frame
        if frame.get("id") == "fence" and frame["type"] == "pong":
            return got
        got.append(frame)


@settings(
    max_examples=300,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(frame=frames)
def test_every_hostile_frame_gets_a_spec_answer(
    attacker: ClientConnection, frame: str | bytes
) -> None:
    attacker.send(frame)
    for reply in answers(attacker):
        assert reply["type"] in {"error", "pong", "subscribed", "unsubscribed", "metrics.snapshot"}
        if reply["type"] == "error":
            assert reply["code"] in {
                "invalid_json",
                "invalid_message",
                "unknown_type",
                "unsupported_frame",
                "unauthorized",
            }


def test_a_bystander_never_notices(server: ServerThread, attacker: ClientConnection) -> None:
    with connect(server.server.url, compression=None, open_timeout=5) as bystander:
        assert json.loads(bystander.recv(timeout=5))["type"] == "welcome"
        attacker.send("\x00garbage")
        bystander.send(json.dumps({"type": "ping", "id": "calm"}))
        assert json.loads(bystander.recv(timeout=5))["id"] == "calm"
    # Only the attacker is left, still connected (the bystander's close lands on the server's loop).
    assert server.run(clients_settle_at(server, 1)) == 1


async def clients_settle_at(server: ServerThread, count: int) -> int:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 5
    while len(server.hub.clients) != count and loop.time() < deadline:
        await asyncio.sleep(0.01)
    return len(server.hub.clients)
