"""The ``specwire`` command: ``generate`` and ``check``."""

from __future__ import annotations

import argparse
import keyword
import sys
from collections.abc import Sequence
from pathlib import Path

from specwire import __version__
from specwire.codegen.loader import DocumentError

__all__ = ["main"]


def _generate(args: argparse.Namespace) -> int:
    from specwire.codegen.generate import check_file, check_tree, generate, write_tree  # noqa: PLC0415

    if args.package is not None and not (
        args.package.isidentifier() and not keyword.iskeyword(args.package)
    ):
        print(f"error: --package {args.package!r} is not a Python identifier", file=sys.stderr)
        return 2
    generated = generate(args.spec, package=args.package)
    for warning in generated.warnings:
        print(f"{args.spec}: warning: {warning}", file=sys.stderr)
    out = Path(args.out)
    if args.check:
        diff = check_tree(generated.files, out)
        if args.docs:
            diff += check_file(generated.reference, Path(args.docs))
        if diff:
            sys.stdout.write(diff)
            print(
                f"generated code is out of date with {args.spec}: "
                "run `specwire generate` without --check",
                file=sys.stderr,
            )
            return 1
        checked = f"{out / generated.package}" + (f" and {args.docs}" if args.docs else "")
        print(f"{checked}: up to date with {args.spec}")
        return 0
    write_tree(generated.files, out)
    print(f"wrote {out / generated.package} ({len(generated.files)} files)")
    if args.docs:
        docs = Path(args.docs)
        docs.parent.mkdir(parents=True, exist_ok=True)
        docs.write_text(generated.reference, encoding="utf-8")
        print(f"wrote {docs}")
    return 0


def _check(args: argparse.Namespace) -> int:
    from specwire.codegen.lint import lint  # noqa: PLC0415

    problems = lint(
        args.spec,
        Path(args.metaschema) if args.metaschema else None,
        require_metaschema=args.strict,
    )
    base = Path.cwd()
    errors = [p for p in problems if p.severity == "error"]
    for problem in problems:
        print(problem.render(base))
    failed = bool(errors) or (args.strict and bool(problems))
    warnings = len(problems) - len(errors)
    print(f"{args.spec}: {len(errors)} error(s), {warnings} warning(s)", file=sys.stderr)
    return 1 if failed else 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="specwire", description="Spec-first toolkit for real-time WebSocket APIs."
    )
    parser.add_argument("--version", action="version", version=f"specwire {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)

    gen = commands.add_parser(
        "generate", help="generate typed Python (models, validators, JSON Schemas) from a document"
    )
    gen.add_argument("spec", help="the AsyncAPI 3.0/3.1 document (YAML or JSON)")
    gen.add_argument("--out", required=True, help="folder that receives the package folder")
    gen.add_argument("--package", help="package name (default: derived from info.title)")
    gen.add_argument("--docs", help="also write the Markdown protocol reference to this file")
    gen.add_argument(
        "--check",
        action="store_true",
        help="write nothing; print a diff and exit 1 if output would change",
    )
    gen.set_defaults(func=_generate)

    check = commands.add_parser(
        "check", help="lint a document: meta-schema, refs, channels, examples, tags"
    )
    check.add_argument("spec", help="the AsyncAPI 3.0/3.1 document (YAML or JSON)")
    check.add_argument(
        "--metaschema", help="the AsyncAPI meta-schema JSON (default: from @asyncapi/specs)"
    )
    check.add_argument(
        "--strict",
        action="store_true",
        help="fail on warnings too, and when no meta-schema is found",
    )
    check.set_defaults(func=_check)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        code: int = args.func(args)
    except DocumentError as exc:
        print(f"{exc.location.display(Path.cwd())}: error: {exc.reason}", file=sys.stderr)
        return 1
    return code
