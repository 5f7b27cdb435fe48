"""The ``specwire`` command: ``generate``, ``check``, ``serve``, ``diff`` and ``contract``."""

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
    from specwire.codegen.generate import (  # noqa: PLC0415
        check_file,
        check_tree,
        generate,
        generate_typescript,
        write_tree,
    )

    typescript = args.lang == "typescript"
    if typescript and args.docs:
        print("error: --docs goes with --lang python", file=sys.stderr)
        return 2
    if (
        not typescript
        and args.package is not None
        and not (args.package.isidentifier() and not keyword.iskeyword(args.package))
    ):
        print(f"error: --package {args.package!r} is not a Python identifier", file=sys.stderr)
        return 2
    if typescript:
        generated = generate_typescript(args.spec, package=args.package)
    else:
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
        where = out if typescript else out / generated.package
        checked = f"{where}" + (f" and {args.docs}" if args.docs else "")
        print(f"{checked}: up to date with {args.spec}")
        return 0
    write_tree(generated.files, out)
    where = out if typescript else out / generated.package
    print(f"wrote {where} ({len(generated.files)} files)")
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


def _serve(args: argparse.Namespace) -> int:
    from pydantic import ValidationError  # noqa: PLC0415

    from specwire.console.server import run  # noqa: PLC0415
    from specwire.console.settings import ServeSettings  # noqa: PLC0415

    given = {
        name: value
        for name, value in vars(args).items()
        if name in ServeSettings.model_fields and value is not None
    }
    try:
        settings = ServeSettings(**given)
    except ValidationError as exc:
        for error in exc.errors():
            where = ".".join(str(part) for part in error["loc"]) or "settings"
            print(f"specwire serve: {where}: {error['msg']}", file=sys.stderr)
        return 2
    return run(settings)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="specwire", description="Spec-first toolkit for real-time WebSocket APIs."
    )
    parser.add_argument("--version", action="version", version=f"specwire {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)

    gen = commands.add_parser(
        "generate", help="generate a typed SDK (Python or TypeScript) from a document"
    )
    gen.add_argument("spec", help="the AsyncAPI 3.0/3.1 document (YAML or JSON)")
    gen.add_argument(
        "--out",
        required=True,
        help="python: the folder that receives the package folder; "
        "typescript: the npm package's own folder",
    )
    gen.add_argument(
        "--lang",
        choices=["python", "typescript"],
        default="python",
        help="python: models, validators, client; typescript: an npm package with "
        "types, a client and an optional validator (default python)",
    )
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

    serve = commands.add_parser(
        "serve",
        help="run the reference console server (WebSocket feed, REST API, metrics)",
        description="Run the reference console server until SIGINT or SIGTERM. Every option "
        "can also be set as an environment variable SPECWIRE_<OPTION> (e.g. SPECWIRE_PORT); "
        "a flag wins over the environment.",
    )
    serve.add_argument("--host", help="interface to listen on (default 127.0.0.1)")
    serve.add_argument("--port", type=int, help="TCP port (default 8000; 0 picks a free one)")
    serve.add_argument(
        "--interval", type=float, help="seconds between two metrics snapshots (default 2.0)"
    )
    serve.add_argument(
        "--token",
        dest="tokens",
        action="append",
        help="a static bearer token granting every scope; repeat for more (default: no auth)",
    )
    serve.add_argument(
        "--jwt-secret", help="accept HS256 JWTs signed with this secret (>= 32 bytes)"
    )
    serve.add_argument(
        "--origin",
        dest="origins",
        action="append",
        help="an allowed browser Origin for /ws, e.g. http://localhost:5173, or '*'; repeat",
    )
    serve.add_argument("--engine", choices=["embedded"], help="cluster engine (default embedded)")
    serve.add_argument("--brokers", type=int, help="brokers of the embedded cluster (default 3)")
    serve.add_argument(
        "--traffic",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="run the embedded traffic generator (default on)",
    )
    serve.add_argument("--seed", type=int, help="seed for a reproducible embedded cluster")
    serve.add_argument("--max-connections", type=int, help="WebSocket connections at once")
    serve.add_argument(
        "--log-level", choices=["debug", "info", "warning", "error"], help="default info"
    )
    serve.set_defaults(func=_serve)

    from specwire.contract.diff import add_parser as add_diff  # noqa: PLC0415
    from specwire.contract.runner import add_parser as add_contract  # noqa: PLC0415

    add_diff(commands)
    add_contract(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        code: int = args.func(args)
    except DocumentError as exc:
        print(f"{exc.location.display(Path.cwd())}: error: {exc.reason}", file=sys.stderr)
        return 1
    return code
