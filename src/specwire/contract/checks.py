"""The contract checks. Each reads only the AsyncAPI document, never a known protocol.

=====================  ===============================================================
``handshake``          With security schemes declared and credentials given: a
                       handshake without them is refused (HTTP 401/403, or the
                       connection is closed at once; when the document declares
                       in-band authentication, ``x-specwire-role: auth``, it may open
                       if its ``subscribe`` example then gets a declared error) and
                       one with them opens. Without schemes: a plain handshake opens.
                       Schemes but no credentials given: skipped (what an anonymous
                       handshake got is noted).
``frames-classified``  Every frame the server sent during the run is a JSON text frame
                       that matches exactly one message the server may send.
``request-reply``      For each ``receive`` operation with a reply: each example of its
                       message, then a few seeded ``hypothesis-jsonschema`` payloads,
                       each with a fresh correlation id, gets a correlated reply that
                       is one of the declared replies (an error reply that is declared
                       passes, and is noted), within the deadline.
``negative-inputs``    Missing required field, wrong type, unknown tag value, extra
                       property (when ``additionalProperties`` is false), invalid JSON,
                       invalid UTF-8, a binary frame, an oversized frame: each is
                       answered with a declared error message or closed with 1003,
                       1007, 1008 or 1009, and a fresh connection is served afterwards.
``streams``            After the ``x-specwire-role: subscribe`` request, pushed messages
                       arrive; with ``x-specwire-interval-ms`` their interval is within
                       tolerance; after ``x-specwire-role: unsubscribe``, messages with
                       a cadence (else: every pushed message) stop for two intervals.
``heartbeat``          The ``x-specwire-role: heartbeat`` request gets its reply, and a
                       WebSocket protocol ping gets a pong.
=====================  ===============================================================
"""

from __future__ import annotations

import copy
import itertools
import json
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from specwire.codegen.sdk import Request
from specwire.contract.fuzz import generate_payloads
from specwire.contract.model import ContractSpec, get_pointer, set_pointer
from specwire.contract.report import CheckResult, Evidence, Verdict
from specwire.contract.wire import Credentials, Frame, Link, Refused, Session, excerpt

__all__ = ["CHECKS", "PROPER_CLOSE_CODES", "Options", "run_check"]

CHECKS = (
    "handshake",
    "frames-classified",
    "request-reply",
    "negative-inputs",
    "streams",
    "heartbeat",
)
PROPER_CLOSE_CODES = frozenset({1003, 1007, 1008, 1009})
DEFAULT_MAX_SIZE = 1024 * 1024
UNKNOWN_TAG = "specwire-contract-unknown"
EXTRA_PROPERTY = "specwire_contract_extra"


@dataclass(frozen=True)
class Options:
    timeout: float = 5.0
    """Seconds to wait for anything that should happen (a reply, a close, a pong)."""
    duration: float = 10.0
    """Seconds to watch pushed messages after subscribing (less when seen enough)."""
    seed: int = 0
    generated: int = 3
    """Generated payloads per request message."""
    tolerance: float = 0.5
    """Allowed relative deviation from a declared interval."""
    max_size: int | None = None
    """The frame size limit to exceed (default: the document's, else 1 MiB)."""
    first_frame: float = 1.0
    """Seconds to wait for a server's first frame on a new connection."""


# -- shared steps ---------------------------------------------------------------------


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms"


def _label(contract: ContractSpec, frame: Frame) -> str:
    return contract.messages[frame.message].label if frame.message else "unclassified frame"


async def _settle(session: Session, link: Link, options: Options) -> Frame | None:
    """Let the server say hello: wait (briefly) for a first frame.

    Once a server is seen not to send one, later connections do not wait for it.
    """
    wait = min(options.first_frame, session.timeout)
    frame = await link.first_frame(wait if session.greets is not False else 0.05)
    if session.greets is None and not link.closed:
        session.greets = frame is not None
    return frame


