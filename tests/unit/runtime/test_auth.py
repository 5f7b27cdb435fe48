"""specwire.runtime.auth: tokens to principals, handshake token extraction, the Origin check."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import hmac
import json
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar
from urllib.parse import quote

import jwt
import pytest
from hypothesis import given
from hypothesis import strategies as st
from starlette.datastructures import Headers as StarletteHeaders
from websockets.datastructures import Headers as WebsocketsHeaders

from specwire.runtime.auth import (
    InvalidToken,
    JWTVerifier,
    OriginPolicy,
    Principal,
    StaticTokenVerifier,
    TokenVerifier,
    token_from_handshake,
)

NOW = 1_700_000_000.0
HMAC_KEY = "s3cret-for-tests-only-32-bytes!!"
OTHER_HMAC_KEY = "another-secret-also-32-bytes-ok!"
ALICE = Principal("alice", frozenset({"metrics:read", "topics:read"}))

T = TypeVar("T")


def run(coroutine: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coroutine)


def clock_at(now: float) -> Callable[[], float]:
    return lambda: now


def sign(claims: dict[str, Any], key: str = HMAC_KEY, algorithm: str = "HS256") -> str:
    return jwt.encode(claims, key, algorithm=algorithm)


def b64(data: dict[str, Any] | bytes) -> str:
    raw = data if isinstance(data, bytes) else json.dumps(data).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def sign_raw(payload: dict[str, Any] | bytes, header: dict[str, Any] | None = None) -> str:
    """An HS256 token PyJWT's encoder would refuse to produce: a signature over anything."""
    signing_input = f"{b64(header or {'alg': 'HS256', 'typ': 'JWT'})}.{b64(payload)}"
    signature = hmac.digest(HMAC_KEY.encode(), signing_input.encode(), "sha256")
    return f"{signing_input}.{b64(signature)}"


def verifier(**kwargs: Any) -> JWTVerifier:
    kwargs.setdefault("clock", clock_at(NOW))
    return JWTVerifier(HMAC_KEY, **kwargs)


def refused(verifier: TokenVerifier, token: str) -> str:
    """The reason ``token`` is refused; it must never quote the token."""
    with pytest.raises(InvalidToken) as caught:
        run(verifier.verify(token))
    reason = caught.value.reason
    assert str(caught.value) == reason
    if token:
        assert token not in reason
    return reason


# Principal


def test_principal_allows_its_scopes_only() -> None:
    assert ALICE.allows("metrics:read")
    assert not ALICE.allows("cluster:read")


def test_star_scope_allows_every_scope() -> None:
    admin = Principal("ops", frozenset({"*"}))
    assert admin.allows("cluster:read")
    assert admin.allows("anything:else")


def test_principal_expires_at_its_deadline() -> None:
    principal = Principal("alice", frozenset(), expires_at_ms=1_000)
    assert not principal.expired(999)
    assert principal.expired(1_000)
    assert principal.expired(5_000)


def test_principal_without_deadline_never_expires() -> None:
    assert not ALICE.expired(2**62)


# StaticTokenVerifier


def test_static_known_token_gives_its_principal() -> None:
    bob = Principal("bob", frozenset({"*"}))
    tokens = StaticTokenVerifier({"alice-token": ALICE, "bob-token": bob})
    assert run(tokens.verify("alice-token")) is ALICE
    assert run(tokens.verify("bob-token")) is bob


def test_static_unknown_token_is_refused() -> None:
    tokens = StaticTokenVerifier({"alice-token": ALICE})
    assert refused(tokens, "alice-tokeN") == "unknown token"
    assert refused(tokens, "") == "unknown token"
    assert refused(tokens, "älice-tøken") == "unknown token"


