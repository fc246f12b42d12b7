"""``perocube-desktop report``."""

from __future__ import annotations

import sys
from datetime import datetime, timezone

from ..config import Settings
from .report import Selection, build, export
from .runs import parse_run


def parse_time(text: str | None) -> datetime | None:
    if not text:
        return None
    dt = datetime.fromisoformat(text)
    return dt if dt.tzinfo else dt.replace(tzinfo=timezone.utc)


def run(args, settings: Settings) -> int:
    from ..db.connection import open_database

    if args.out.suffix.lower() not in (".pdf", ".csv", ".xlsx", ".json"):
        print(f"error: --out must end in .pdf, .csv, .xlsx or .json, not {args.out.suffix!r}", file=sys.stderr)
        return 2
    try:
        sel = Selection(args.device, args.pixel, args.board, args.all, parse_time(args.start), parse_time(args.end),
                        args.experiment, args.project, parse_run(getattr(args, "run", "latest")))
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    target = open_database(settings, getattr(args, "db", None))
    try:
        report = build(target.conninfo, sel, settings.report,
                       progress=lambda i, n: print(f"\r{i}/{n} pixels", end="", file=sys.stderr))
        print(file=sys.stderr)
    finally:
        target.stop()
    if not report.pixels:
        print("error: no pixel matches the selection (check the name with the registry page); "
              f"{args.out} was not written", file=sys.stderr)
        return 2
    export(report, args.out)
    print(f"report with {len(report.pixels)} pixels written to {args.out}")
    return 0