def _correlation(contract: ContractSpec, request: Request) -> tuple[str, ...] | None:
    own = contract.correlation_of(request.message)
    if own is not None:
        return own
    for reply in (*request.replies, *request.errors):
        theirs = contract.correlation_of(reply)
        if theirs is not None:
            return theirs
    return None


def _error_ids(contract: ContractSpec) -> frozenset[str]:
    """Error messages: marked ``x-specwire-error``, else named like one."""
    marked = frozenset(contract.model.errors)
    if marked:
        return marked
    return frozenset(
        m
        for m in contract.server_ids
        if "error" in m.lower() or "error" in contract.messages[m].label.lower()
    )


@dataclass
class Exchange:
    payload: Any
    request_id: Any
    outcome: str
    """``reply``, ``error``, ``undeclared``, ``wrong-correlation``, ``timeout`` or ``closed``."""
    frame: Frame | None
    elapsed: float
    closed_with: str = ""

    @property
    def answered(self) -> bool:
        return self.outcome in ("reply", "error")


async def exchange(session: Session, link: Link, request: Request, payload: Any) -> Exchange:
    """Send one request (with a fresh correlation id) and wait for its reply."""
    contract = session.contract
    tokens = _correlation(contract, request)
    payload = copy.deepcopy(payload)
    request_id: Any = None
    if tokens and isinstance(payload, dict):
        request_id = session.next_id(request.message, tokens)
        set_pointer(payload, tokens, request_id)
    if request_id is not None:
        link.sent_ids.add(json.dumps(request_id))
    declared = (*request.replies, *request.errors)
    reply_tokens = {m: contract.correlation_of(m) or tokens for m in declared}

    def correlated(frame: Frame) -> bool:
        if not frame.json_ok:
            return False
        if request_id is None:
            return frame.message in declared
        candidates = {t for t in reply_tokens.values() if t} | ({tokens} if tokens else set())
        return any(get_pointer(frame.value, t) == request_id for t in candidates)

    def foreign(frame: Frame) -> bool:
        if request_id is None or frame.message not in declared:
            return False
        reply_token = reply_tokens.get(frame.message)
        value = get_pointer(frame.value, reply_token) if reply_token else None
        return value is not None and json.dumps(value) not in link.sent_ids

    start = len(link.frames)
    began = time.monotonic()
    if not await link.send(payload):
        return Exchange(payload, request_id, "closed", None, 0.0, link.closed_with())
    frame = await link.wait_for(lambda f: correlated(f) or foreign(f), session.timeout, start)
    elapsed = time.monotonic() - began
    if frame is None:
        outcome = "closed" if link.closed else "timeout"
    elif correlated(frame):
        if frame.message in request.replies:
            outcome = "reply"
        elif frame.message in request.errors:
            outcome = "error"
        else:
            outcome = "undeclared"
    else:
        outcome = "wrong-correlation"
    return Exchange(payload, request_id, outcome, frame, elapsed, link.closed_with())


def describe(session: Session, request: Request, label: str, ex: Exchange) -> str:
    """One evidence line for an exchange."""
    contract = session.contract
    head = f"{request.operation} [{label}] id={ex.request_id!r}"
    if ex.outcome in ("reply", "error") and ex.frame is not None:
        kind = "declared error reply" if ex.outcome == "error" else "reply"
        return f"{head}: {kind} {_label(contract, ex.frame)} in {_ms(ex.elapsed)}" + (
            f": {excerpt(ex.frame.data, 160)}" if ex.outcome == "error" else ""
        )
    if ex.outcome == "undeclared" and ex.frame is not None:
        declared = ", ".join(
            contract.messages[m].label for m in (*request.replies, *request.errors)
        )
        why = ex.frame.problem or f"is {_label(contract, ex.frame)}"
        return (
            f"{head}: the correlated reply is not one of the declared replies "
            f"({declared}): {why}; frame {ex.frame.show()}"
        )
    if ex.outcome == "wrong-correlation" and ex.frame is not None:
        return (
            f"{head}: got {_label(contract, ex.frame)} correlated to an id never sent "
            f"(expected {ex.request_id!r}): {ex.frame.show()}"
        )
    if ex.outcome == "closed":
        return f"{head}: the connection closed before a reply ({ex.closed_with})"
    sent = excerpt(json.dumps(ex.payload, ensure_ascii=False), 160)
    return f"{head}: no correlated reply within {session.timeout:g} s; sent {sent}"