@pytest.mark.parametrize("candidate", ["t1", "t3", "nope"])
def test_static_lookup_compares_with_every_token(
    monkeypatch: pytest.MonkeyPatch, candidate: str
) -> None:
    """A match, a late match and a miss all take the same constant-time path."""
    compared: list[bytes] = []
    real = hmac.compare_digest

    def spy(a: bytes, b: bytes) -> bool:
        compared.append(a)
        return real(a, b)

    monkeypatch.setattr(hmac, "compare_digest", spy)
    tokens = StaticTokenVerifier({f"t{i}": ALICE for i in range(1, 4)})
    with contextlib.suppress(InvalidToken):
        run(tokens.verify(candidate))
    assert sorted(compared) == sorted(
        hashlib.sha256(t.encode()).digest() for t in ("t1", "t2", "t3")
    )


def test_static_empty_token_is_refused_at_construction() -> None:
    with pytest.raises(ValueError, match="empty"):
        StaticTokenVerifier({"": ALICE})


def test_static_verifier_is_a_token_verifier() -> None:
    tokens: TokenVerifier = StaticTokenVerifier({"x": ALICE})
    assert run(tokens.verify("x")) is ALICE


# JWTVerifier: accepted tokens


def test_jwt_with_scope_string() -> None:
    token = sign({"sub": "alice", "scope": "metrics:read  topics:read", "exp": NOW + 60})
    principal = run(verifier().verify(token))
    assert principal == Principal(
        "alice", frozenset({"metrics:read", "topics:read"}), int((NOW + 60) * 1000)
    )


def test_jwt_with_scope_list_and_custom_claim() -> None:
    token = sign({"sub": "alice", "scp": ["cluster:read", "", "groups:read"]})
    principal = run(verifier(scope_claim="scp").verify(token))
    assert principal.scopes == frozenset({"cluster:read", "groups:read"})
    assert principal.expires_at_ms is None


def test_jwt_without_scopes_has_none() -> None:
    principal = run(verifier().verify(sign({"sub": "alice"})))
    assert principal.scopes == frozenset()


@pytest.mark.parametrize("algorithm", ["HS384", "HS512"])
def test_jwt_other_hmac_algorithms(algorithm: str) -> None:
    secret = HMAC_KEY * 2
    token = sign({"sub": "alice"}, key=secret, algorithm=algorithm)
    checker = JWTVerifier(secret, algorithms=("HS256", algorithm), clock=clock_at(NOW))
    assert run(checker.verify(token)).subject == "alice"


def test_jwt_bytes_secret() -> None:
    checker = JWTVerifier(HMAC_KEY.encode(), clock=clock_at(NOW))
    assert run(checker.verify(sign({"sub": "alice"}))).subject == "alice"


def test_jwt_audience_and_issuer_match() -> None:
    checker = verifier(audience="specwire", issuer="https://id.example.com")
    token = sign({"sub": "alice", "aud": ["other", "specwire"], "iss": "https://id.example.com"})
    assert run(checker.verify(token)).subject == "alice"


def test_jwt_uses_the_injected_clock_not_the_wall_clock() -> None:
    """A token that expired in 2001 is valid for a clock set to 2000."""
    token = sign({"sub": "alice", "exp": 1_000_000_000, "iat": 900_000_000})
    principal = run(verifier(clock=clock_at(950_000_000)).verify(token))
    assert principal.expires_at_ms == 1_000_000_000_000


# JWTVerifier: time claims


def test_jwt_expired() -> None:
    assert refused(verifier(), sign({"sub": "alice", "exp": NOW - 1})) == "token expired"


def test_jwt_expires_at_exp_exactly() -> None:
    assert refused(verifier(), sign({"sub": "alice", "exp": NOW})) == "token expired"


def test_jwt_expired_within_leeway_is_accepted_until_the_leeway_ends() -> None:
    token = sign({"sub": "alice", "exp": NOW - 1})
    principal = run(verifier(leeway_s=5).verify(token))
    # The principal lapses when this verifier would start refusing the token.
    assert principal.expires_at_ms == int((NOW + 4) * 1000)
    assert not principal.expired(int(NOW * 1000))
    assert refused(verifier(leeway_s=5, clock=clock_at(NOW + 4)), token) == "token expired"


