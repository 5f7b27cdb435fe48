"""Small AsyncAPI documents for tests: one valid baseline that each test bends its own way."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

WriteSpec = Callable[..., Path]


def minimal(**overrides: Any) -> dict[str, Any]:
    """A valid WebSocket document: one channel, a ping/pong request-reply and a pushed tick."""
    doc: dict[str, Any] = {
        "asyncapi": "3.0.0",
        "info": {"title": "Tick Feed", "version": "1.2.0", "description": "Ticks and pings."},
        "servers": {"local": {"host": "localhost:9000", "protocol": "ws", "pathname": "/ws"}},
        "channels": {
            "live": {
                "address": "/ws",
                "messages": {
                    "ping": {"$ref": "#/components/messages/ping"},
                    "pong": {"$ref": "#/components/messages/pong"},
                    "tick": {"$ref": "#/components/messages/tick"},
                },
            }
        },
        "operations": {
            "ping": {
                "action": "receive",
                "channel": {"$ref": "#/channels/live"},
                "messages": [{"$ref": "#/channels/live/messages/ping"}],
                "reply": {
                    "channel": {"$ref": "#/channels/live"},
                    "messages": [{"$ref": "#/channels/live/messages/pong"}],
                },
            },
            "sendTick": {
                "action": "send",
                "channel": {"$ref": "#/channels/live"},
                "messages": [{"$ref": "#/channels/live/messages/tick"}],
            },
        },
        "components": {
            "messages": {
                "ping": {
                    "name": "ping",
                    "correlationId": {"location": "$message.payload#/id"},
                    "payload": {"$ref": "#/components/schemas/Ping"},
                    "examples": [{"name": "first", "payload": {"type": "ping", "id": "p-1"}}],
                },
                "pong": {
                    "name": "pong",
                    "correlationId": {"location": "$message.payload#/id"},
                    "payload": {"$ref": "#/components/schemas/Pong"},
                    "examples": [{"payload": {"type": "pong", "id": "p-1"}}],
                },
                "tick": {
                    "name": "tick",
                    "title": "Tick",
                    "summary": "A price tick.",
                    "payload": {
                        "type": "object",
                        "additionalProperties": False,
                        "required": ["type", "price"],
                        "properties": {
                            "type": {"type": "string", "const": "tick"},
                            "price": {
                                "type": "number",
                                "minimum": 0,
                                "description": "Price in USD.",
                            },
                            "volume": {"type": ["integer", "null"]},
                        },
                    },
                    "examples": [
                        {"name": "t", "payload": {"type": "tick", "price": 1.5, "volume": None}}
                    ],
                },
            },
            "schemas": {
                "Ping": {
                    "type": "object",
                    "additionalProperties": False,
                    "required": ["type", "id"],
                    "properties": {
                        "type": {"type": "string", "const": "ping"},
                        "id": {"type": "string"},
                    },
                },
                "Pong": {
                    "type": "object",
                    "additionalProperties": False,
                    "required": ["type", "id"],
                    "properties": {
                        "type": {"type": "string", "const": "pong"},
                        "id": {"type": "string"},
                    },
                },
            },
        },
    }
    doc.update(overrides)
    return doc
