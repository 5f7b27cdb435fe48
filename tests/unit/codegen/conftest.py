"""Fixtures for the codegen unit tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from specdocs import WriteSpec, minimal


@pytest.fixture
def write_spec(tmp_path: Path) -> WriteSpec:
    """Write a document (and optional extra files) into ``tmp_path``; return the document's path."""

    def write(
        doc: dict[str, Any] | None = None,
        name: str = "asyncapi.yaml",
        files: dict[str, Any] | None = None,
    ) -> Path:
        for relative, content in (files or {}).items():
            path = tmp_path / relative
            path.parent.mkdir(parents=True, exist_ok=True)
            text = content if isinstance(content, str) else yaml.safe_dump(content, sort_keys=False)
            path.write_text(text, encoding="utf-8")
        path = tmp_path / name
        path.write_text(
            yaml.safe_dump(doc if doc is not None else minimal(), sort_keys=False), encoding="utf-8"
        )
        return path

    return write