def _cases(
    session: Session, request: Request, options: Options, salt: int, evidence: Evidence
) -> list[tuple[str, Any]]:
    """The examples of a request's message, then generated payloads."""
    info = session.contract.messages[request.message]
    cases: list[tuple[str, Any]] = []
    for name, payload in info.examples:
        if not info.validator.is_valid(payload):
            evidence.note(
                f"{request.operation} [example {name}]: the example does not match its own "
                "schema (sent anyway)"
            )
        cases.append((f"example {name}", payload))
    generated, note = generate_payloads(info.schema, options.generated, options.seed + salt)
    count = len(info.examples)
    evidence.note(f"{request.operation}: {count} example{'' if count == 1 else 's'}; {note}")
    cases.extend((f"generated #{n}", payload) for n, payload in enumerate(generated, 1))
    return cases


async def _open(session: Session, evidence: Evidence, why: str) -> Link | None:
    try:
        return await session.open()
    except Refused as exc:
        evidence.fail(f"{why}: the server refused the connection: {exc.detail}")
        return None


# -- handshake ------------------------------------------------------------------------


async def check_handshake(session: Session, options: Options) -> CheckResult:
    name = "handshake"
    evidence = Evidence()
    schemes = session.contract.security_schemes()
    if not schemes:
        link = await _open(session, evidence, "plain handshake")
        if link is not None:
            first = await _settle(session, link, options)
            evidence.note("no security scheme declared; a plain handshake opened")
            if first is not None:
                evidence.note(f"first frame after {_ms(first.mono - link.opened)}")
        return evidence.result(name, "no security scheme declared; the handshake opens")
    names = ", ".join(f"{n} ({s.get('type')})" for n, s in schemes)
    evidence.note(f"security schemes declared: {names}")
    refused, what, reached = await _anonymous_attempt(session, options)
    if not reached:
        evidence.fail(f"without credentials: the handshake {what}")
        return evidence.result(name, "")
    if session.credentials.empty:
        evidence.note(f"without credentials: {what}")
        return CheckResult(
            name,
            Verdict.SKIP,
            "security schemes declared but no --token/--header given; "
            f"without credentials the handshake {what}",
            evidence.lines,
        )
    if refused:
        evidence.note(f"without credentials: {what}")
    else:
        expected = "HTTP 401/403 or a close at once"
        if session.contract.role("auth") is not None:
            expected += ", or a subscribe refused without credentials only"
        evidence.fail(f"without credentials: {what} (expected {expected})")
    link = await _open(session, evidence, "with credentials")
    if link is not None:
        first = await _settle(session, link, options)
        if link.closed:
            evidence.fail(
                f"with credentials: opened, then closed at once with {link.close_code} "
                f"{link.close_reason!r}"
            )
        else:
            when = f"; first frame after {_ms(first.mono - link.opened)}" if first else ""
            evidence.note(f"with credentials: opened{when}")
    return evidence.result(name, f"refused without credentials ({what}); opens with them")