def test_jwt_expired_beyond_leeway() -> None:
    token = sign({"sub": "alice", "exp": NOW - 30})
    assert refused(verifier(leeway_s=5), token) == "token expired"


def test_jwt_fractional_exp() -> None:
    token = sign({"sub": "alice", "exp": NOW + 0.25})
    assert run(verifier().verify(token)).expires_at_ms == int(NOW * 1000) + 250


@pytest.mark.parametrize("claim", ["nbf", "iat"])
def test_jwt_not_yet_valid(claim: str) -> None:
    token = sign({"sub": "alice", claim: NOW + 10})
    assert refused(verifier(), token) == "token not yet valid"
    assert run(verifier(leeway_s=10).verify(token)).subject == "alice"


def test_jwt_valid_from_nbf_exactly() -> None:
    token = sign({"sub": "alice", "nbf": NOW, "iat": NOW})
    assert run(verifier().verify(token)).subject == "alice"


@pytest.mark.parametrize("value", ["tomorrow", True, [1], float("inf")])
@pytest.mark.parametrize("claim", ["exp", "nbf", "iat"])
def test_jwt_time_claim_that_is_not_a_number(claim: str, value: object) -> None:
    assert refused(verifier(), sign({"sub": "alice", claim: value})) == "malformed token"


# JWTVerifier: refused tokens


def test_jwt_bad_signature() -> None:
    """A payload swapped under a genuine signature (scope escalation)."""
    header, _, signature = sign({"sub": "alice", "scope": "metrics:read"}).split(".")
    forged = f"{header}.{b64({'sub': 'alice', 'scope': '*'})}.{signature}"
    assert refused(verifier(), forged) == "invalid token signature"


def test_jwt_signed_with_another_key() -> None:
    token = sign({"sub": "alice"}, key=OTHER_HMAC_KEY)
    assert refused(verifier(), token) == "invalid token signature"


def test_jwt_alg_none_is_refused() -> None:
    token = jwt.encode({"sub": "alice", "scope": "*"}, None, algorithm="none")
    assert token.endswith(".")
    assert refused(verifier(), token) == "invalid token signature"


def test_jwt_rs256_token_is_refused() -> None:
    token = f"{b64({'alg': 'RS256', 'typ': 'JWT'})}.{b64({'sub': 'alice'})}.c2lnbmF0dXJl"
    assert refused(verifier(), token) == "invalid token signature"


def test_jwt_algorithm_outside_the_allow_list_is_refused() -> None:
    token = sign({"sub": "alice"}, key=HMAC_KEY * 2, algorithm="HS512")
    checker = JWTVerifier(HMAC_KEY * 2, clock=clock_at(NOW))
    assert refused(checker, token) == "invalid token signature"


def test_jwt_token_without_alg_is_refused() -> None:
    token = f"{b64({'typ': 'JWT'})}.{b64({'sub': 'alice'})}.c2lnbmF0dXJl"
    assert refused(verifier(), token) == "invalid token signature"


@pytest.mark.parametrize(
    "claims",
    [{"sub": "alice", "aud": "someone-else"}, {"sub": "alice"}, {"sub": "alice", "aud": 7}],
)
def test_jwt_wrong_or_missing_audience(claims: dict[str, Any]) -> None:
    assert refused(verifier(audience="specwire"), sign(claims)) == "wrong audience"


def test_jwt_audience_the_verifier_does_not_expect() -> None:
    """RFC 7519 section 4.1.3: a token for a named audience is not for us."""
    assert refused(verifier(), sign({"sub": "alice", "aud": "specwire"})) == "wrong audience"


