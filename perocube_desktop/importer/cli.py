"""``perocube-desktop import DIR``: the import engine with a terminal progress bar."""

from __future__ import annotations

import json
import sys
import threading
import time

from .. import interrupt
from ..config import Settings, check_timezone
from .engine import ImportOptions, Progress, run_import
from .scan import check_folder, require_lab_files, scan


class TerminalProgress:
    def __init__(self, stream=sys.stderr) -> None:
        self.stream = stream
        self.t0 = time.perf_counter()
        self.last = 0.0

    def __call__(self, p: Progress) -> None:
        now = time.perf_counter()
        if now - self.last < 0.2 and p.files_done < p.files_total:
            return
        self.last = now
        frac = p.bytes_done / p.bytes_total if p.bytes_total else 1.0
        bar = "#" * int(frac * 30)
        rate = p.rows_done / max(now - self.t0, 1e-6)
        left = (now - self.t0) * (1 - frac) / frac if frac > 0 else 0
        self.stream.write(f"\r[{bar:<30}] {frac:6.1%} files {p.files_done}/{p.files_total} rows {p.rows_done:,} "
                          f"({rate:,.0f}/s, {left:,.0f} s left)   ")
        self.stream.flush()

    def done(self) -> None:
        self.stream.write("\n")


def run(args, settings: Settings) -> int:
    from ..db.connection import open_database

    check_timezone(args.timezone, "--timezone")
    folder = check_folder(args.folder, relative_ok=True)  # the shell's working folder is the user's choice
    scanned = scan(folder)
    require_lab_files(scanned)  # before the database: a folder with no lab file is an error, not "0 imported"
    target = open_database(settings, getattr(args, "db", None))
    cancel = threading.Event()
    resume = f"run 'perocube-desktop import {folder}' again to import the rest"
    try:
        bar = None if args.json else TerminalProgress()
        with interrupt.describe(f"the chunks committed so far are kept; {resume}"), \
                interrupt.cooperative(lambda _sig: cancel.set(), "after the current chunk") as stop:
            summary = run_import(target.conninfo, folder,
                                 ImportOptions(timezone=args.timezone, dry_run=args.dry_run,
                                               include_logbook=not args.no_logbook),
                                 progress=bar, cancel=cancel, scanned=scanned)
    finally:
        if bar:
            bar.done()  # the progress line ends before whatever is said next
        target.stop()
    if stop.signum is not None:
        done = "nothing written (dry run)" if summary.dry_run else (
            f"{summary.files['imported']} of {len(scanned.files)} files imported, "
            f"{sum(summary.inserted.values()):,} rows inserted")
        print(interrupt.message(stop.signum, f"{done}; {resume}"), file=sys.stderr)
        return interrupt.exit_code(stop.signum)
    if args.json:
        data = summary.to_json()
        # per file: inserted + duplicates + bad_lines + blank_lines + incomplete_last_line = lines
        data["files_detail"] = data.pop("outcomes")
        print(json.dumps(data, indent=1, default=str))
        return 0
    _print_summary(summary)
    return 0


def _print_summary(summary) -> None:
    print(f"{'DRY RUN: nothing written. ' if summary.dry_run else ''}"
          f"{summary.files['imported']} files imported, {summary.files['unchanged']} unchanged, "
          f"{summary.files['skipped']} skipped, in {summary.seconds:.1f} s")
    for kind in summary.inserted:
        print(f"  {kind:<12} inserted {summary.inserted[kind]:>10,}   duplicates skipped {summary.duplicates[kind]:>8,}")
    print(f"  lines read {summary.lines:,} = inserted + duplicates + {summary.bad_lines:,} refused (quarantined, "
          f"listed below) + {summary.blank_lines:,} blank + {summary.incomplete_lines:,} cut last lines "
          "(left for the next import)")
    print(f"  logbook: {summary.logbook_text()}")
    for s in summary.skipped_files:
        print(f"  skipped {s['file']}: {s['reason']}")
    for p in summary.problems[:50]:
        print(f"  {p.file}:{p.line or ''}: {p.reason}")
    if len(summary.problems) > 50:
        print(f"  ... {len(summary.problems) - 50} more problems (--json lists them; every refused line is in the "
              "quarantine with its reason: Log panel)")
