"""Shared inputs of the golden and public-spec tests: the documents, and their generated packages.

Every document is generated once per session (``generate()`` is pure), and each
package is written with ``write_tree`` into one session-wide temporary folder, so
that the import, mypy and example tests all look at the same files. Package names
come from ``info.title`` and differ between the documents; a clash is an error.

Test modules take everything from here as fixtures (they do not import this module).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import pytest

from specwire.codegen.generate import Generated, generate, write_tree

REPO = Path(__file__).resolve().parents[2]
DATA = REPO / "tests" / "data"
CONSOLE_SPEC = REPO / "asyncapi.yaml"
FIXTURE_SPECS = {
    "multifile": DATA / "fixtures" / "multifile" / "asyncapi.yaml",
    "polymorphic": DATA / "fixtures" / "polymorphic" / "asyncapi.yaml",
}
PUBLIC_SPECS = sorted((DATA / "specs").glob("*.yml"))
ALL_SPECS = [*PUBLIC_SPECS, *FIXTURE_SPECS.values()]
"""Every document the public-spec tests run over: the AsyncAPI examples and our fixtures."""


def spec_id(path: Path) -> str:
    """A short test id: the fixture's name, or the public document's file stem."""
    for name, fixture in FIXTURE_SPECS.items():
        if path == fixture:
            return name
    return path.stem.removesuffix("-asyncapi")


@dataclass(frozen=True)
class GeneratedPackage:
    spec: Path
    generated: Generated
    root: Path
    """The folder that holds the package folder (what goes on ``sys.path``)."""

    @property
    def name(self) -> str:
        return self.generated.package

    @property
    def path(self) -> Path:
        return self.root / self.name


class GeneratedCases:
    """Generates each document once, on first use, and writes its package under ``root``."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._generated: dict[Path, Generated | Exception] = {}
        self._written: dict[Path, GeneratedPackage] = {}
        self._owners: dict[str, Path] = {}

    def generated(self, spec: Path) -> Generated:
        if spec not in self._generated:
            try:
                self._generated[spec] = generate(spec)
            except Exception as exc:  # remembered so every test of this document reports it
                self._generated[spec] = exc
        result = self._generated[spec]
        if isinstance(result, Exception):
            raise result
        return result

    def package(self, spec: Path) -> GeneratedPackage:
        if spec not in self._written:
            generated = self.generated(spec)
            owner = self._owners.setdefault(generated.package, spec)
            if owner != spec:
                pytest.fail(
                    f"{spec_id(spec)} and {spec_id(owner)} both generate package {generated.package!r}"
                )
            write_tree(generated.files, self.root)
            self._written[spec] = GeneratedPackage(spec, generated, self.root)
        return self._written[spec]

    def packages(self, specs: Iterable[Path]) -> list[GeneratedPackage]:
        return [self.package(spec) for spec in specs]


@pytest.fixture(scope="session")
def generated_cases(tmp_path_factory: pytest.TempPathFactory) -> GeneratedCases:
    return GeneratedCases(tmp_path_factory.mktemp("generated"))


@pytest.fixture(scope="session")
def all_specs() -> list[Path]:
    return list(ALL_SPECS)


@pytest.fixture(scope="session")
def golden_specs() -> dict[str, Path]:
    """The documents with golden files: case name -> document."""
    return {"console": CONSOLE_SPEC, **FIXTURE_SPECS}


@pytest.fixture(params=ALL_SPECS, ids=spec_id)
def spec_path(request: pytest.FixtureRequest) -> Path:
    """Each public AsyncAPI example document and each of our fixtures, in turn."""
    path: Path = request.param
    return path
