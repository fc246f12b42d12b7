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
    recent: list  # named rows: imported_at, path, kind, lines, rows_inserted, duplicates, bad_lines, size_bytes


def past_imports(pool, limit: int = 500) -> PastImports:
    q = queries.named("import_history")
    with pool.connection() as conn:
        totals = queries.named_row(conn, q["import_totals"])
        recent = queries.named_rows(conn, q["past_imports"], {"limit": limit})
    return PastImports(totals.files, totals.rows_inserted, totals.bad_lines, totals.last_import, recent)
