"""Who is connecting, and from which page: tokens, principals and the Origin check.

The AsyncAPI document (``components.securitySchemes`` ``bearerToken`` and
``queryToken``) accepts a token at the handshake, in the ``Authorization: Bearer``
header or the ``token`` query parameter, or later in-band with the ``auth``
operation. Whatever the route, a :class:`TokenVerifier` turns the token into a
:class:`Principal` whose scopes gate the ``live`` channel's subscriptions
(``metrics:read``, ``topics:read``, ``groups:read``, ``cluster:read``), or raises
:class:`InvalidToken`, which the hub answers with HTTP 401 at the handshake and an
``unauthorized`` error in-band.

Nothing here touches a socket. Verifiers are ``async`` so one backed by a remote
introspection endpoint fits the same seam; the two shipped here never await.
Time comes from an injected clock, so expiry is tested without sleeping.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import re
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import parse_qsl

import jwt
from jwt.types import Options

__all__ = [
    "InvalidToken",
    "JWTVerifier",
    "OriginPolicy",
    "Principal",
    "StaticTokenVerifier",
    "TokenVerifier",
    "token_from_handshake",
]


@dataclass(frozen=True)
class Principal:
    """The authenticated party of a session and what it may read.

    ``expires_at_ms`` is when the session's credentials lapse: the hub closes the
    connection with 1008 then unless the client refreshed its token in-band.
    """

    subject: str
    scopes: frozenset[str]
    expires_at_ms: int | None = None
    """Unix epoch milliseconds, UTC; ``None`` never expires."""

    def allows(self, scope: str) -> bool:
        """``"*"`` stands for every scope, for operators and development tokens."""
        return scope in self.scopes or "*" in self.scopes

    def expired(self, now_ms: int) -> bool:
        """Expired *at* ``expires_at_ms``, as RFC 7519 section 4.1.4 reads ``exp``."""
        return self.expires_at_ms is not None and now_ms >= self.expires_at_ms


class InvalidToken(Exception):
    """The peer presented a token we do not accept.

    ``reason`` is short, fixed text that is safe to send to the client: it never
    echoes the token, which may be a live credential for another service, and it
    never says more than the client needs to fix its request.
    """

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class TokenVerifier(Protocol):
    """The seam between the hub and whatever issues tokens."""

    async def verify(self, token: str) -> Principal:
        """Return the token's principal, or raise :class:`InvalidToken`."""
        ...


class StaticTokenVerifier:
    """A fixed table of tokens, for development and tests.

    Every lookup compares the candidate with *every* known token using
    :func:`hmac.compare_digest` and never stops at the first match, so neither the
    position of a match nor a shared prefix shows in the response time. Both sides
    are SHA-256 digests, so a token's length does not show either (compare_digest
    returns early on a length mismatch). Expiry is
    left to the caller through :meth:`Principal.expired`: this verifier has no
    clock, and a static table outlives any single check.
    """

    def __init__(self, tokens: Mapping[str, Principal]) -> None:
        if any(not token for token in tokens):
            raise ValueError("a static token must not be empty")
        self._entries = tuple((_digest(token), principal) for token, principal in tokens.items())

    async def verify(self, token: str) -> Principal:
        candidate = _digest(token)
        found: Principal | None = None
        for known, principal in self._entries:
            if hmac.compare_digest(known, candidate):
                found = principal
        if found is None:
            raise InvalidToken("unknown token")
        return found


