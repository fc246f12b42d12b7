"""What an import would do, per file, without writing: lines, time range, new rows expected."""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from dataclasses import dataclass


from ..db import queries
from .results import Progress
from .scan import ScanResult
from ..db import session as db_session


@dataclass
class PreviewRow:
    file: str
    kind: str
    target: str
    size: int
    lines: int = 0
    first: str = ""
    last: str = ""
    status: str = ""  # new | grown | unchanged | rewritten | skipped | logbook
    new_rows: int = 0
    problems: str = ""


_LOOKS_LIKE_TS = re.compile(r"\d{4}-\d\d-\d\d[T ]\d\d:\d\d")


def _ts_of(line: bytes) -> str:
    return line.split(b"\t", 1)[0][:32].decode("utf-8", "replace").strip()


def preview(conninfo: str | None, result: ScanResult, progress: Callable[[Progress], None] | None = None,
            cancel: threading.Event | None = None) -> list[PreviewRow]:
    """What an import would do, per file, without writing: lines, time range, new rows expected."""
    records: dict = {}  # path -> its imported_file row (named)
    if conninfo:
        with db_session.connect(conninfo, connect_timeout=10) as conn:
            records = {r.path: r for r in queries.named_rows(conn, queries.get("import", "imported_files"))}
    rows = [PreviewRow(s.rel, "skipped", "", 0, status="skipped", problems=s.reason) for s in result.skipped]
    files = result.files
    state = Progress(0, len(files), 0, 0, sum(f.size for f in files))
    for f in files:
        if cancel is not None and cancel.is_set():
            break
        row = PreviewRow(f.rel, f.kind, f.target, f.size)
        if f.kind == "logbook":
            row.status = "logbook"
        else:
            rec = records.get(str(f.path))
            lines = first = last = None
            with open(f.path, "rb") as fh:
                head = fh.read(4096)
                first = head.split(b"\n", 1)[0]
                n = head.count(b"\n")
                tail = head
                while block := fh.read(8 << 20):
                    n += block.count(b"\n")
                    tail = block
                lines = n
            complete = tail[: tail.rfind(b"\n")] if b"\n" in tail else b""
            last = complete.rsplit(b"\n", 1)[-1]
            row.lines, row.first, row.last = lines, _ts_of(first), _ts_of(last)
            if not _LOOKS_LIKE_TS.match(row.first):
                row.first, row.last = "", ""
                row.problems = "does not start with a timestamp (garbage bytes?)"
            if tail and not tail.endswith(b"\n"):
                row.problems = "; ".join(p for p in (row.problems, "last line incomplete (left for later)") if p)
            if rec is None:
                row.status, row.new_rows = "new", lines
            elif rec.size_bytes == f.size and rec.mtime_ns == f.mtime_ns:
                row.status, row.new_rows = "unchanged", 0
            elif f.size >= rec.imported_bytes:
                row.status, row.new_rows = "grown or changed", max(lines - rec.lines, 0)
            else:
                row.status, row.new_rows = "rewritten", lines
        rows.append(row)
        state.files_done += 1
        state.bytes_done += f.size
        if progress:
            progress(state)
    return rows
