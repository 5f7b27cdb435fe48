"""The contract runner against the reference servers (every check passes) and broken ones.

Each broken server has one flaw and must fail exactly the check that catches it.
``streams`` needs a publisher at the declared 2 s cadence, so it runs against the
real console server only; the hub-only and broken servers skip it.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import threading
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from xml.etree import ElementTree as ET

import pytest

from specwire.console.server import ConsoleServer, start_console
from specwire.console.settings import ServeSettings
from specwire.contract.checks import CHECKS
from specwire.contract.report import ContractReport, Verdict
from specwire.contract.runner import add_parser, run, run_contract, select_checks
from specwire.contract.testing import assert_contract_async
from specwire.runtime.auth import Principal, StaticTokenVerifier
from specwire.runtime.console import create_console_hub
from specwire.runtime.transports.asgi import AsgiServer
from specwire.runtime.transports.native import NativeServer, start_server

BrokenServer = Callable[[str], Awaitable[str]]


def verdicts(report: ContractReport) -> dict[str, str]:
    return {name: verdict.value for name, verdict in report.verdicts().items()}


async def test_hub_passes_every_check(
    hub_server: NativeServer | AsgiServer, spec_path: Path, token: str, tmp_path: Path
) -> None:
    transcript = tmp_path / "frames.ndjson"
    report = await run_contract(
        hub_server.url,
        spec_path,
        token=token,
        duration=2.0,
        seed=7,
        skip=["streams"],
        transcript=transcript,
    )
    assert report.passed, report.summary()
    assert verdicts(report) == {name: "pass" for name in CHECKS if name != "streams"}
    handshake = report.check("handshake")
    assert "HTTP 401" in handshake.summary
    request_reply = report.check("request-reply")
    # The auth example carries a token the server does not know: a declared error reply.
    assert any(
        "auth [example refresh]" in line and "declared error" in line
        for line in request_reply.evidence
    )
    assert any("generated #1" in line for line in request_reply.evidence)
    negative = report.check("negative-inputs")
    assert "8 of 8" in negative.summary
    assert any("invalid UTF-8: closed with 1007" in line for line in negative.evidence)
    assert any("oversized frame" in line and "1009" in line for line in negative.evidence)

    entries = [json.loads(line) for line in transcript.read_text(encoding="utf-8").splitlines()]
    frames = [e for e in entries if e["kind"] in ("text", "binary")]
    assert {e["direction"] for e in frames} == {"client->server", "server->client"}
    assert all({"mono", "wall", "connection"} <= e.keys() for e in entries)
    # The invalid UTF-8 frame cannot be text in the transcript: it is there as base64.
    assert any(e["kind"] == "text" and "base64" in e for e in frames)
    assert report.frames_received == sum(e["direction"] == "server->client" for e in frames)


async def test_console_server_streams_at_its_declared_cadence(
    console_server: ConsoleServer, spec_path: Path
) -> None:
    report = await run_contract(console_server.ws_url, spec_path, duration=5.0, seed=3)
    assert report.passed, report.summary()
    expected = dict.fromkeys(CHECKS, "pass")
    # The reference server runs without tokens here, so the handshake cannot be judged.
    expected["handshake"] = "skip"
    assert verdicts(report) == expected
    assert "no --token" in report.check("handshake").summary
    streams = report.check("streams").evidence
    assert any(
        "metrics.snapshot: intervals" in line and "within 2000 ms" in line for line in streams
    )
    assert any("after unsubscribing, no metrics.snapshot within 4 s" in line for line in streams)


async def test_console_server_with_tokens_authenticates_in_band(
    spec_path: Path, token: str
) -> None:
    """`specwire serve --token`: an anonymous connection opens, as its document allows,
    and is refused what it asks until it authenticates."""
    server = await start_console(ServeSettings(port=0, interval=2.0, seed=1, tokens=[token]))
    try:
        report = await run_contract(
            server.ws_url, spec_path, token=token, duration=2.0, seed=3, only=["handshake"]
        )
    finally:
        await server.shutdown(timeout=5.0)
    assert verdicts(report) == {"handshake": "pass"}, report.summary()
    shown = "\n".join(report.check("handshake").evidence)
    assert "opened (the document declares in-band auth)" in shown
    assert "got a declared error" in shown and "is served with them" in shown


@pytest.mark.parametrize(
    ("flaw", "caught_by"),
    [
        ("wrong-type-push", "frames-classified"),
        ("wrong-correlation", "request-reply"),
        ("close-on-invalid", "negative-inputs"),
    ],
)
async def test_a_broken_server_fails_the_right_check_only(
    broken_server: BrokenServer, spec_path: Path, flaw: str, caught_by: str
) -> None:
    url = await broken_server(flaw)
    report = await run_contract(url, spec_path, duration=2.0, seed=1, skip=["streams"])
    assert not report.passed
    failed = {c.name for c in report.failed}
    assert failed == {caught_by}, report.summary()
    # No token given: the handshake is skipped with its reason, everything else passes.
    assert report.check("handshake").verdict is Verdict.SKIP
    evidence = "\n".join(report.check(caught_by).evidence)
    if flaw == "wrong-type-push":
        assert "server_time_ms" in evidence and "'yesterday' is not of type 'integer'" in evidence
    elif flaw == "wrong-correlation":
        assert "correlated to an id never sent" in evidence and "not-contract-" in evidence
    else:
        assert "closed with 1000 'bye'" in evidence
        # The websockets library itself rejects bad UTF-8 and oversized frames properly.
        assert "invalid UTF-8: closed with 1007" in evidence


async def test_assert_contract_raises_with_the_summary(
    broken_server: BrokenServer, spec_path: Path
) -> None:
    url = await broken_server("wrong-type-push")
    with pytest.raises(AssertionError) as caught:
        await assert_contract_async(url, spec_path, only=["heartbeat", "frames-classified"])
    message = str(caught.value)
    assert (
        "frames-classified" in message and "FAIL" in message and "replay with --seed 0" in message
    )


def test_check_selection() -> None:
    assert select_checks() == list(CHECKS)
    assert select_checks(only=["heartbeat", "handshake"]) == ["handshake", "heartbeat"]
    assert "streams" not in select_checks(skip=["streams"])
    with pytest.raises(ValueError, match="unknown check"):
        select_checks(only=["handshakes"])


class HubThread:
    """The console hub (native transport) on its own event loop, for the synchronous CLI."""

    def __init__(self, token: str) -> None:
        self.loop = asyncio.new_event_loop()
        self.token = token
        self.ready = threading.Event()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        verifier = StaticTokenVerifier({token: Principal("cli", frozenset({"*"}))})
        hub = create_console_hub(verifier=verifier, auth_required=True)
        future = asyncio.run_coroutine_threadsafe(start_server(hub, "127.0.0.1", 0), self.loop)
        self.server = future.result(timeout=10)

    def stop(self) -> None:
        asyncio.run_coroutine_threadsafe(self.server.shutdown(timeout=5.0), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=10)
        self.loop.close()


@pytest.fixture
def hub_thread(token: str) -> Iterator[HubThread]:
    hub = HubThread(token)
    yield hub
    hub.stop()


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="specwire")
    add_parser(parser.add_subparsers(dest="command", required=True))
    return parser.parse_args(argv)


def test_command_writes_junit_json_and_transcript(
    hub_thread: HubThread,
    spec_path: Path,
    token: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    junit, report_json, transcript = tmp_path / "r.xml", tmp_path / "r.json", tmp_path / "t.ndjson"
    args = parse(
        [
            "contract",
            hub_thread.server.url,
            "--spec",
            str(spec_path),
            "--token",
            token,
            "--header",
            "X-Contract-Run: yes",
            "--seed",
            "42",
            "--skip",
            "streams",
            "--junit",
            str(junit),
            "--json",
            str(report_json),
            "--transcript",
            str(transcript),
        ]
    )
    assert args.func is run
    assert run(args) == 0
    out = capsys.readouterr().out
    assert "seed 42 (replay with --seed 42)" in out
    assert "negative-inputs" in out and "PASS" in out
    suite = ET.fromstring(junit.read_text(encoding="utf-8"))  # noqa: S314 (our own file)
    assert suite.get("tests") == "5" and suite.get("failures") == "0"
    assert [case.get("name") for case in suite.iter("testcase")] == [
        c for c in CHECKS if c != "streams"
    ]
    data = json.loads(report_json.read_text(encoding="utf-8"))
    assert data["passed"] is True and data["seed"] == 42
    assert transcript.read_text(encoding="utf-8").count("\n") > 20

    failing = parse(
        [
            "contract",
            hub_thread.server.url,
            "--spec",
            str(spec_path),
            "--only",
            "handshake",
            "--only",
            "heartbeat",
            "--junit",
            str(junit),
        ]
    )
    # Without the token, the hub refuses every handshake: the heartbeat check fails.
    assert run(failing) == 1
    suite = ET.fromstring(junit.read_text(encoding="utf-8"))  # noqa: S314 (our own file)
    failure = suite.find("testcase[@name='heartbeat']/failure")
    assert failure is not None and "HTTP 401" in (failure.get("message") or "")
    assert suite.find("testcase[@name='handshake']/skipped") is not None


ECHO_SPEC = """\
asyncapi: 3.0.0
info:
  title: Echo
  version: 0.1.0