async def _anonymous_attempt(session: Session, options: Options) -> tuple[bool, str, bool]:
    """Whether a connection without credentials was refused, how, and if the server answered.

    Refused means: at the handshake (HTTP 401/403), closed at once, or, when the
    document declares in-band authentication (an operation marked
    ``x-specwire-role: auth``), opened but its ``subscribe`` example answered with a
    declared error (or a close): such a document lets a client connect first and
    authenticate after.
    """
    try:
        link = await session.open(credentials=Credentials())
    except Refused as exc:
        if exc.status in (401, 403):
            return True, f"was refused: {exc.detail}", True
        return False, f"failed: {exc.detail}", exc.status is not None
    try:
        if await link.wait_closed(options.first_frame):
            closed = f"opened, then was closed at once with {link.close_code} {link.close_reason!r}"
            return True, closed, True
        contract = session.contract
        auth, subscribe = contract.role("auth"), contract.role("subscribe")
        if auth is None or subscribe is None:
            return False, "opened and stayed open", True
        examples = contract.messages[subscribe.message].examples
        if not examples:
            return False, f"opened and stayed open (no {subscribe.operation} example)", True
        await _settle(session, link, options)
        name, payload = examples[0]
        ex = await exchange(session, link, subscribe, payload)
        head = (
            f"opened (the document declares in-band {auth.operation}), "
            f"and {subscribe.operation} [example {name}]"
        )
        if ex.outcome == "error" and ex.frame is not None:
            refusal = f"got a declared error: {excerpt(ex.frame.data, 160)}"
        elif ex.outcome == "closed" or link.closed:
            refusal = f"closed the connection with {link.close_code}"
        else:
            what = "was served" if ex.outcome == "reply" else f"got no answer ({ex.outcome})"
            return False, f"{head} {what} without credentials", True
        # Refused for want of credentials only if the same request is served with them.
        if session.credentials.empty:
            return True, f"{head} {refusal}", True
        served = await _served_with_credentials(session, options, subscribe, payload)
        if served is None:
            return True, f"{head} {refusal}, and is served with them", True
        return False, f"{head} {refusal}, but {served}: no sign of in-band authentication", True
    finally:
        await link.close()


async def _served_with_credentials(
    session: Session, options: Options, request: Request, payload: Any
) -> str | None:
    """``None`` if ``request`` gets a declared reply on a connection with credentials."""
    try:
        link = await session.open()
    except Refused as exc:
        return f"a connection with credentials was refused: {exc.detail}"
    try:
        await _settle(session, link, options)
        ex = await exchange(session, link, request, payload)
        if ex.outcome == "reply":
            return None
        return f"with credentials it {'gets an error too' if ex.outcome == 'error' else ex.outcome}"
    finally:
        await link.close()


# -- request-reply --------------------------------------------------------------------


async def check_request_reply(session: Session, options: Options) -> CheckResult:
    name = "request-reply"
    evidence = Evidence()
    requests = list(session.contract.requests_with_reply())
    if not requests:
        return CheckResult(name, Verdict.SKIP, "no receive operation declares a reply")
    replies = errors = 0
    for salt, request in enumerate(requests):
        cases = _cases(session, request, options, salt, evidence)
        if not cases:
            evidence.note(f"{request.operation}: nothing to send (no example, none generated)")
            continue
        link = await _open(session, evidence, request.operation)
        if link is None:
            continue
        await _settle(session, link, options)
        for label, payload in cases:
            if link.closed:
                link = await _open(session, evidence, f"{request.operation}: reconnecting")
                if link is None:
                    break
                await _settle(session, link, options)
            ex = await exchange(session, link, request, payload)
            line = describe(session, request, label, ex)
            if ex.answered:
                evidence.note(line)
                replies += ex.outcome == "reply"
                errors += ex.outcome == "error"
            else:
                evidence.fail(line)
        if link is not None:
            await link.close()
    return evidence.result(
        name,
        f"{replies + errors} requests to {len(requests)} "
        f"operation{'' if len(requests) == 1 else 's'} answered in time "
        f"({replies} replies, {errors} declared error replies)",
    )


# -- negative inputs ------------------------------------------------------------------


