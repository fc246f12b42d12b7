"""What was imported before (the ``imported_file`` table), for the import page. No Qt."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from ..db import queries


@dataclass
class PastImports:
    files: int
    rows: int
    bad_lines: int
    last: datetime | None
    recent: list[tuple]  # (imported_at, path, kind, lines, rows_inserted, duplicates, bad_lines, size_bytes)


def past_imports(pool, limit: int = 500) -> PastImports:
    q = queries.named("import_history")
    with pool.connection() as conn:
        files, rows, bad, last = conn.execute(q["import_totals"]).fetchone()
        recent = conn.execute(q["past_imports"], {"limit": limit}).fetchall()
    return PastImports(files, rows, bad, last, recent)