channels:
  root:
    address: /
    messages:
      echo:
        $ref: '#/components/messages/echo'
      echoed:
        $ref: '#/components/messages/echoed'
      echoError:
        $ref: '#/components/messages/echoError'
operations:
  echo:
    action: receive
    channel:
      $ref: '#/channels/root'
    messages:
      - $ref: '#/channels/root/messages/echo'
    reply:
      channel:
        $ref: '#/channels/root'
      messages:
        - $ref: '#/channels/root/messages/echoed'
  complain:
    action: send
    channel:
      $ref: '#/channels/root'
    messages:
      - $ref: '#/channels/root/messages/echoError'
components:
  correlationIds:
    rid:
      location: $message.payload#/rid
  messages:
    echo:
      correlationId:
        $ref: '#/components/correlationIds/rid'
      payload:
        type: object
        additionalProperties: false
        required: [kind, rid, text]
        properties:
          kind: {const: echo}
          rid: {type: integer, minimum: 0}
          text: {type: string, maxLength: 50}
      examples:
        - payload: {kind: echo, rid: 1, text: hello}
    echoed:
      correlationId:
        $ref: '#/components/correlationIds/rid'
      payload:
        type: object
        additionalProperties: false
        required: [kind, rid, text]
        properties:
          kind: {const: echoed}
          rid: {type: integer}
          text: {type: string}
    echoError:
      payload:
        type: object
        required: [kind, reason]
        properties:
          kind: {const: error}
          reason: {type: string}