@pytest.mark.parametrize(
    "claims",
    [{"sub": "alice", "iss": "https://evil.example.com"}, {"sub": "alice"}, {"sub": "a", "iss": 1}],
)
def test_jwt_wrong_or_missing_issuer(claims: dict[str, Any]) -> None:
    checker = verifier(issuer="https://id.example.com")
    assert refused(checker, sign_raw(claims)) == "wrong issuer"


@pytest.mark.parametrize("claims", [{}, {"sub": ""}, {"sub": 42}, {"sub": None}])
def test_jwt_without_a_subject(claims: dict[str, Any]) -> None:
    assert refused(verifier(), sign(claims)) == "token has no subject"


@pytest.mark.parametrize("scope", [42, {"metrics:read": True}, ["metrics:read", 1]])
def test_jwt_scope_claim_of_the_wrong_type(scope: object) -> None:
    assert refused(verifier(), sign({"sub": "alice", "scope": scope})) == "malformed token"


@pytest.mark.parametrize(
    "token",
    [
        "",
        "garbage",
        "a.b.c",
        "...",
        sign_raw(b"not json"),
        sign_raw(b'["a", "list"]'),
        sign_raw({"sub": "alice"}, header={"alg": "HS256", "crit": ["exp"]}),
        f"{b64({'alg': 'HS256'})}.{b64({'sub': 'alice'})}.c2ln!",
        f"{b64({'alg': 'HS256', 'kid': 5})}.{b64({'sub': 'alice'})}.c2ln",
    ],
)
def test_jwt_garbage(token: str) -> None:
    assert refused(verifier(), token) == "malformed token"


def test_jwt_unsigned_garbage_is_a_bad_signature() -> None:
    """The signature is checked before the payload is even parsed."""
    token = f"{b64({'alg': 'HS256'})}.{b64(b'not json')}.c2ln"
    assert refused(verifier(), token) == "invalid token signature"


def test_jwt_non_string_jti_is_malformed() -> None:
    assert refused(verifier(), sign_raw({"sub": "alice", "jti": 5})) == "malformed token"


REASONS = {
    "token expired",
    "token not yet valid",
    "invalid token signature",
    "malformed token",
    "wrong audience",
    "wrong issuer",
    "token has no subject",
}


_CLAIM_VALUES = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()
    | st.text(max_size=8)
    | st.lists(st.text(max_size=4), max_size=2)
)
_CLAIMS = st.dictionaries(
    st.sampled_from(["sub", "exp", "nbf", "iat", "aud", "iss", "jti", "scope"]), _CLAIM_VALUES
)


@given(st.text(max_size=200) | st.builds(sign_raw, _CLAIMS))
def test_jwt_reason_comes_from_a_fixed_vocabulary(token: str) -> None:
    """So it cannot quote the token, or anything else the client sent."""
    reason: str | None = None
    try:
        run(verifier(audience="specwire", issuer="me").verify(token))
    except InvalidToken as refusal:
        reason = refusal.reason
    assert reason is None or reason in REASONS


# JWTVerifier: construction


@pytest.mark.parametrize("algorithms", [("RS256",), ("HS256", "ES256"), ("none",), ("hs256",)])
def test_jwt_refuses_non_hmac_algorithms(algorithms: tuple[str, ...]) -> None:
    with pytest.raises(ValueError, match="only HMAC"):
        JWTVerifier(HMAC_KEY, algorithms=algorithms)


def test_jwt_refuses_no_algorithms() -> None:
    with pytest.raises(ValueError, match="at least one"):
        JWTVerifier(HMAC_KEY, algorithms=())


def test_jwt_refuses_one_algorithm_string() -> None:
    with pytest.raises(ValueError, match="sequence"):
        JWTVerifier(HMAC_KEY, algorithms="HS256")


@pytest.mark.parametrize(
    ("secret", "algorithms"), [("short", ("HS256",)), ("", ("HS256",)), (HMAC_KEY, ("HS512",))]
)
def test_jwt_refuses_secrets_shorter_than_the_hash(secret: str, algorithms: tuple[str]) -> None:
    with pytest.raises(ValueError, match="RFC 7518"):
        JWTVerifier(secret, algorithms=algorithms)