def _digest(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


_HMAC_DIGEST_BYTES = {
    "HS256": hashlib.sha256().digest_size,
    "HS384": hashlib.sha384().digest_size,
    "HS512": hashlib.sha512().digest_size,
}

# PyJWT checks the signature, the algorithm allow-list, aud and iss. The time
# claims and the subject are checked here: PyJWT reads the wall clock, not ours.
_DECODE_OPTIONS: Options = {
    "verify_signature": True,
    "verify_exp": False,
    "verify_nbf": False,
    "verify_iat": False,
    "verify_sub": False,
    "verify_aud": True,
    "verify_iss": True,
}


class JWTVerifier:
    """HMAC-signed JSON Web Tokens (RFC 7519, signed as a JWS per RFC 7515).

    Only ``HS256``, ``HS384`` and ``HS512`` are accepted, and only the ones named
    in ``algorithms``: the allow-list is fixed here, never read from the token's
    header, so ``alg: none`` and algorithm-confusion tokens (an ``RS256`` header
    with an HMAC key) fail as a bad signature (RFC 8725 sections 2.1 and 3.1).

    Claims:

    - ``sub`` (RFC 7519 section 4.1.2) is required and becomes the subject: a
      session must be attributable to someone.
    - ``scope_claim`` (``scope`` by default) is a space-delimited string, as in
      RFC 8693 section 4.2 and RFC 6749 section 3.3, or a list of strings; absent
      means no scopes.
    - ``exp`` (4.1.4), ``nbf`` (4.1.5) and ``iat`` (4.1.6) are optional and are
      checked against ``clock`` with ``leeway_s`` of tolerance for clock skew; an
      ``iat`` in the future is refused like an ``nbf`` in the future.
    - ``aud`` (4.1.3) must contain ``audience`` when one is configured; a token
      that names an audience is refused by a verifier that has none, as 4.1.3
      requires. ``iss`` (4.1.1) must equal ``issuer`` when one is configured.

    The principal's ``expires_at_ms`` is ``exp`` plus the leeway: the instant
    this verifier itself would start refusing the token, so a session is not cut
    the moment after a handshake the same token just passed.
    """

    def __init__(
        self,
        secret: str | bytes,
        *,
        algorithms: Sequence[str] = ("HS256",),
        audience: str | None = None,
        issuer: str | None = None,
        leeway_s: float = 0.0,
        scope_claim: str = "scope",
        clock: Callable[[], float] = time.time,
    ) -> None:
        if isinstance(algorithms, str):
            raise ValueError("algorithms must be a sequence of names, not one string")
        if not algorithms:
            raise ValueError("at least one algorithm is required")
        refused = [name for name in algorithms if name not in _HMAC_DIGEST_BYTES]
        if refused:
            raise ValueError(
                f"only HMAC algorithms (HS256, HS384, HS512) are supported, not {refused}"
            )
        key = secret.encode() if isinstance(secret, str) else secret
        # RFC 7518 section 3.2: the key MUST be at least as long as the hash output.
        # PyJWT would otherwise warn on every verification.
        needed = max(_HMAC_DIGEST_BYTES[name] for name in algorithms)
        if len(key) < needed:
            raise ValueError(
                f"an HMAC secret for {', '.join(algorithms)} needs at least {needed} bytes "
                f"(RFC 7518 section 3.2), this one has {len(key)}"
            )
        try:
            # Refuses PEM, SSH and JWK material passed by mistake as a shared secret.
            jwt.get_algorithm_by_name("HS256").prepare_key(key)
        except jwt.InvalidKeyError as exc:
            raise ValueError(f"not usable as an HMAC secret: {exc}") from None
        if not math.isfinite(leeway_s) or leeway_s < 0:
            raise ValueError("leeway_s must be a finite number of seconds, at least 0")
        if not scope_claim:
            raise ValueError("scope_claim must name a claim")
        self._key = key
        self._algorithms = list(algorithms)
        self._audience = audience
        self._issuer = issuer
        self._leeway_s = leeway_s
        self._scope_claim = scope_claim
        self._clock = clock

    async def verify(self, token: str) -> Principal:
        claims = self._decode(token)
        now = self._clock()
        expires_at = _numeric_date(claims, "exp")
        if expires_at is not None and now - self._leeway_s >= expires_at:
            raise InvalidToken("token expired")
        for name in ("nbf", "iat"):
            starts_at = _numeric_date(claims, name)
            if starts_at is not None and now + self._leeway_s < starts_at:
                raise InvalidToken("token not yet valid")
        subject = claims.get("sub")
        if not isinstance(subject, str) or not subject:
            raise InvalidToken("token has no subject")
        return Principal(
            subject=subject,
            scopes=_scopes(claims.get(self._scope_claim)),
            expires_at_ms=(
                None if expires_at is None else math.floor((expires_at + self._leeway_s) * 1000)
            ),
        )

    def _decode(self, token: str) -> dict[str, Any]:
        try:
            return jwt.decode(
                token,
                self._key,
                algorithms=self._algorithms,
                options=_DECODE_OPTIONS,
                audience=self._audience,
                issuer=self._issuer,
            )
        except (jwt.InvalidSignatureError, jwt.InvalidAlgorithmError):
            raise InvalidToken("invalid token signature") from None
        except jwt.InvalidAudienceError:
            raise InvalidToken("wrong audience") from None
        except jwt.InvalidIssuerError:
            raise InvalidToken("wrong issuer") from None
        except jwt.MissingRequiredClaimError as exc:
            # Raised only for aud and iss, when this verifier expects one.
            raise InvalidToken("wrong audience" if exc.claim == "aud" else "wrong issuer") from None
        except jwt.InvalidTokenError:
            # Bad base64 or JSON, a header PyJWT refuses, a non-string jti: the
            # details may quote the token, so they stay on this side.
            raise InvalidToken("malformed token") from None


def _numeric_date(claims: Mapping[str, Any], name: str) -> float | None:
    """RFC 7519 section 2 NumericDate: a JSON number of seconds; bool is not one."""
    value = claims.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise InvalidToken("malformed token")
    return float(value)


def _scopes(value: object) -> frozenset[str]:
    if value is None:
        return frozenset()
    if isinstance(value, str):
        return frozenset(value.split())
    if isinstance(value, list) and all(isinstance(item, str) for item in value):
        return frozenset(item for item in value if item)
    raise InvalidToken("malformed token")


_CREDENTIALS = re.compile(r"\s*(?P<scheme>[A-Za-z][A-Za-z0-9!#$%&'*+.^_`|~-]*)\s+(?P<token>\S+)\s*")
_QUERY_TOKEN_NAMES = ("token", "access_token")


def token_from_handshake(
    headers: Mapping[str, str] | Iterable[tuple[str, str]], query: str
) -> str | None:
    """The bearer token a WebSocket handshake carries, or ``None`` without one.

    The ``Authorization`` header comes first (RFC 6750 section 2.1): the scheme
    and the header name match case-insensitively, spaces around the token are
    tolerated. The token's characters are not checked against RFC 6750's
    ``b64token`` grammar: a token the verifier does not know is refused with 401,
    where a token dropped here would quietly make the connection anonymous.
    Exactly one ``Authorization`` header must be present; another scheme
    (``Basic``), an empty token or several headers are ignored, and the query is
    tried instead.

    Then the query (RFC 6750 section 2.3, form-encoded, so ``+`` is a space): our
    spec names the parameter ``token``; RFC 6750's ``access_token`` is accepted
    too, ``token`` first. ``query`` is the raw query string, without ``?``.
    """
    from_header = _bearer_from_headers(headers)
    if from_header is not None:
        return from_header
    values = dict[str, str]()
    for name, value in parse_qsl(query, keep_blank_values=True):
        if name in _QUERY_TOKEN_NAMES and value and name not in values:
            values[name] = value
    for name in _QUERY_TOKEN_NAMES:
        if name in values:
            return values[name]
    return None


def _bearer_from_headers(headers: Mapping[str, str] | Iterable[tuple[str, str]]) -> str | None:
    values: list[str] = []
    if isinstance(headers, Mapping):
        # Not headers.items(): websockets' Headers raises MultipleValuesError (a
        # LookupError) from __getitem__ for a repeated header, which is ambiguous.
        for name in headers:
            if name.lower() == "authorization":
                try:
                    values.append(headers[name])
                except LookupError:
                    return None
    else:
        values = [value for name, value in headers if name.lower() == "authorization"]
    if len(values) != 1:
        return None
    match = _CREDENTIALS.fullmatch(values[0])
    if match is None or match["scheme"].lower() != "bearer":
        return None
    return match["token"]


_DEFAULT_PORTS = {"http": 80, "https": 443}
_ORIGIN = re.compile(
    r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*)://"
    r"(?P<host>\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._~-]+)"
    r"(?::(?P<port>[0-9]{1,5}))?"
)


