"""The documentation's commands, run for real: their output must be what the pages show."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DOCS = REPO / "docs"
BIN = Path(sys.executable).parent


def shown_output(page: Path, command: str) -> str:
    """The output a page shows under ``$ <command>`` in a console block."""
    text = page.read_text(encoding="utf-8")
    pattern = r"^\$ " + re.escape(command) + r"\n(.*?)(?=^\$ |^```)"
    match = re.search(pattern, text, re.DOTALL | re.MULTILINE)
    assert match is not None, f"{page.name} no longer shows `{command}`"
    return match.group(1)


def run(*args: str, env: dict[str, str] | None = None, expect: int | None = 0) -> str:
    result = subprocess.run(
        args,
        cwd=REPO,
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        check=False,
    )
    assert expect is None or result.returncode == expect, result.stdout + result.stderr
    return result.stdout + result.stderr


TUTORIAL = DOCS / "tutorial" / "generate-your-first-package.md"
TUTORIAL_SPEC = "docs/examples/tutorial/asyncapi.yaml"


@pytest.fixture(scope="module")
def ticker(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("ticker")
    shown = shown_output(TUTORIAL, f"specwire generate {TUTORIAL_SPEC} --out /tmp/ticker")
    output = run(str(BIN / "specwire"), "generate", TUTORIAL_SPEC, "--out", str(out))
    assert output == shown.replace("/tmp/ticker", str(out))
    return out


def test_tutorial_check(tmp_path: Path) -> None:
    shown = shown_output(TUTORIAL, f"specwire check {TUTORIAL_SPEC}")
    assert run(str(BIN / "specwire"), "check", TUTORIAL_SPEC) == shown

    clash = tmp_path / "clash.yaml"
    source = (REPO / TUTORIAL_SPEC).read_text(encoding="utf-8")
    clash.write_text(source.replace("const: unsubscribe", "const: subscribe"), encoding="utf-8")
    shown = shown_output(TUTORIAL, "specwire check /tmp/clash.yaml")
    output = run(str(BIN / "specwire"), "check", str(clash), expect=1)
    assert output == shown.replace("/tmp/clash.yaml", str(clash))


def test_tutorial_script_prints_what_the_tutorial_shows(ticker: Path) -> None:
    shown = shown_output(TUTORIAL, "python docs/examples/tutorial/use_generated.py /tmp/ticker")
    assert (
        run(sys.executable, "-W", "error", "docs/examples/tutorial/use_generated.py", str(ticker))
        == shown
    )


def test_tutorial_script_type_checks_against_the_package(ticker: Path, tmp_path: Path) -> None:
    run(
        sys.executable,
        "-m",
        "mypy",
        "--strict",
        "--no-incremental",
        "--cache-dir",
        str(tmp_path / "mypy"),
        "docs/examples/tutorial/use_generated.py",
        env={"MYPYPATH": str(ticker)},
    )


@pytest.mark.parametrize("example", ["multi-file", "untagged"])
def test_how_to_examples_generate(example: str, tmp_path: Path) -> None:
    spec = f"docs/examples/{example}/asyncapi.yaml"
    assert "0 error(s)" in run(str(BIN / "specwire"), "check", spec)
    assert "wrote" in run(str(BIN / "specwire"), "generate", spec, "--out", str(tmp_path))


def test_the_broken_lint_example_fails_on_every_rule() -> None:
    output = run(str(BIN / "specwire"), "check", "docs/examples/lint/broken.yaml", expect=1)
    for rule in (
        "channel-membership",
        "address-parameters",
        "examples",
        "exclusive-messages",
    ):
        assert f"[{rule}]" in output, rule
    # An unresolved reference stops the checks that need the document resolved.
    output = run(str(BIN / "specwire"), "check", "docs/examples/lint/dangling-ref.yaml", expect=1)
    assert "[ref]" in output


HOWTOS = [DOCS / "howto" / "lint-a-spec.md", DOCS / "howto" / "generate-code.md"]
CHECK_COMMANDS = sorted(
    {
        (page.name, command)
        for page in HOWTOS
        for command in re.findall(
            r"^\$ (specwire check (?:--strict )?docs/examples/\S+)$",
            page.read_text(encoding="utf-8"),
            re.MULTILINE,
        )
    }
)


@pytest.mark.parametrize(("page", "command"), CHECK_COMMANDS)
def test_how_to_check_commands_print_what_the_page_shows(page: str, command: str) -> None:
    shown = shown_output(DOCS / "howto" / page, command)
    args = command.split()
    assert run(str(BIN / args[0]), *args[1:], expect=None) == shown


REVIEW = DOCS / "howto" / "review-a-change.md"
REVIEW_DIFF = "specwire diff docs/examples/tutorial/asyncapi.yaml docs/examples/diff/ticker-v2.yaml"


def test_review_a_change_prints_what_the_page_shows() -> None:
    shown = shown_output(REVIEW, REVIEW_DIFF)
    args = REVIEW_DIFF.split()
    assert run(str(BIN / args[0]), *args[1:], expect=1) == shown
    assert "0 error(s), 0 warning(s)" in run(
        str(BIN / "specwire"), "check", "--strict", "docs/examples/diff/ticker-v2.yaml"
    )


def test_review_a_change_report_only_and_json(tmp_path: Path) -> None:
    report = tmp_path / "diff.json"
    old, new = REVIEW_DIFF.split()[2:]
    run(str(BIN / "specwire"), "diff", old, new, "--fail-on", "none", "--json", str(report))
    found = json.loads(report.read_text(encoding="utf-8"))
    assert found["summary"] == {"breaking": 3, "warning": 0, "non-breaking": 1, "info": 0}
    assert found["findings"][0]["rule"] == "security-required"
