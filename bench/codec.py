"""Cost of one frame through the generated codec: decode+validate, encode, and the oracle.

Measures, for each example frame of asyncapi.yaml's largest server message (the
``metrics.snapshot`` examples) and a small request (``subscribe``):

* ``decode``: ``decode_server_message`` / ``decode_client_message`` (bytes -> typed
  model through the discriminated union, one pydantic-core call);
* ``model``: ``MetricsSnapshot.model_validate_json`` (the member alone, no union);
* ``encode``: ``encode(model)`` (model -> compact JSON bytes);
* ``jsonschema``: the independent oracle (pure-Python ``jsonschema`` on the standalone
  message schema, after ``json.loads``), which tests use and the runtime does not.

Run: ``.venv/bin/python bench/codec.py`` (pin to a core with ``taskset -c 0`` for
steadier numbers). Prints microseconds per frame, the median of 5 runs.
"""

from __future__ import annotations

import json
import platform
import statistics
import sys
import timeit
from collections.abc import Callable
from functools import partial
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import yaml
from console_live_updates import (
    MetricsSnapshot,
    decode_client_message,
    decode_server_message,
    encode,
)

ROOT = Path(__file__).resolve().parents[1]
REPEATS = 5


def per_call_us(func: Callable[[], Any]) -> float:
    timer = timeit.Timer(func)
    number, _ = timer.autorange()
    runs = [t / number * 1e6 for t in timer.repeat(repeat=REPEATS, number=number)]
    return statistics.median(runs)


def examples(message_id: str) -> list[dict[str, Any]]:
    doc = yaml.safe_load((ROOT / "asyncapi.yaml").read_text(encoding="utf-8"))
    return [e["payload"] for e in doc["components"]["messages"][message_id]["examples"]]


def oracle(message_id: str) -> jsonschema.Draft7Validator:
    schemas = resources.files("console_live_updates") / "schemas" / "messages"
    schema = json.loads((schemas / f"{message_id}.json").read_text(encoding="utf-8"))
    return jsonschema.Draft7Validator(schema)


def check_with_oracle(validator: jsonschema.Draft7Validator, frame: bytes) -> None:
    validator.validate(json.loads(frame))


def main() -> None:
    print(f"python {platform.python_version()} on {platform.machine()}, {platform.platform()}")
    print(f"{'frame':<34}{'bytes':>7}{'decode':>10}{'model':>10}{'encode':>10}{'jsonschema':>12}")
    cases: list[tuple[str, str, Callable[[bytes], Any], Any]] = [
        ("metricsSnapshot", "server", decode_server_message, MetricsSnapshot),
        ("subscribe", "client", decode_client_message, None),
    ]
    for message_id, _, decode, model in cases:
        validator = oracle(message_id)
        for index, payload in enumerate(examples(message_id)):
            frame = json.dumps(payload, separators=(",", ":")).encode()
            decoded = decode(frame)
            decode_us = per_call_us(partial(decode, frame))
            model_us = per_call_us(partial(model.model_validate_json, frame)) if model else None
            encode_us = per_call_us(partial(encode, decoded))
            oracle_us = per_call_us(partial(check_with_oracle, validator, frame))
            model_cell = f"{model_us:>10.1f}" if model_us is not None else f"{'-':>10}"
            label = f"{message_id}[{index}]".ljust(34)
            print(f"{label}{len(frame):>7}{decode_us:>10.1f}{model_cell}", end="")
            print(f"{encode_us:>10.1f}{oracle_us:>12.1f}")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
