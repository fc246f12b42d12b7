"""``perocube-desktop report``."""

from __future__ import annotations

import sys
from datetime import datetime, timezone

from .. import interrupt
from ..config import Settings, UserError
from ..units import plural
from .report import Selection, build, export
from .runs import parse_run

TIME_FORMAT = "ISO 8601, e.g. 2024-05-01 or 2024-05-01T14:30 (UTC unless it has an offset such as +02:00)"


def parse_time(text: str | None, option: str = "--from") -> datetime | None:
    if not text:
        return None
    try:
        dt = datetime.fromisoformat(text)
    except ValueError:
        raise UserError(f"{option} {text!r} is not a time: use {TIME_FORMAT}") from None
    return dt if dt.tzinfo else dt.replace(tzinfo=timezone.utc)


def _check_out(out) -> str | None:
    if out.suffix.lower() not in (".pdf", ".csv", ".xlsx", ".json"):
        return f"--out must end in .pdf, .csv, .xlsx or .json, not {out.suffix!r}"
    if not out.parent.is_dir():  # never create folders the user did not ask for
        return f"--out: the folder {out.parent} does not exist: create it first, or write the report elsewhere"
    if out.is_dir():
        return f"--out: {out} is a folder: give a file name, e.g. {out / 'report.pdf'}"
    return None


def run(args, settings: Settings) -> int:
    from ..db.connection import open_database, read_conninfo
    from .selection import why_empty

    if (problem := _check_out(args.out)) is not None:
        print(f"error: {problem}", file=sys.stderr)
        return 2
    try:
        run_choice = parse_run(getattr(args, "run", "latest"))
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    sel = Selection(args.device, args.pixel, args.board, args.all, parse_time(args.start, "--from"),
                    parse_time(args.end, "--to"), args.experiment, args.project, run_choice)
    again = f"{args.out} was not written; run the same command again"
    target = open_database(settings, getattr(args, "db", None))
    # a read replica when one is configured and no --db was given (the report only reads)
    conninfo = target.conninfo if getattr(args, "db", None) else read_conninfo(settings, target.conninfo)
    try:
        with interrupt.describe(again):
            shown: list[int] = []

            def progress(i: int, n: int) -> None:
                shown.append(i)
                print(f"\r{i}/{n} pixels", end="", file=sys.stderr)

            report = build(conninfo, sel, settings.report, progress=progress)
            if shown:
                print(file=sys.stderr)
            if not report.pixels:
                from ..db import session as db_session

                with db_session.connect(conninfo, connect_timeout=10) as conn:
                    problem = why_empty(conn, sel)
    finally:
        target.stop()
    if not report.pixels:
        print(f"error: {problem}; {args.out} was not written", file=sys.stderr)
        return 2
    with interrupt.describe(f"{again} (nothing half-written is left)"):
        export(report, args.out)
    print(f"report with {plural(len(report.pixels), 'pixel')} written to {args.out}")
    return 0
