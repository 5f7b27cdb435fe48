"""Payloads generated from a message's JSON Schema with ``hypothesis-jsonschema``.

Generation is seeded, so a run is replayed with the same ``--seed``. It is an
optional extra: without ``hypothesis`` and ``hypothesis-jsonschema`` installed (they
come with specwire's ``dev`` extra), or for a schema they cannot handle, no payload
is generated and the reason is returned for the evidence.
"""

from __future__ import annotations

import json
from typing import Any

__all__ = ["generate_payloads"]


def generate_payloads(schema: dict[str, Any], count: int, seed: int) -> tuple[list[Any], str]:
    """Up to ``count`` distinct payloads valid against ``schema``, and a note on how it went."""
    if count <= 0:
        return [], "generation disabled"
    try:
        from hypothesis import HealthCheck, Phase, given, settings  # noqa: PLC0415
        from hypothesis import seed as seeded  # noqa: PLC0415
        from hypothesis_jsonschema import from_schema  # noqa: PLC0415
    except ImportError:
        return [], "hypothesis-jsonschema is not installed"

    found: list[Any] = []
    seen: set[str] = set()

    def keep(value: Any) -> None:
        key = json.dumps(value, sort_keys=True)
        if len(found) < count and key not in seen:
            seen.add(key)
            found.append(value)

    try:
        strategy = from_schema(schema)
        collect = seeded(seed)(
            settings(
                max_examples=count * 4,
                database=None,
                deadline=None,
                phases=[Phase.generate],
                suppress_health_check=list(HealthCheck),
                derandomize=False,
            )(given(strategy)(keep))
        )
        collect()
    except Exception as exc:  # hypothesis raises many kinds; any means "no payloads"
        return found, f"generation failed: {type(exc).__name__}: {str(exc)[:200]}"
    return found, f"{len(found)} generated (seed {seed})"
