"""``specwire serve`` settings: command-line flags over ``SPECWIRE_*`` environment variables."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

__all__ = ["ServeSettings"]


class ServeSettings(BaseSettings):
    """Every option of the reference console server, with its default.

    Each is also read from the environment as ``SPECWIRE_<NAME>`` (for example
    ``SPECWIRE_PORT=9000``, ``SPECWIRE_TRAFFIC=false``); a command-line flag wins over
    the environment. ``tokens`` and ``origins`` take comma-separated lists there.
    """

    model_config = SettingsConfigDict(env_prefix="SPECWIRE_", extra="forbid")

    host: str = "127.0.0.1"
    """Interface to listen on."""
    port: int = Field(default=8000, ge=0, le=65535)
    """TCP port; 0 picks a free one (the URLs printed at start say which)."""
    interval: float = Field(default=2.0, gt=0, le=3600)
    """Seconds between two ``metrics.snapshot`` messages."""
    tokens: Annotated[list[str], NoDecode] = Field(default_factory=list)
    """Static bearer tokens, each granting every scope (the four channels and ``admin``).
    With none and no ``jwt_secret``, the server takes no tokens: anyone may read, and
    the REST API's changes are open too."""
    jwt_secret: str | None = None
    """HMAC secret (at least 32 bytes) to accept HS256-signed JWTs whose ``scope``
    claim lists the scopes they grant."""
    origins: Annotated[list[str], NoDecode] = Field(default_factory=list)
    """Allowed browser ``Origin`` values for ``/ws`` (``*`` for any). Clients that
    send no ``Origin`` (non-browser clients) are always let in; with none listed,
    every browser page is refused (HTTP 403)."""
    engine: Literal["embedded"] = "embedded"
    """The cluster engine: ``embedded`` is an in-process model of a cluster."""
    brokers: int = Field(default=3, ge=1, le=64)
    """Brokers of the embedded cluster."""
    traffic: bool = True
    """Run the embedded engine's traffic generator (producers and consumer groups)."""
    seed: int | None = None
    """Seed of the embedded engine and its traffic, for a reproducible run."""
    max_connections: int = Field(default=10_000, ge=1)
    """WebSocket connections served at once; more are refused with HTTP 503."""
    log_level: Literal["debug", "info", "warning", "error"] = "info"

    @field_validator("tokens", "origins", mode="before")
    @classmethod
    def _split(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("jwt_secret")
    @classmethod
    def _long_enough(cls, value: str | None) -> str | None:
        if value is not None and len(value.encode()) < 32:
            raise ValueError("an HMAC secret must be at least 32 bytes")
        return value