@dataclass(frozen=True)
class Negative:
    name: str
    send: Callable[[Link], Awaitable[bool]]
    request_id: Any = None


def _wrong_type(value: Any, schema: dict[str, Any]) -> Any:
    kind = schema.get("type")
    if kind == "string" or isinstance(value, str):
        return 12345
    if kind in ("integer", "number", "boolean") or isinstance(value, int | float | bool):
        return "specwire-wrong-type"
    return "specwire-wrong-type" if isinstance(value, list | dict) else 12345


def _negatives(session: Session, options: Options, evidence: Evidence) -> list[Negative]:
    contract = session.contract
    negatives: list[Negative] = []
    tag = contract.client_tag

    def sender(payload: Any) -> Callable[[Link], Awaitable[bool]]:
        async def send(link: Link) -> bool:
            return await link.send(payload)

        return send

    base: tuple[Request, Any, str | None] | None = None
    for request in contract.model.requests:
        info = contract.messages[request.message]
        if not info.examples:
            continue
        tokens = _correlation(contract, request)
        required = contract.payload_schema(request.message).get("required")
        fields = [
            p
            for p in (required if isinstance(required, list) else [])
            if p != tag and (not tokens or p != tokens[0]) and p in info.examples[0][1]
        ]
        if fields or base is None:
            base = (request, info.examples[0][1], fields[0] if fields else None)
        if fields:
            break
    if base is None:
        evidence.note("no request message has an example: the structured cases are skipped")
    else:
        request, example, field = base
        info = contract.messages[request.message]
        tokens = _correlation(contract, request)
        evidence.note(f"structured cases start from {info.label} example {info.examples[0][0]}")

        def fresh() -> tuple[Any, Any]:
            payload = copy.deepcopy(example)
            request_id = None
            if tokens and isinstance(payload, dict):
                request_id = session.next_id(request.message, tokens)
                set_pointer(payload, tokens, request_id)
            return payload, request_id

        if field is not None and isinstance(example, dict):
            payload, rid = fresh()
            del payload[field]
            negatives.append(Negative(f"missing required field {field!r}", sender(payload), rid))
            payload, rid = fresh()
            payload[field] = _wrong_type(
                payload[field], contract.property_schema(request.message, field)
            )
            if not info.validator.is_valid(payload):
                negatives.append(Negative(f"wrong type for {field!r}", sender(payload), rid))
        else:
            evidence.note("no required field besides the tag and correlation id: skipped")
        if tag is not None and isinstance(example, dict):
            payload, rid = fresh()
            payload[tag] = UNKNOWN_TAG
            negatives.append(Negative(f"unknown {tag} value", sender(payload), rid))
        else:
            evidence.note("client messages have no tag: 'unknown tag value' skipped")
        if contract.payload_schema(request.message).get(
            "additionalProperties"
        ) is False and isinstance(example, dict):
            payload, rid = fresh()
            payload[EXTRA_PROPERTY] = True
            negatives.append(Negative("extra property", sender(payload), rid))
        else:
            evidence.note("additionalProperties is not false: 'extra property' skipped")

    async def invalid_utf8(link: Link) -> bool:
        return await link.send_raw_text(b'{"specwire": "\xff\xfe contract"}')

    limit = options.max_size or contract.max_message_bytes() or DEFAULT_MAX_SIZE
    oversized = '"' + "x" * (limit - 1) + '"'  # limit + 1 bytes
    negatives += [
        Negative("invalid JSON", sender('{"specwire": "contract", "truncated": ')),
        Negative("invalid UTF-8", invalid_utf8),
        Negative("binary frame", sender(b"\x00\x01specwire-contract\xff\xfe")),
        Negative(f"oversized frame ({limit + 1} bytes)", sender(oversized)),
    ]
    return negatives