"""


async def test_a_document_without_hints_or_security(tmp_path: Path) -> None:
    """Nothing is specific to the console protocol: an integer correlation id, no roles."""
    from websockets.asyncio.server import ServerConnection, serve

    spec = tmp_path / "echo.yaml"
    spec.write_text(ECHO_SPEC, encoding="utf-8")

    async def echo(connection: ServerConnection) -> None:
        async for raw in connection:
            try:
                value = json.loads(raw)
                assert isinstance(value, dict) and value.keys() == {"kind", "rid", "text"}
                assert value["kind"] == "echo" and isinstance(value["rid"], int)
                assert isinstance(value["text"], str)
            except (ValueError, AssertionError):
                await connection.send(json.dumps({"kind": "error", "reason": "bad request"}))
                continue
            reply = {"kind": "echoed", "rid": value["rid"], "text": value["text"]}
            await connection.send(json.dumps(reply))

    async with serve(echo, "127.0.0.1", 0) as server:
        port = server.sockets[0].getsockname()[1]
        report = await run_contract(f"ws://127.0.0.1:{port}/", spec, duration=1.0, seed=2)
    assert report.passed, report.summary()
    assert verdicts(report) == {
        "handshake": "pass",
        "frames-classified": "pass",
        "request-reply": "pass",
        "negative-inputs": "pass",
        "streams": "skip",
        "heartbeat": "pass",
    }
    assert any("id=1000" in line for line in report.check("request-reply").evidence)
    heartbeat = report.check("heartbeat").evidence
    assert any("application ping not checked" in line for line in heartbeat)
