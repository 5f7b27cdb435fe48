"""``specwire contract URL --spec asyncapi.yaml``: check a WebSocket server against its document.

The runner is generic: it reads only the AsyncAPI document (payload schemas,
examples, replies, correlation ids, security schemes) and, when present, the
optional ``x-specwire-*`` hints (``x-specwire-role`` on receive operations,
``x-specwire-interval-ms`` on send operations, ``x-specwire-error`` on messages).
Frames are judged with JSON Schema (draft-07, ``jsonschema``) built from the
document, so no code needs to be generated first. The checks are listed in
:mod:`specwire.contract.checks`.

From Python::

    report = await run_contract("ws://localhost:8000/ws", "asyncapi.yaml", token="...")
    assert report.passed, report.summary()

In a test suite, :func:`specwire.contract.testing.assert_contract` does the same and
raises ``AssertionError`` with the summary.

Exit status of the command: 0 when no selected check failed (a check that does not
apply to the document is skipped and says why), 1 when one failed, 2 on a usage
error or a document that cannot be read. The seed is printed so a run can be
replayed with ``--seed``.
"""

from __future__ import annotations

import argparse
import secrets
import sys
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from rich.console import Console

from specwire.contract.checks import CHECKS, Options, run_check
from specwire.contract.model import ContractSpec
from specwire.contract.report import ContractReport
from specwire.contract.wire import Recorder, Session, credentials_for

__all__ = ["CHECKS", "add_parser", "parse_header", "run", "run_contract", "select_checks"]


def parse_header(text: str) -> tuple[str, str]:
    """``"X-Api-Key: abc"`` -> ``("X-Api-Key", "abc")``."""
    name, sep, value = text.partition(":")
    if not sep or not name.strip():
        raise ValueError(f"a header is NAME:VALUE, got {text!r}")
    return name.strip(), value.strip()


def select_checks(only: Iterable[str] = (), skip: Iterable[str] = ()) -> list[str]:
    """The checks to run, in report order; raises ``ValueError`` on an unknown name."""
    only, skip = list(only), list(skip)
    unknown = sorted(set(only + skip) - set(CHECKS))
    if unknown:
        raise ValueError(f"unknown check {', '.join(unknown)}; the checks are {', '.join(CHECKS)}")
    return [c for c in CHECKS if (not only or c in only) and c not in skip]


async def run_contract(
    url: str,
    spec_path: str | Path,
    *,
    token: str | None = None,
    headers: Sequence[str | tuple[str, str]] = (),
    duration: float = 10.0,
    seed: int = 0,
    only: Iterable[str] = (),
    skip: Iterable[str] = (),
    transcript: str | Path | None = None,
    timeout: float = 5.0,
    tolerance: float = 0.5,
    max_size: int | None = None,
    generated: int = 3,
) -> ContractReport:
    """Run the selected checks against the server at ``url``; never raises for a failing check.

    ``token`` goes where the document's security schemes say (``Authorization:
    Bearer`` for an http bearer scheme, else an ``httpApiKey`` header or query
    parameter); ``headers`` (``"Name: value"`` or pairs) go on every handshake.
    ``duration`` bounds how long pushed messages are watched; ``timeout`` is the
    deadline of each expectation (a reply, a close, a pong); ``tolerance`` the
    allowed deviation from a declared interval; ``max_size`` the frame size limit
    to exceed (default: the document's, else 1 MiB); ``generated`` how many
    hypothesis payloads to send per request message. ``transcript`` receives every
    frame of the run as NDJSON.
    """
    selected = select_checks(only, skip)
    contract = ContractSpec(spec_path)
    pairs = [parse_header(h) if isinstance(h, str) else (h[0], h[1]) for h in headers]
    recorder = Recorder()
    session = Session(
        url, contract, credentials_for(contract, token, pairs), timeout=timeout, recorder=recorder
    )
    options = Options(
        timeout=timeout,
        duration=duration,
        seed=seed,
        generated=generated,
        tolerance=tolerance,
        max_size=max_size,
    )
    report = ContractReport(
        url=url, spec=str(spec_path), title=contract.title, seed=seed, started_at=time.time()
    )
    began = time.monotonic()
    results = {}
    try:
        if selected == ["frames-classified"]:
            await _observe(session, duration)
        for name in selected:
            if name != "frames-classified":
                results[name] = await run_check(name, session, options)
        if "frames-classified" in selected:
            results["frames-classified"] = await run_check("frames-classified", session, options)
    finally:
        await session.close_all()
        if transcript is not None:
            Path(transcript).write_text(recorder.ndjson(), encoding="utf-8")
    report.checks = [results[name] for name in selected]
    report.duration_s = time.monotonic() - began
    report.frames_received = len(recorder.server_frames)
    report.frames_sent = sum(
        1
        for e in recorder.entries
        if e["direction"] == "client->server" and e["kind"] in ("text", "binary")
    )
    return report


