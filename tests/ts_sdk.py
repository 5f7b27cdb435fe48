"""Helpers of the TypeScript SDK tests: generate a package for a document, run ``tsc``."""

from __future__ import annotations

import subprocess
from pathlib import Path

from specwire.codegen.build import build_spec
from specwire.codegen.emit_typescript import emit_typescript
from specwire.codegen.generate import header_line
from specwire.codegen.loader import Workspace
from specwire.codegen.schemas import bundle_schemas, find_tag
from specwire.codegen.sdk import client_model

ROOT = Path(__file__).resolve().parents[1]
NODE_MODULES = ROOT / "node_modules"
TSC = NODE_MODULES / ".bin" / "tsc"


def typescript_package(spec_path: Path, package: str = "console-live-updates") -> dict[str, str]:
    """The TypeScript package for a document, built the way ``generate`` builds its inputs."""
    workspace = Workspace.open(spec_path)
    spec = build_spec(workspace)
    bundle = bundle_schemas(workspace, spec)
    untagged = client_model(spec, None)
    tag = find_tag(bundle, [bundle.payloads[m] for m in untagged.server_messages])
    model = client_model(spec, tag.property if tag is not None else None)
    header = header_line(spec, workspace.sha256())
    return emit_typescript(spec, bundle, model, header, package)


def write_package(files: dict[str, str], out: Path) -> Path:
    """Write ``files`` under ``out``, with the repository's ``node_modules`` linked beside them."""
    for relative, text in files.items():
        path = out / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    (out / "node_modules").symlink_to(NODE_MODULES, target_is_directory=True)
    return out


def tsc(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(TSC), *args], capture_output=True, text=True, timeout=timeout, check=False
    )
