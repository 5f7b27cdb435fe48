"""Golden files: what codegen writes for three documents, committed and compared byte for byte.

For each case, every file of ``generate(...).files`` and the protocol reference
(stored as ``protocol.md``) must equal its copy under ``expected/<case>/``, and
there must be no other file there. A change in codegen output therefore shows
up in review as a diff of these files.

Python sources are stored with a ``.golden`` suffix (``models.py.golden``): they
are data here, and must not be linted, reformatted or type-checked as this
project's code, which would change their bytes.

After an intended change, rewrite them with ``make golden`` (which runs these
tests with ``SPECWIRE_UPDATE_GOLDEN=1``) and review the diff.
"""

from __future__ import annotations

import difflib
import os
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from conftest import GeneratedCases

EXPECTED = Path(__file__).resolve().parent / "expected"
REPO = EXPECTED.parents[2]
CASES = ("console", "multifile", "polymorphic")
REFERENCE = "protocol.md"
UPDATE = os.environ.get("SPECWIRE_UPDATE_GOLDEN") == "1"
MAX_DIFF_LINES = 400


def stored_name(relative: str) -> str:
    return relative + ".golden" if relative.endswith(".py") else relative


def relative_name(stored: str) -> str:
    return stored.removesuffix(".golden")


def actual_files(cases: GeneratedCases, spec: Path) -> dict[str, bytes]:
    generated = cases.generated(spec)
    files = {relative: text.encode("utf-8") for relative, text in generated.files.items()}
    assert REFERENCE not in files
    files[REFERENCE] = generated.reference.encode("utf-8")
    return files


def golden_files(folder: Path) -> dict[str, bytes]:
    if not folder.is_dir():
        return {}
    return {
        relative_name(path.relative_to(folder).as_posix()): path.read_bytes()
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    }


def rewrite(folder: Path, files: dict[str, bytes]) -> None:
    for path in sorted(folder.rglob("*"), reverse=True) if folder.is_dir() else ():
        if path.is_file() and relative_name(path.relative_to(folder).as_posix()) not in files:
            path.unlink()
        elif path.is_dir() and not any(path.iterdir()):
            path.rmdir()
    for relative, content in files.items():
        path = folder / stored_name(relative)
        path.parent.mkdir(parents=True, exist_ok=True)
        if not path.is_file() or path.read_bytes() != content:
            path.write_bytes(content)


def describe_differences(case: str, expected: dict[str, bytes], actual: dict[str, bytes]) -> str:
    lines: list[str] = []
    missing = sorted(set(expected) - set(actual))
    extra = sorted(set(actual) - set(expected))
    if missing:
        lines += ["in the golden files but no longer generated:", *(f"  {m}" for m in missing)]
    if extra:
        lines += ["generated but not in the golden files:", *(f"  {e}" for e in extra)]
    for relative in sorted(set(expected) & set(actual)):
        if expected[relative] == actual[relative]:
            continue
        old = expected[relative].decode("utf-8", "replace").splitlines(keepends=True)
        new = actual[relative].decode("utf-8", "replace").splitlines(keepends=True)
        golden = f"expected/{case}/{stored_name(relative)}"
        diff = list(difflib.unified_diff(old, new, f"a/{golden}", f"b/{relative} (generated)"))
        lines.extend(line.rstrip("\n") for line in diff or [f"{relative}: bytes differ\n"])
    if len(lines) > MAX_DIFF_LINES:
        lines = [*lines[:MAX_DIFF_LINES], f"... {len(lines) - MAX_DIFF_LINES} more lines"]
    return "\n".join(lines)


@pytest.mark.parametrize("case", CASES)
def test_generated_files_match_golden(
    case: str, generated_cases: GeneratedCases, golden_specs: dict[str, Path]
) -> None:
    folder = EXPECTED / case
    spec = golden_specs[case]
    actual = actual_files(generated_cases, spec)
    if UPDATE:
        rewrite(folder, actual)
    expected = golden_files(folder)
    if expected != actual:
        pytest.fail(
            f"generated output for {case!r} ({spec.name}) differs from the golden files "
            f"in {folder.relative_to(REPO)}/.\n"
            "If the change is intended, run `make golden` and review the diff.\n\n"
            + describe_differences(case, expected, actual),
            pytrace=False,
        )