def test_jwt_refuses_a_public_key_as_secret() -> None:
    pem = "-----BEGIN PUBLIC KEY-----\n" + "A" * 64 + "\n-----END PUBLIC KEY-----\n"
    with pytest.raises(ValueError, match="HMAC secret"):
        JWTVerifier(pem)


@pytest.mark.parametrize("leeway", [-1.0, float("nan"), float("inf")])
def test_jwt_refuses_bad_leeway(leeway: float) -> None:
    with pytest.raises(ValueError, match="leeway"):
        JWTVerifier(HMAC_KEY, leeway_s=leeway)


def test_jwt_refuses_empty_scope_claim() -> None:
    with pytest.raises(ValueError, match="scope_claim"):
        JWTVerifier(HMAC_KEY, scope_claim="")


# token_from_handshake


@pytest.mark.parametrize(
    "value",
    ["Bearer abc.def-ghi", "bearer abc.def-ghi", "BEARER abc.def-ghi", "  Bearer   abc.def-ghi  "],
)
def test_bearer_header_variants(value: str) -> None:
    headers = {"Host": "hub", "Authorization": value, "Origin": "https://console.example.com"}
    assert token_from_handshake(headers, "") == "abc.def-ghi"


@pytest.mark.parametrize("name", ["authorization", "AUTHORIZATION", "Authorization"])
def test_header_name_is_case_insensitive(name: str) -> None:
    assert token_from_handshake([("Host", "hub"), (name, "Bearer t0k=")], "") == "t0k="


@pytest.mark.parametrize(
    "value", ["Basic dXNlcjpwYXNz", "Bearer", "Bearer ", "Bearer two tokens", "Bearertoken", ""]
)
def test_malformed_authorization_falls_back_to_the_query(value: str) -> None:
    assert token_from_handshake({"Authorization": value}, "token=q") == "q"
    assert token_from_handshake({"Authorization": value}, "") is None


def test_header_wins_over_query() -> None:
    assert token_from_handshake({"Authorization": "Bearer h"}, "token=q&access_token=a") == "h"


def test_repeated_authorization_headers_are_ambiguous_and_ignored() -> None:
    pairs = [("Authorization", "Bearer one"), ("authorization", "Bearer two")]
    assert token_from_handshake(pairs, "token=q") == "q"
    ws_headers = WebsocketsHeaders(pairs)
    assert token_from_handshake(ws_headers, "token=q") == "q"
    raw = [(name.lower().encode(), value.encode()) for name, value in pairs]
    assert token_from_handshake(StarletteHeaders(raw=raw), "token=q") == "q"


def test_server_header_types() -> None:
    ws_headers = WebsocketsHeaders([("Authorization", "Bearer w")])
    assert token_from_handshake(ws_headers, "") == "w"
    starlette_headers = StarletteHeaders(raw=[(b"authorization", b"Bearer s")])
    assert token_from_handshake(starlette_headers, "") == "s"


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("token=abc", "abc"),
        ("token=abc%2Fdef%3D%3D", "abc/def=="),
        ("v=1&token=%E2%9C%93&x", "✓"),
        ("access_token=a", "a"),
        ("access_token=a&token=b", "b"),
        ("token=&access_token=a", "a"),
        ("token=first&token=second", "first"),
        ("token=a+b", "a b"),
        ("token=a%2Bb", "a+b"),
        ("", None),
        ("token=", None),
        ("Token=abc", None),
        ("other=abc", None),
    ],
)
def test_query_token(query: str, expected: str | None) -> None:
    assert token_from_handshake({}, query) == expected


_NO_SPACE = st.characters(codec="latin-1", exclude_categories=("Z", "C"), exclude_characters=" \t")