async def _observe(session: Session, duration: float) -> None:
    """Only frames are judged: watch one idle connection for ``duration`` seconds."""
    from specwire.contract.wire import Refused  # noqa: PLC0415

    try:
        link = await session.open()
    except Refused:
        return
    await link.wait_for(lambda _: False, duration)


# -- the command ----------------------------------------------------------------------


def add_parser(subparsers: Any) -> None:
    """Add the ``contract`` subcommand to an ``argparse`` subparsers object."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "contract",
        help="check a running WebSocket server against its AsyncAPI document",
        description="Connect to a running WebSocket server and check it against an AsyncAPI "
        "document: handshake security, that every frame is a declared message, "
        "request/reply with correlation ids, rejection of invalid input, streams and their "
        "cadence, heartbeats. Exit 0 when no check failed, 1 otherwise.",
    )
    parser.add_argument("url", help="the server's WebSocket URL, e.g. ws://localhost:8000/ws")
    parser.add_argument("--spec", required=True, help="the AsyncAPI 3 document (YAML or JSON)")
    parser.add_argument("--token", help="credentials, placed as the security schemes say")
    parser.add_argument(
        "--header",
        dest="headers",
        action="append",
        default=[],
        metavar="NAME:VALUE",
        help="a handshake header for every connection; repeat for more",
    )
    parser.add_argument(
        "--duration",
        type=float,
        default=10.0,
        help="seconds to watch pushed messages after subscribing (default 10)",
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=5.0,
        help="seconds to wait for each expected reply, close or pong (default 5)",
    )
    parser.add_argument(
        "--tolerance",
        type=float,
        default=0.5,
        help="allowed deviation from a declared interval, as a fraction (default 0.5)",
    )
    parser.add_argument(
        "--max-size",
        type=int,
        help="the frame size limit to exceed (default: from the document, else 1 MiB)",
    )
    parser.add_argument(
        "--generated",
        type=int,
        default=3,
        help="hypothesis-generated payloads per request message (default 3; 0: none)",
    )
    parser.add_argument("--seed", type=int, help="seed for generated payloads (default: random)")
    parser.add_argument("--junit", help="write a JUnit XML report to this file")
    parser.add_argument("--json", dest="json_out", help="write a JSON report to this file")
    parser.add_argument("--transcript", help="write every frame (NDJSON) to this file")
    parser.add_argument(
        "--only",
        action="append",
        default=[],
        choices=CHECKS,
        metavar="CHECK",
        help=f"run only this check; repeat for more ({', '.join(CHECKS)})",
    )
    parser.add_argument(
        "--skip", action="append", default=[], choices=CHECKS, metavar="CHECK", help="skip a check"
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Run ``specwire contract`` with parsed arguments; the exit status."""
    import asyncio  # noqa: PLC0415

    from specwire.codegen.loader import DocumentError  # noqa: PLC0415

    seed = args.seed if args.seed is not None else secrets.randbelow(2**31)
    err = Console(stderr=True, highlight=False)
    try:
        headers = [parse_header(h) for h in args.headers]
        select_checks(args.only, args.skip)
    except ValueError as exc:
        err.print(f"specwire contract: {exc}", markup=False)
        return 2
    out = Console(highlight=False)
    out.print(f"seed {seed} (replay with --seed {seed})", markup=False)
    try:
        report = asyncio.run(
            run_contract(
                args.url,
                args.spec,
                token=args.token,
                headers=headers,
                duration=args.duration,
                seed=seed,
                only=args.only,
                skip=args.skip,
                transcript=args.transcript,
                timeout=args.timeout,
                tolerance=args.tolerance,
                max_size=args.max_size,
                generated=args.generated,
            )
        )
    except (DocumentError, OSError) as exc:
        err.print(f"specwire contract: {exc}", markup=False)
        return 2
    report.render(out)
    if args.junit:
        Path(args.junit).write_text(report.junit_xml(), encoding="utf-8")
    if args.json_out:
        Path(args.json_out).write_text(report.json_text(), encoding="utf-8")
    if not report.passed:
        print(f"specwire contract: {len(report.failed)} check(s) failed", file=sys.stderr)
    return 0 if report.passed else 1
