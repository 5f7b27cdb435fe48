"""Use the package that ``specwire generate`` made from ``docs/examples/tutorial/asyncapi.yaml``.

Run it with the folder you passed to ``--out``, as an argument or in ``PRICE_TICKER_OUT``::

    specwire generate docs/examples/tutorial/asyncapi.yaml --out /tmp/ticker
    python docs/examples/tutorial/use_generated.py /tmp/ticker
"""

from __future__ import annotations

import importlib.util
import json
import os
import sys
from pathlib import Path

# The generated package is a plain folder: make the folder that holds it importable.
_out = sys.argv[1] if len(sys.argv) > 1 else os.environ.get("PRICE_TICKER_OUT")
if _out:
    sys.path.insert(0, str(Path(_out).resolve()))
if importlib.util.find_spec("price_ticker") is None:
    sys.exit("price_ticker not found: pass the folder you gave `specwire generate --out`")

# mypy finds the package when MYPYPATH names the same folder.
from price_ticker import (  # type: ignore[import-not-found, unused-ignore]  # noqa: E402
    Error,
    Price,
    Subscribe,
    Subscribed,
    Unsubscribe,
    decode_client_message,
    decode_server_message,
    encode,
)
from pydantic import MISSING, ValidationError  # noqa: E402


def json_pointer(loc: tuple[int | str, ...]) -> str:
    """An RFC 6901 JSON Pointer from a pydantic error location.

    When a frame is decoded through a discriminated union, the first item of
    ``loc`` is the tag value that picked the model (``"subscribe"``), not a
    key of the frame, so it is left out.
    """
    tokens = (str(token).replace("~", "~0").replace("/", "~1") for token in loc[1:])
    return "".join("/" + token for token in tokens)


def request_id(frame: bytes) -> str | None:
    """The ``id`` of a frame that failed validation, when one can still be read."""
    try:
        value = json.loads(frame)
    except ValueError:
        return None
    found = value.get("id") if isinstance(value, dict) else None
    return found if isinstance(found, str) and found else None


def handle(frame: bytes) -> bytes:
    """Answer one client frame the way a server would: with a reply or an error."""
    reply: Subscribed | Error
    try:
        message = decode_client_message(frame)
    except ValidationError as exc:
        first = exc.errors()[0]
        echoed = request_id(frame)
        reply = Error(
            type="error",
            id=MISSING if echoed is None else echoed,  # MISSING: left out of the frame
            code="invalid_message",
            message=first["msg"],
            path=json_pointer(first["loc"]),
        )
    else:
        match message:
            case Subscribe():
                reply = Subscribed(type="subscribed", id=message.id, symbols=message.symbols)
            case Unsubscribe():
                return b""  # the document defines no reply to unsubscribe
    data: bytes = encode(reply)
    return data


def main() -> None:
    # 1. A valid frame becomes a typed, frozen model.
    request = decode_client_message(b'{"type": "subscribe", "id": "req-1", "symbols": ["ACME"]}')
    print(type(request).__name__, request)

    # 2. An invalid frame raises ValidationError; each error has a location.
    bad = b'{"type": "subscribe", "id": "req-2", "symbols": ["acme", 42], "limit": 5}'
    try:
        decode_client_message(bad)
    except ValidationError as exc:
        for problem in exc.errors():
            print(f"{json_pointer(problem['loc']) or '/'}: {problem['msg']} [{problem['type']}]")

    # 3. A server answers both frames with reply models, encoded to bytes.
    print(handle(b'{"type": "subscribe", "id": "req-1", "symbols": ["ACME", "INITECH"]}'))
    print(handle(bad))

    # 4. Optional fields that were not set are MISSING, and left out of the frame.
    error = Error(type="error", code="unknown_symbol", message="No such symbol.")
    print(error.id is MISSING, encode(error))

    # 5. The other direction: the server's messages, as a client decodes them.
    tick = Price(type="price", symbol="ACME", price=101.25, timestamp_ms=1750000000000)
    received = decode_server_message(encode(tick))
    print(received, received == tick)


if __name__ == "__main__":
    main()
