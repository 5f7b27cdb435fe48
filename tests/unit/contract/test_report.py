"""The contract report's table shows evidence verbatim, brackets and all."""

from __future__ import annotations

from specwire.contract.report import CheckResult, ContractReport, Verdict


def test_brackets_in_urls_and_evidence_are_shown_not_taken_for_styles() -> None:
    report = ContractReport(
        url="ws://[::1]:8000/ws",
        spec="asyncapi.yaml",
        title="Console [beta]",
        seed=7,
        started_at=0.0,
        checks=[
            CheckResult(
                "handshake",
                Verdict.FAIL,
                "opened, and subscribe [example sub-metrics] was served",
                evidence=['got {"channels":["metrics"],"type":"subscribed"} [bold]'],
            )
        ],
    )
    text = report.summary(width=200)
    assert "ws://[::1]:8000/ws against asyncapi.yaml (Console [beta])" in text
    assert "subscribe [example sub-metrics] was served" in text
    assert '{"channels":["metrics"],"type":"subscribed"} [bold]' in text
