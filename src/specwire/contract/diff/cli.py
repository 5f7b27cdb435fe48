"""``specwire diff`` on the command line."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from specwire.codegen.loader import DocumentError
from specwire.contract.diff.differ import diff_documents


def add_parser(subparsers: Any) -> None:
    """Add ``diff`` to the ``specwire`` command's subparsers."""
    parser = subparsers.add_parser(
        "diff",
        help="classify the changes between two documents as breaking or not",
        description="Compare two AsyncAPI 3 documents and say which changes break clients "
        "built on the old one (talking to a new server) or servers built on the old one "
        "(talking to new clients). Exit 1 when a finding reaches --fail-on, 2 when a "
        "document cannot be read.",
    )
    parser.add_argument("old", help="the document clients and servers were built on")
    parser.add_argument("new", help="the changed document")
    parser.add_argument(
        "--json",
        metavar="FILE",
        help="also write the findings as JSON to FILE ('-': JSON on stdout instead of text)",
    )
    parser.add_argument(
        "--fail-on",
        choices=["breaking", "any", "none"],
        default="breaking",
        help="exit 1 on breaking findings (default), on any finding, or never",
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Run ``specwire diff``: print the report, return the exit code."""
    try:
        report = diff_documents(args.old, args.new)
    except DocumentError as exc:
        print(f"{exc.location.display(Path.cwd())}: error: {exc.reason}", file=sys.stderr)
        return 2
    rendered = json.dumps(report.to_json(), indent=2, ensure_ascii=False) + "\n"
    if args.json == "-":
        sys.stdout.write(rendered)
    else:
        sys.stdout.write(report.render())
        if args.json:
            Path(args.json).write_text(rendered, encoding="utf-8")
    print(report.summary(), file=sys.stderr)
    fail_on = getattr(args, "fail_on", "breaking")
    if fail_on == "any":
        return 1 if report.findings else 0
    if fail_on == "breaking":
        return 1 if report.breaking else 0
    return 0
