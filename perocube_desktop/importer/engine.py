"""The historical import engine, shared by the wizard and ``perocube-desktop import``.

Exactly once at row level: the unique keys decide, ``imported_file`` remembers how far
each file was read (size, mtime, byte offset, SHA-256 of that prefix, lines). An
unchanged file is skipped from its size and mtime; a grown file is verified by its
prefix hash and only its tail is read; a rewritten file is read again in full with
row-level de-duplication. Each chunk of a file is one transaction that also advances
``imported_file``, so a cancel or a crash resumes where it stopped.

The parts: ``results`` (options, progress, summary), ``plan`` (the file side), ``loader`` (the
database side), ``files`` (one file, chunk by chunk), ``parallel`` (several loaders side by side,
through time together, with the TimescaleDB refresh beside them), ``preview`` (what an import
would do); this module runs them.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path

import psycopg

from ..db import catalog, rollups
from .files import count_outcome, import_file, import_one
from .loader import Loader, RollupRefresher
from .parallel import import_parallel
from .plan import FilePlan, plan_file
from .preview import PreviewRow, preview
from ..protocol import KINDS
from .results import ImportOptions, ImportRun, ImportSummary, Problem, Progress, chunk_bytes, summary_csv
from .scan import LabFile, ScanResult, require_lab_files, scan
from ..db import session as db_session

log = logging.getLogger(__name__)

__all__ = ["ImportOptions", "ImportSummary", "PreviewRow", "Progress", "import_file", "preview", "run_import",
           "summary_csv"]

def run_import(
    conninfo: str,
    root: Path,
    opts: ImportOptions | None = None,
    progress: Callable[[Progress], None] | None = None,
    cancel: threading.Event | None = None,
    scanned: ScanResult | None = None,
) -> ImportSummary:
    """Import a folder. Raises FileNotFoundError (no folder), scan.ImportFolderError (no lab file in it)
    or psycopg.OperationalError (no database)."""
    opts = opts or ImportOptions()
    cancel = cancel or threading.Event()
    t0 = time.perf_counter()
    result = scanned or scan(root)
    require_lab_files(result)
    summary = ImportSummary(dry_run=opts.dry_run)
    summary.files["skipped"] = len(result.skipped)
    summary.skipped_files = [{"file": s.rel, "reason": s.reason} for s in result.skipped]
    data_files = [f for f in result.files if f.kind in KINDS]
    logbooks = [f for f in result.files if f.kind == "logbook"]
    total_bytes = sum(f.size for f in data_files)
    state = Progress(0, len(data_files), 0, 0, total_bytes)

    def on_chunk(nbytes: int, rows: int) -> None:
        state.bytes_done += nbytes
        state.rows_done += rows
        if progress:
            progress(state)

    with db_session.connect(conninfo, connect_timeout=10, application_name="perocube-import", autocommit=True) as conn:
        timescaledb = catalog.timescaledb_active(conn)
        opts = replace(opts, chunk_bytes=opts.chunk_bytes or chunk_bytes(timescaledb))
        run = ImportRun(conninfo, opts, summary, state, on_chunk, cancel, progress)
        loader = Loader(conn, opts.timezone)
        refresher = None if opts.dry_run or timescaledb else RollupRefresher(conninfo)
        hold = None if opts.dry_run else rollups.CompressionHold(conn)
        if refresher is not None:
            loader.on_committed = refresher.submit
        try:
            _import_all(conn, loader, refresher, run, data_files, logbooks)
        finally:
            if refresher is not None:
                refresher.finish()
            if hold is not None:
                hold.release()
    summary.seconds = time.perf_counter() - t0
    return summary


def _prefetch(pool: ThreadPoolExecutor, conn: psycopg.Connection, nxt: LabFile | None,
              opts: ImportOptions) -> Future[FilePlan] | None:
    """Read and clean the next small file in a helper thread while this one loads (the server waits
    on COPY, Python's file work overlaps it); large files stream chunk by chunk instead."""
    if nxt is None or nxt.size > opts.read_size:
        return None
    plan = plan_file(conn, nxt, opts)
    return pool.submit(plan.prefetch) if not plan.unchanged else pool.submit(lambda: plan)


def _import_logbooks(conn: psycopg.Connection, logbooks: list[LabFile], opts: ImportOptions,
                     summary: ImportSummary) -> None:
    from .logbook import import_logbook

    for book in logbooks:
        res = import_logbook(conn, book.path, opts.timezone, opts.dry_run)
        for k in summary.logbook:
            summary.logbook[k] += getattr(res, k)
        summary.problems.extend(Problem(book.rel, p[0], p[1]) for p in res.problems)


def _import_serial(conn: psycopg.Connection, loader: Loader, run: ImportRun, data_files: list[LabFile]) -> None:
    """One connection (a dry run, one file, ``loaders`` 1): the next small file is read and cleaned
    in a helper thread while this one loads."""
    state = run.state
    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="import-read")
    upcoming: Future[FilePlan] | None = None
    for i, f in enumerate(data_files):
        state.current = f.rel
        run.report()
        size_before = state.bytes_done
        current = upcoming
        upcoming = _prefetch(pool, conn, data_files[i + 1] if i + 1 < len(data_files) else None, run.opts)
        out = import_one(loader, f, run, current.result() if current is not None else None)
        count_outcome(run.summary, f, out)
        state.bytes_done = size_before + f.size if out.status != "failed" else state.bytes_done
        state.files_done += 1
        if out.status == "cancelled":
            break
        run.report()
    pool.shutdown(wait=True, cancel_futures=True)


def _import_all(conn: psycopg.Connection, loader: Loader, refresher: RollupRefresher | None, run: ImportRun,
                data_files: list[LabFile], logbooks: list[LabFile]) -> None:
    opts, summary = run.opts, run.summary
    # a dry run does all the work inside one transaction that is rolled back: exact counts
    with conn.transaction(force_rollback=True) if opts.dry_run else contextlib.nullcontext():
        if opts.dry_run or opts.loaders <= 1 or len(data_files) <= 1:
            _import_serial(conn, loader, run, data_files)
        else:
            import_parallel(run, loader.on_committed, catalog.timescaledb_active(conn), data_files)
        if opts.include_logbook and not summary.cancelled:
            _import_logbooks(conn, logbooks, opts, summary)
        if refresher is not None:
            t_roll = time.perf_counter()
            refresher.finish()
            summary.rollup_seconds = time.perf_counter() - t_roll
        if not opts.dry_run:
            summary.rollup_seconds += rollups.refresh(conn, conninfo=run.conninfo).seconds