def _parse_origin(origin: str) -> tuple[str, str, int | None] | None:
    """RFC 6454 section 6.2 serialisation: ``scheme://host[:port]``, nothing more."""
    match = _ORIGIN.fullmatch(origin)
    if match is None:
        return None
    scheme = match["scheme"].lower()
    port = int(match["port"]) if match["port"] is not None else _DEFAULT_PORTS.get(scheme)
    if port is not None and not 0 < port <= 65535:
        return None
    return scheme, match["host"].lower(), port


@dataclass(frozen=True)
class OriginPolicy:
    """Which web pages may open a connection (RFC 6455 sections 4.1 and 10.2).

    A browser always sends ``Origin`` on a WebSocket handshake, and cookies or
    cached credentials ride along whatever the page, so checking it is how the
    hub keeps another site's page from talking to it in the user's name.
    Non-browser clients usually send no ``Origin`` at all; ``allow_missing``
    admits them.

    ``allowed`` holds origins serialised as in RFC 6454 (``https://host:port``,
    no path or trailing slash). Scheme and host compare case-insensitively and
    an omitted default port (``http`` 80, ``https`` 443) equals the explicit one;
    other ports must match exactly. ``"*"`` admits any ``Origin`` except the
    opaque ``null`` (sandboxed frames, ``file:`` and ``data:`` pages), which is
    admitted only when ``"null"`` itself is listed. An entry that is none of these
    raises :class:`ValueError`: a typo would otherwise refuse its page silently.
    """

    allowed: frozenset[str] = frozenset()
    allow_missing: bool = True
    _parsed: frozenset[tuple[str, str, int | None]] = field(
        init=False, repr=False, compare=False, default=frozenset()
    )

    def __post_init__(self) -> None:
        parsed = set()
        for entry in self.allowed:
            if entry in ("*", "null"):
                continue
            origin = _parse_origin(entry)
            if origin is None:
                raise ValueError(
                    f"not an origin: {entry!r} (expected scheme://host[:port], '*' or 'null')"
                )
            parsed.add(origin)
        object.__setattr__(self, "_parsed", frozenset(parsed))

    @classmethod
    def from_strings(cls, origins: Iterable[str]) -> OriginPolicy:
        """Build from configuration text; surrounding whitespace is dropped."""
        return cls(allowed=frozenset(origin.strip() for origin in origins))

    def allows(self, origin: str | None) -> bool:
        if origin is None:
            return self.allow_missing
        if origin == "null":
            return "null" in self.allowed
        if "*" in self.allowed:
            return True
        parsed = _parse_origin(origin)
        return parsed is not None and parsed in self._parsed