async def _served(session: Session, options: Options) -> str | None:
    """Whether a fresh connection is served; ``None`` if so, else what went wrong."""
    try:
        link = await session.open()
    except Refused as exc:
        return f"a new connection was refused: {exc.detail}"
    try:
        if await _settle(session, link, options) is not None:
            return None
        contract = session.contract
        probe = contract.role("heartbeat") or next(
            (r for r in contract.requests_with_reply() if contract.messages[r.message].examples),
            None,
        )
        if probe is None:
            return None if not link.closed else "a new connection closed at once"
        payload = contract.messages[probe.message].examples[0][1]
        ex = await exchange(session, link, probe, payload)
        return None if ex.answered else f"a new connection did not answer {probe.operation}"
    finally:
        await link.close()


async def check_negative_inputs(session: Session, options: Options) -> CheckResult:
    name = "negative-inputs"
    evidence = Evidence()
    contract = session.contract
    errors = _error_ids(contract)
    if not errors:
        evidence.note("no error message is declared: only close codes can pass")
    answered = 0
    cases = _negatives(session, options, evidence)
    for case in cases:
        link = await _open(session, evidence, case.name)
        if link is None:
            continue
        await _settle(session, link, options)
        start = len(link.frames)

        def answer(frame: Frame, case: Negative = case) -> bool:
            # An error message, or anything that carries this request's id.
            if frame.message in errors:
                return True
            if case.request_id is None or not frame.json_ok:
                return False
            return json.dumps(case.request_id) in json.dumps(frame.value)

        began = time.monotonic()
        await case.send(link)
        frame = await link.wait_for(answer, session.timeout, start)
        took = _ms(time.monotonic() - began)
        if frame is not None and frame.message in errors:
            evidence.note(f"{case.name}: error {excerpt(frame.data, 160)} in {took}")
            answered += 1
        elif frame is not None:
            what = frame.problem or f"answered with {_label(contract, frame)}"
            evidence.fail(f"{case.name}: not rejected: {what}: {frame.show()}")
        elif link.closed and link.close_code in PROPER_CLOSE_CODES:
            evidence.note(f"{case.name}: closed with {link.close_code} {link.close_reason!r}")
            answered += 1
        elif link.closed:
            evidence.fail(
                f"{case.name}: closed with {link.close_code} {link.close_reason!r} instead of "
                "a declared error or a close with 1003/1007/1008/1009"
            )
        else:
            evidence.fail(f"{case.name}: no error and no close within {session.timeout:g} s")
        await link.close()
        problem = await _served(session, options)
        if problem is not None:
            evidence.fail(f"after {case.name}: {problem}")
    return evidence.result(
        name, f"{answered} of {len(cases)} invalid inputs rejected; the server kept serving"
    )


# -- streams --------------------------------------------------------------------------


def _live_intervals(times: list[float], since: float, interval: float) -> list[float]:
    """Intervals between live messages: a burst right after ``since`` (replayed) is left out."""
    burst = 0.2 * interval
    live: list[float] = []
    previous = since
    for at in times:
        if not live and at - previous < burst:
            previous = at
            continue
        live.append(at)
    return [b - a for a, b in itertools.pairwise(live)]


