"""Serve the price ticker of ``docs/examples/hub/asyncapi.yaml`` with a specwire hub.

Generate the package, then run this script with the folder you passed to ``--out``
(as an argument or in ``PRICE_TICKER_OUT``)::

    specwire generate docs/examples/hub/asyncapi.yaml --out /tmp/ticker-hub
    python docs/examples/hub/serve_price_ticker.py /tmp/ticker-hub --port 8080

It serves ``ws://127.0.0.1:PORT/prices`` (``--port 0`` picks a free port; the URL is
printed), publishes a price for every symbol each ``--interval`` seconds, and stops
cleanly on SIGINT or SIGTERM: clients are closed with 1001 and the exit status is 0.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import itertools
import math
import os
import signal
import sys
from pathlib import Path
from typing import cast


def parse_arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Serve the price ticker with a specwire hub.")
    parser.add_argument(
        "out",
        nargs="?",
        default=os.environ.get("PRICE_TICKER_OUT"),
        help="the folder given to `specwire generate --out` (default: $PRICE_TICKER_OUT)",
    )
    parser.add_argument(
        "--port", type=int, default=8080, help="port on 127.0.0.1; 0 picks a free one"
    )
    parser.add_argument(
        "--interval", type=float, default=1.0, help="seconds between two rounds of prices"
    )
    return parser.parse_args()


# The generated package is a plain folder: make the folder that holds it importable.
ARGUMENTS = parse_arguments()
if ARGUMENTS.out:
    sys.path.insert(0, str(Path(ARGUMENTS.out).resolve()))
if importlib.util.find_spec("price_ticker") is None:
    sys.exit("price_ticker not found: pass the folder you gave `specwire generate --out`")

# mypy finds the package when MYPYPATH names the same folder.
import price_ticker  # type: ignore[import-not-found, unused-ignore]  # noqa: E402
from pydantic import BaseModel  # noqa: E402

from specwire.protocol import Problem, binding_for  # noqa: E402
from specwire.runtime.hub import ChannelKind, ChannelSpec, Client, Hub  # noqa: E402
from specwire.runtime.transports.native import start_server  # noqa: E402

try:
    from price_ticker import (  # type: ignore[import-not-found, unused-ignore]
        Error,
        Price,
        Subscribe,
        Subscribed,
        Unsubscribe,
        Welcome,
    )
except ImportError:
    sys.exit("price_ticker has no Welcome: generate it from docs/examples/hub/asyncapi.yaml")

OPENING_PRICES = {"ACME": 101.25, "GLOBEX": 48.10, "INITECH": 12.75, "UMBRELLA": 230.00}
MAX_REQUEST_ID = 64  # the document's maxLength for an `id`


def ticker_error(problem: Problem) -> BaseModel:
    """The document's ``error`` message for a problem the hub found in a client's frame.

    The hub calls this for every frame it rejects, so it must be able to spell every
    code the hub uses (they are in the document's ``Error.code`` enum).
    """
    fields: dict[str, object] = {"type": "error", "code": problem.code, "message": problem.message}
    if problem.request_id is not None and len(problem.request_id) <= MAX_REQUEST_ID:
        fields["id"] = problem.request_id
    if problem.details:
        fields["path"] = problem.details[0].path
    if problem.retry_after_ms is not None:
        fields["retry_after_ms"] = problem.retry_after_ms
    error: BaseModel = Error.model_validate(fields)
    return error


def welcome(hub: Hub, client: Client) -> BaseModel:
    """The first frame of every session (operation ``sendWelcome``)."""
    message: BaseModel = Welcome(type="welcome", session_id=client.id, symbols=sorted(hub.channels))
    return message


async def on_subscribe(hub: Hub, client: Client, message: BaseModel) -> BaseModel | None:
    """``subscribe`` -> ``subscribed``, then the latest price of each symbol, then live ones."""
    request = cast(Subscribe, message)
    for index, symbol in enumerate(request.symbols):
        if symbol not in hub.channels:
            refused: BaseModel = Error(
                type="error",
                id=request.id,
                code="unknown_symbol",
                message=f"no symbol {symbol}",
                path=f"/symbols/{index}",
            )
            return refused
    # No await from here on: no price is published between the reply and the subscription.
    hub.post(client, Subscribed(type="subscribed", id=request.id, symbols=request.symbols))
    for symbol in dict.fromkeys(request.symbols):
        hub.subscribe(client, symbol)
        latest = hub.snapshots[symbol].latest
        if latest is not None:
            hub.post(client, latest.frame, symbol, latest.seq)
    return None


async def on_unsubscribe(hub: Hub, client: Client, message: BaseModel) -> BaseModel | None:
    request = cast(Unsubscribe, message)
    for symbol in request.symbols:
        if symbol in hub.channels:
            hub.unsubscribe(client, symbol)
    return None  # the document defines no reply to unsubscribe


def build_hub() -> Hub:
    # A price replaces the one before it: each symbol is a snapshot channel, so a
    # slow client gets the latest price instead of a backlog.
    channels = [ChannelSpec(symbol, ChannelKind.SNAPSHOT, history=1) for symbol in OPENING_PRICES]
    hub = Hub(binding_for(price_ticker, ticker_error), channels, welcome=welcome)
    hub.on("subscribe")(on_subscribe)
    hub.on("unsubscribe")(on_unsubscribe)
    return hub


def quote(symbol: str, opening: float, tick: int) -> float:
    """A made-up price that wanders up to 2% around the opening one."""
    return round(opening * (1 + 0.02 * math.sin(tick / 5 + len(symbol))), 2)


async def publish_prices(hub: Hub, interval_s: float) -> None:
    for tick in itertools.count():
        for symbol, opening in OPENING_PRICES.items():
            price = Price(
                type="price",
                symbol=symbol,
                price=quote(symbol, opening, tick),
                timestamp_ms=hub.now_ms(),
            )
            hub.publish(symbol, price)  # validated and encoded once, for every subscriber
        await asyncio.sleep(interval_s)


async def serve(port: int, interval_s: float) -> None:
    hub = build_hub()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    prices = asyncio.create_task(publish_prices(hub, interval_s))
    server = await start_server(hub, "127.0.0.1", port, path="/prices")
    print(f"serving {server.url}", flush=True)
    await stop.wait()
    await server.shutdown()  # stop accepting, close every client with 1001, wait for them
    prices.cancel()
    await asyncio.gather(prices, return_exceptions=True)
    print("stopped", flush=True)


if __name__ == "__main__":
    asyncio.run(serve(ARGUMENTS.port, ARGUMENTS.interval))