@given(st.text(_NO_SPACE, min_size=1))
def test_any_header_token_round_trips(token: str) -> None:
    assert token_from_handshake([("authorization", f"Bearer {token}")], "") == token


@given(st.text(min_size=1))
def test_any_query_token_round_trips(token: str) -> None:
    assert token_from_handshake({}, f"token={quote(token, safe='')}") == token


# OriginPolicy

CONSOLE = "https://console.example.com"


def test_default_policy_admits_only_clients_without_origin() -> None:
    policy = OriginPolicy()
    assert policy.allows(None)
    assert not policy.allows(CONSOLE)
    assert not policy.allows("null")


def test_missing_origin_refused_when_disallowed() -> None:
    assert not OriginPolicy(frozenset({CONSOLE}), allow_missing=False).allows(None)


@pytest.mark.parametrize(
    "origin",
    [CONSOLE, "https://console.example.com:443", "HTTPS://Console.Example.COM"],
)
def test_listed_origin_with_default_port_and_any_case(origin: str) -> None:
    assert OriginPolicy.from_strings([CONSOLE]).allows(origin)


@pytest.mark.parametrize(
    "origin",
    [
        "http://console.example.com",
        "https://console.example.com:8443",
        "https://evil.example.com",
        "https://console.example.com.evil.com",
        "https://console.example.com/",
        "https://console.example.com/app",
        "console.example.com",
        "",
        "null",
    ],
)
def test_other_origins_are_refused(origin: str) -> None:
    assert not OriginPolicy.from_strings([CONSOLE]).allows(origin)


def test_explicit_ports() -> None:
    policy = OriginPolicy.from_strings(["http://localhost:8080", "http://hub.local:80"])
    assert policy.allows("http://localhost:8080")
    assert not policy.allows("http://localhost")
    assert not policy.allows("http://localhost:8081")
    assert policy.allows("http://hub.local")
    assert policy.allows("http://[::1]:8080") is False


def test_ipv6_and_other_schemes() -> None:
    policy = OriginPolicy.from_strings(["http://[::1]:8080", "chrome-extension://abcdef"])
    assert policy.allows("http://[::1]:8080")
    assert policy.allows("chrome-extension://ABCDEF")
    assert not policy.allows("chrome-extension://abcdef:1")


def test_star_admits_any_origin_but_null() -> None:
    policy = OriginPolicy.from_strings(["*"])
    assert policy.allows(CONSOLE)
    assert policy.allows("http://localhost:3000")
    assert policy.allows(None)
    assert not policy.allows("null")


def test_null_only_when_listed() -> None:
    assert OriginPolicy.from_strings(["null"]).allows("null")
    assert OriginPolicy.from_strings(["*", "null"]).allows("null")
    assert not OriginPolicy.from_strings(["null"]).allows(CONSOLE)


def test_from_strings_strips_whitespace() -> None:
    assert OriginPolicy.from_strings([f"  {CONSOLE}\n"]).allows(CONSOLE)


@pytest.mark.parametrize(
    "entry",
    [
        "https://console.example.com/",
        "https://console.example.com/app",
        "https://console.example.com?x=1",
        "https://user@console.example.com",
        "console.example.com",
        "https://",
        "https://a.com:99999",
        "https://a.com:0",
        "https://a.com:",
        "//a.com",
        "",
        "NULL",
        "**",
    ],
)
def test_from_strings_refuses_what_is_not_an_origin(entry: str) -> None:
    with pytest.raises(ValueError, match="not an origin"):
        OriginPolicy.from_strings([CONSOLE, entry])


def test_constructor_validates_too() -> None:
    with pytest.raises(ValueError, match="not an origin"):
        OriginPolicy(frozenset({"https://console.example.com/"}))


def test_policies_compare_by_configuration() -> None:
    assert OriginPolicy.from_strings([CONSOLE]) == OriginPolicy(frozenset({CONSOLE}))
    assert "_parsed" not in repr(OriginPolicy())
