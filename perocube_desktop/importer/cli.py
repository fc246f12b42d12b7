"""``perocube-desktop import DIR``: the import engine with a terminal progress bar."""

from __future__ import annotations

import json
import sys
import time

from ..config import Settings, check_timezone
from .engine import ImportOptions, Progress, run_import


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
    if not args.folder.is_dir():
        print(f"error: {args.folder} is not a folder", file=sys.stderr)
        return 2
    target = open_database(settings, getattr(args, "db", None))
    try:
        bar = None if args.json else TerminalProgress()
        summary = run_import(target.conninfo, args.folder,
                             ImportOptions(timezone=args.timezone, dry_run=args.dry_run,
                                           include_logbook=not args.no_logbook),
                             progress=bar)
        if bar:
            bar.done()
    finally:
        target.stop()
    if args.json:
        data = summary.to_json()
        # per file: inserted + duplicates + bad_lines = lines (every line of every matching file)
        data["files_detail"] = data.pop("outcomes")
        print(json.dumps(data, indent=1, default=str))
        return 0
    print(f"{'DRY RUN: nothing written. ' if summary.dry_run else ''}"
          f"{summary.files['imported']} files imported, {summary.files['unchanged']} unchanged, "
          f"{summary.files['skipped']} skipped, in {summary.seconds:.1f} s")
    for kind in summary.inserted:
        print(f"  {kind:<12} inserted {summary.inserted[kind]:>10,}   duplicates skipped {summary.duplicates[kind]:>8,}")
    print(f"  lines read {summary.lines:,} = inserted + duplicates + {summary.bad_lines:,} not imported "
          "(quarantined, blank, or a last line still being written); "
          f"logbook: {summary.logbook}")
    for s in summary.skipped_files:
        print(f"  skipped {s['file']}: {s['reason']}")
    for p in summary.problems[:50]:
        print(f"  {p.file}:{p.line or ''}: {p.reason}")
    if len(summary.problems) > 50:
        print(f"  ... {len(summary.problems) - 50} more problems (use --json for all)")
    return 0