async def check_streams(session: Session, options: Options) -> CheckResult:
    name = "streams"
    evidence = Evidence()
    contract = session.contract
    subscribe = contract.role("subscribe")
    if subscribe is None:
        return CheckResult(
            name, Verdict.SKIP, "no receive operation has x-specwire-role: subscribe"
        )
    examples = contract.messages[subscribe.message].examples
    if not examples:
        return CheckResult(name, Verdict.SKIP, f"{subscribe.operation} has no example to send")
    link = await _open(session, evidence, "subscribing")
    if link is None:
        return evidence.result(name, "")
    try:
        await _settle(session, link, options)
        baseline = {f.message for f in link.frames}
        accepted: Exchange | None = None
        for label, payload in examples:
            ex = await exchange(session, link, subscribe, payload)
            evidence.note(describe(session, subscribe, f"example {label}", ex))
            if ex.outcome == "reply":
                accepted = ex
                break
        if accepted is None or accepted.frame is None:
            evidence.fail(f"no example of {subscribe.operation} was accepted")
            return evidence.result(name, "")
        reply = accepted.frame
        pushes = set(contract.model.pushes) - _error_ids(contract) - baseline
        cadence = {m: ms / 1000 for m, ms in contract.model.intervals.items() if m in pushes}
        arrivals: dict[str, list[float]] = {}
        watch_until = reply.mono + options.duration
        index = reply.index + 1

        def enough() -> bool:
            if not cadence:
                return bool(arrivals)
            return all(
                len(_live_intervals(arrivals.get(m, []), reply.mono, i)) >= 2
                for m, i in cadence.items()
            )

        while not enough():
            remaining = watch_until - time.monotonic()
            frame = await link.wait_for(lambda f: f.message in pushes, remaining, index)
            if frame is None:
                break
            index = frame.index + 1
            arrivals.setdefault(frame.message or "", []).append(frame.mono)
        if not arrivals:
            evidence.fail(
                f"no pushed message within {options.duration:g} s after {_label(contract, reply)}"
            )
            return evidence.result(name, "")
        seen = ", ".join(
            f"{contract.messages[m].label} x{len(t)}" for m, t in sorted(arrivals.items())
        )
        evidence.note(f"pushed after subscribing: {seen}")
        measured = 0
        watched_until = min(time.monotonic(), watch_until)
        for message_id, interval in cadence.items():
            label = contract.messages[message_id].label
            times = arrivals.get(message_id, [])
            # A stream that stops (or never starts after the replay) shows as silence, not
            # as intervals: longer than the declared interval allows, it fails.
            silence = watched_until - (times[-1] if times else reply.mono)
            if silence > interval * (1 + options.tolerance):
                evidence.fail(
                    f"{label}: none for the last {_ms(silence)}, declared every "
                    f"{_ms(interval)} ±{options.tolerance:.0%}"
                )
                continue
            gaps = _live_intervals(times, reply.mono, interval)
            if not gaps:
                evidence.note(
                    f"{label}: declared every {_ms(interval)}; too few messages to measure "
                    f"within {options.duration:g} s"
                )
                continue
            measured += len(gaps)
            shown = ", ".join(_ms(g) for g in gaps)
            low, high = interval * (1 - options.tolerance), interval * (1 + options.tolerance)
            off = [g for g in gaps if not low <= g <= high]
            if off:
                evidence.fail(
                    f"{label}: intervals {shown} outside {_ms(interval)} ±{options.tolerance:.0%}"
                )
            else:
                evidence.note(
                    f"{label}: intervals {shown} within {_ms(interval)} ±{options.tolerance:.0%}"
                )
        await _unsubscribe(session, link, pushes, cadence, evidence)
        plural = "" if measured == 1 else "s"
        cadence_note = f"; {measured} interval{plural} within tolerance" if measured else ""
        return evidence.result(name, f"pushed: {seen}{cadence_note}")
    finally:
        await link.close()


async def _unsubscribe(
    session: Session,
    link: Link,
    pushes: set[str],
    cadence: dict[str, float],
    evidence: Evidence,
) -> None:
    contract = session.contract
    unsubscribe = contract.role("unsubscribe")
    if unsubscribe is None:
        evidence.note("no x-specwire-role: unsubscribe: stopping not checked")
        return
    examples = contract.messages[unsubscribe.message].examples
    if not examples:
        evidence.note(f"{unsubscribe.operation} has no example: stopping not checked")
        return
    last: Frame | None = None
    for label, payload in examples:
        ex = await exchange(session, link, unsubscribe, payload)
        line = describe(session, unsubscribe, f"example {label}", ex)
        if ex.answered:
            evidence.note(line)
            last = ex.frame if ex.frame is not None else last
        else:
            evidence.fail(line)
    if last is None:
        return
    watched = set(cadence) or pushes
    window = 2 * max(cadence.values()) if cadence else 2.0
    late = await link.wait_for(lambda f: f.message in watched, window, last.index + 1)
    if late is not None:
        evidence.fail(
            f"{_label(contract, late)} arrived {_ms(late.mono - last.mono)} after "
            f"{_label(contract, last)}: {late.show()}"
        )
    else:
        labels = ", ".join(sorted(contract.messages[m].label for m in watched))
        evidence.note(f"after unsubscribing, no {labels} within {window:g} s")


