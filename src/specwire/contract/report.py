"""The outcome of a contract run: checks with verdicts and evidence, and its renderings.

A :class:`ContractReport` renders as a ``rich`` table (check, verdict, time, first
line of evidence), as JUnit XML (one ``testcase`` per check; a failure's message is
its summary and its text the whole evidence) and as JSON.
"""

from __future__ import annotations

import io
import json
import re
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any
from xml.etree import ElementTree as ET

from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

__all__ = ["MAX_EVIDENCE", "CheckResult", "ContractReport", "Verdict"]

MAX_EVIDENCE = 60
"""Evidence lines kept per check (the count of the others is noted)."""


class Verdict(StrEnum):
    PASS = "pass"  # noqa: S105 (a verdict, not a password)
    FAIL = "fail"
    SKIP = "skip"


_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def _xml(text: str) -> str:
    """``text`` without the characters XML 1.0 cannot hold (frames may carry them)."""
    return _NOT_XML.sub("\ufffd", text)


_STYLES = {Verdict.PASS: "bold green", Verdict.FAIL: "bold red", Verdict.SKIP: "yellow"}


@dataclass
class CheckResult:
    """One check: its name, verdict, a one-line summary and the evidence behind it."""

    name: str
    verdict: Verdict
    summary: str
    evidence: list[str] = field(default_factory=list)
    duration_s: float = 0.0

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "verdict": self.verdict.value,
            "summary": self.summary,
            "evidence": self.evidence,
            "duration_s": round(self.duration_s, 3),
        }


class Evidence:
    """Collects evidence lines for a check, capped at :data:`MAX_EVIDENCE`."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.dropped = 0
        self.failures: list[str] = []

    def note(self, line: str) -> None:
        if len(self.lines) < MAX_EVIDENCE:
            self.lines.append(line)
        else:
            self.dropped += 1

    def fail(self, line: str) -> None:
        self.failures.append(line)
        self.note("FAIL " + line)

    def result(self, name: str, passed_summary: str) -> CheckResult:
        lines = list(self.lines)
        if self.dropped:
            lines.append(f"... {self.dropped} more lines")
        if self.failures:
            first = self.failures[0]
            more = f" (+{len(self.failures) - 1} more)" if len(self.failures) > 1 else ""
            return CheckResult(name, Verdict.FAIL, first + more, lines)
        return CheckResult(name, Verdict.PASS, passed_summary, lines)


@dataclass
class ContractReport:
    """Everything one run found."""

    url: str
    spec: str
    title: str
    seed: int
    started_at: float
    """Unix time, seconds."""
    duration_s: float = 0.0
    checks: list[CheckResult] = field(default_factory=list)
    frames_sent: int = 0
    frames_received: int = 0

    @property
    def passed(self) -> bool:
        """No selected check failed (a skipped check is not applicable, not a failure)."""
        return all(c.verdict is not Verdict.FAIL for c in self.checks)

    @property
    def failed(self) -> list[CheckResult]:
        return [c for c in self.checks if c.verdict is Verdict.FAIL]

    def check(self, name: str) -> CheckResult:
        for result in self.checks:
            if result.name == name:
                return result
        raise KeyError(name)

    def verdicts(self) -> dict[str, Verdict]:
        return {c.name: c.verdict for c in self.checks}

    # -- renderings -------------------------------------------------------------------

    def table(self) -> Table:
        counts = {v: sum(c.verdict is v for c in self.checks) for v in Verdict}
        # Text, never markup strings: evidence quotes frames and names ("[example a]",
        # JSON arrays, "ws://[::1]/ws") that rich would otherwise take for styles.
        table = Table(
            title=Text(f"specwire contract: {self.url} against {self.spec} ({self.title})"),
            caption=Text(
                f"{counts[Verdict.PASS]} passed, {counts[Verdict.FAIL]} failed, "
                f"{counts[Verdict.SKIP]} skipped in {self.duration_s:.1f} s; "
                f"{self.frames_sent} frames sent, {self.frames_received} received; "
                f"replay with --seed {self.seed}"
            ),
            box=box.SIMPLE_HEAVY,
            title_justify="left",
            caption_justify="left",
        )
        table.add_column("check", no_wrap=True)
        table.add_column("verdict", no_wrap=True)
        table.add_column("time", justify="right", no_wrap=True)
        table.add_column("evidence", overflow="fold")
        for check in self.checks:
            table.add_row(
                Text(check.name),
                Text(check.verdict.value.upper(), style=_STYLES[check.verdict]),
                f"{check.duration_s:.2f} s",
                Text(check.summary),
            )
        return table

    def render(self, console: Console) -> None:
        console.print(self.table())
        for check in self.failed:
            console.print(Text(f"{check.name}: evidence", style="bold red"))
            for line in check.evidence:
                console.print(Text("  " + line), soft_wrap=True)

    def summary(self, width: int = 120) -> str:
        """The rendering as plain text (for assertion messages and logs)."""
        console = Console(file=io.StringIO(), width=width, record=True, color_system=None)
        self.render(console)
        return console.export_text()

    def to_json(self) -> dict[str, Any]:
        return {
            "url": self.url,
            "spec": self.spec,
            "title": self.title,
            "seed": self.seed,
            "started_at": self.started_at,
            "duration_s": round(self.duration_s, 3),
            "passed": self.passed,
            "frames_sent": self.frames_sent,
            "frames_received": self.frames_received,
            "checks": [c.to_json() for c in self.checks],
        }

    def json_text(self) -> str:
        return json.dumps(self.to_json(), indent=2, ensure_ascii=False) + "\n"

    def junit_xml(self) -> str:
        suite = ET.Element(
            "testsuite",
            {
                "name": f"specwire contract {self.title}",
                "tests": str(len(self.checks)),
                "failures": str(len(self.failed)),
                "errors": "0",
                "skipped": str(sum(c.verdict is Verdict.SKIP for c in self.checks)),
                "time": f"{self.duration_s:.3f}",
            },
        )
        properties = ET.SubElement(suite, "properties")
        for name, value in (("url", self.url), ("spec", self.spec), ("seed", str(self.seed))):
            ET.SubElement(properties, "property", {"name": name, "value": _xml(value)})
        for check in self.checks:
            case = ET.SubElement(
                suite,
                "testcase",
                {
                    "classname": "specwire.contract",
                    "name": check.name,
                    "time": f"{check.duration_s:.3f}",
                },
            )
            if check.verdict is Verdict.FAIL:
                failure = ET.SubElement(case, "failure", {"message": _xml(check.summary)})
                failure.text = _xml("\n".join(check.evidence))
            elif check.verdict is Verdict.SKIP:
                ET.SubElement(case, "skipped", {"message": _xml(check.summary)})
            else:
                out = ET.SubElement(case, "system-out")
                out.text = _xml("\n".join([check.summary, *check.evidence]))
        ET.indent(suite)
        return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(suite, "unicode") + "\n"
