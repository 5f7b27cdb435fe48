"""Console messages for tests, built for the position the hub gives them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml
from console_live_updates import MetricsSnapshot, TopicCreated, TopicInfo

from specwire.runtime.hub import Position

REPO = Path(__file__).resolve().parents[1]


def topic_created(name: str, config: dict[str, str] | None = None) -> Any:
    def build(position: Position) -> TopicCreated:
        return TopicCreated(
            type="topic.created",
            channel="topics",
            epoch=position.epoch,
            seq=position.seq,
            timestamp_ms=1750000000000,
            topic=TopicInfo(name=name, partitions=3, replication_factor=3, config=config or {}),
            source="api",
        )

    return build


def snapshot_factory() -> Any:
    doc = yaml.safe_load((REPO / "asyncapi.yaml").read_text(encoding="utf-8"))
    example = doc["components"]["messages"]["metricsSnapshot"]["examples"][0]["payload"]

    def build(position: Position) -> MetricsSnapshot:
        return MetricsSnapshot.model_validate_json(
            json.dumps({**example, "epoch": position.epoch, "seq": position.seq})
        )

    return build