# -- heartbeat ------------------------------------------------------------------------


async def check_heartbeat(session: Session, options: Options) -> CheckResult:
    name = "heartbeat"
    evidence = Evidence()
    contract = session.contract
    link = await _open(session, evidence, "heartbeat")
    if link is None:
        return evidence.result(name, "")
    try:
        await _settle(session, link, options)
        heartbeat = contract.role("heartbeat")
        summary: list[str] = []
        if heartbeat is None:
            evidence.note("no x-specwire-role: heartbeat: application ping not checked")
        else:
            info = contract.messages[heartbeat.message]
            payloads = [p for _, p in info.examples[:1]]
            if not payloads:
                payloads, note = generate_payloads(info.schema, 1, options.seed)
                evidence.note(f"{heartbeat.operation}: no example; {note}")
            if not payloads:
                evidence.fail(f"{heartbeat.operation}: nothing to send")
            for payload in payloads:
                ex = await exchange(session, link, heartbeat, payload)
                line = describe(session, heartbeat, "heartbeat", ex)
                if not ex.answered or (heartbeat.replies and ex.outcome != "reply"):
                    evidence.fail(line)
                else:
                    evidence.note(line)
                    summary.append(f"{info.label} answered in {_ms(ex.elapsed)}")
        latency = await link.ping(session.timeout)
        if latency is None:
            evidence.fail(f"no pong to a WebSocket ping within {session.timeout:g} s")
        else:
            evidence.note(f"WebSocket ping answered in {_ms(latency)}")
            summary.append(f"protocol pong in {_ms(latency)}")
        return evidence.result(name, "; ".join(summary))
    finally:
        await link.close()


# -- frames-classified ----------------------------------------------------------------


def check_frames_classified(session: Session) -> CheckResult:
    name = "frames-classified"
    evidence = Evidence()
    contract = session.contract
    frames = session.recorder.server_frames
    if not frames:
        return CheckResult(name, Verdict.SKIP, "the server sent no frame during the run")
    counts = Counter(_label(contract, f) for f in frames if f.problem is None)
    for frame in frames:
        if frame.problem is not None:
            evidence.fail(f"{frame.show()}: {frame.problem}")
    seen = ", ".join(f"{label} x{n}" for label, n in counts.most_common())
    evidence.note(f"classified: {seen}")
    good = sum(counts.values())
    return evidence.result(
        name, f"all {good} frames are exactly one declared message ({len(counts)} kinds)"
    )


Check = Callable[[Session, Options], Awaitable[CheckResult]]
ACTIVE: dict[str, Check] = {
    "handshake": check_handshake,
    "request-reply": check_request_reply,
    "negative-inputs": check_negative_inputs,
    "streams": check_streams,
    "heartbeat": check_heartbeat,
}


async def run_check(name: str, session: Session, options: Options) -> CheckResult:
    """Run one check (``frames-classified`` judges what the others saw)."""
    began = time.monotonic()
    try:
        if name == "frames-classified":
            result = check_frames_classified(session)
        else:
            result = await ACTIVE[name](session, options)
    except Exception as exc:
        result = CheckResult(
            name, Verdict.FAIL, f"the check itself failed: {type(exc).__name__}: {exc}"
        )
    finally:
        await session.close_all()
    result.duration_s = time.monotonic() - began
    return result
