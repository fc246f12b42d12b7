"""The historical import engine, shared by the wizard and ``perocube-desktop import``.

Exactly once at row level: the unique keys decide, ``imported_file`` remembers how far
each file was read (size, mtime, byte offset, SHA-256 of that prefix, lines). An
unchanged file is skipped from its size and mtime; a grown file is verified by its
prefix hash and only its tail is read; a rewritten file is read again in full with
row-level de-duplication. Each chunk of a file is one transaction that also advances
``imported_file``, so a cancel or a crash resumes where it stopped.

The parts: ``results`` (options, progress, summary), ``plan`` (the file side), ``loader`` (the
database side), ``preview`` (what an import would do); this module runs them.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import FIRST_EXCEPTION, Future, ThreadPoolExecutor, wait
from pathlib import Path
from typing import Protocol

import psycopg

from ..db import catalog, queries, rollups
from ..errors import first_line
from .loader import Loader, RollupRefresher, load_with_retry, row_suffix
from .plan import Chunk, FilePlan, locate_lines, plan_file
from .preview import PreviewRow, preview
from ..protocol import KINDS
from .results import FileOutcome, ImportOptions, ImportSummary, Problem, Progress, summary_csv
from .scan import LabFile, ScanResult, scan

log = logging.getLogger(__name__)

__all__ = ["ImportOptions", "ImportSummary", "PreviewRow", "Progress", "import_file", "preview", "run_import",
           "summary_csv"]

class Cancel(Protocol):
    """What the import asks of a cancel flag (a ``threading.Event``)."""

    def is_set(self) -> bool: ...


_LOCK_RETRIES = 5  # a chunk's transaction is tried again after a deadlock or lock timeout


def _load_chunk(loader: Loader, f: LabFile, chunk: Chunk, suffix: bytes) -> int:
    """One chunk in one transaction: its rows, its refused lines in the quarantine, and the file's
    progress in ``imported_file``; tried again after a deadlock or lock timeout. Rows inserted."""
    conn, q, cleaned = loader.conn, queries.named("import"), chunk.cleaned
    saved = (len(cleaned.bad), cleaned.bad_count, cleaned.good)
    for attempt in range(1, _LOCK_RETRIES + 1):
        try:
            with conn.transaction():
                loader.fast_session(f, None if f.kind == "mpp" else suffix[1:].decode())
                inserted = load_with_retry(loader, f, cleaned, suffix)
                if any(b.line == 0 for b in cleaned.bad):
                    locate_lines(f, chunk, cleaned)
                if cleaned.bad:
                    with conn.cursor() as cur:
                        cur.executemany(q["quarantine_line"],
                                        [(str(f.path), b.line, b.raw, b.reason) for b in cleaned.bad])
                # size -1 until the whole file is done: an interrupted file is never "unchanged"
                conn.execute(q["upsert_imported_file"], (str(f.path), f.kind, -1, f.mtime_ns, chunk.offset_after,
                                                         chunk.digest, chunk.lines_after, inserted,
                                                         cleaned.good - inserted, cleaned.bad_count))
            return inserted
        except (psycopg.errors.DeadlockDetected, psycopg.errors.LockNotAvailable,
                psycopg.errors.SerializationFailure) as exc:
            # e.g. TimescaleDB compressing the chunk this one writes into: the transaction was
            # rolled back whole, so loading it again neither loses nor doubles a row
            if attempt == _LOCK_RETRIES:
                raise
            log.warning("%s: %s; loading this chunk again (attempt %d)", f.rel, first_line(exc), attempt + 1)
            del cleaned.bad[saved[0]:]
            cleaned.bad_count, cleaned.good = saved[1], saved[2]
            time.sleep(0.2 * attempt)
    raise AssertionError("unreachable: the last attempt returns or raises")


def import_file(loader: Loader, f: LabFile, opts: ImportOptions, summary: ImportSummary,
                on_chunk: Callable[[int, int], None], cancel: Cancel,
                plan: FilePlan | None = None) -> FileOutcome:
    conn = loader.conn
    out = FileOutcome(f.rel, f.kind, f.target, "imported")
    plan = plan or plan_file(conn, f, opts)
    if plan.unchanged:
        out.status = "unchanged"
        return out
    with conn.transaction():
        sensor_id = loader.register(f)
    suffix = row_suffix(f, sensor_id or f.sensor_id)
    listed = 0
    for chunk in plan:
        if cancel.is_set():
            out.status = "cancelled"
            break
        cleaned = chunk.cleaned
        inserted = _load_chunk(loader, f, chunk, suffix)
        out.lines += cleaned.lines
        out.good += cleaned.good
        out.inserted += inserted
        out.bad_lines += cleaned.bad_count + cleaned.blank
        out.blank_lines += cleaned.blank
        if loader.on_committed is not None and not opts.dry_run:
            loader.on_committed()
        room = max(opts.keep_problems - listed, 0)
        summary.problems.extend(Problem(f.rel, b.line or None, b.reason) for b in cleaned.bad[:room])
        listed += min(room, len(cleaned.bad))
        on_chunk(chunk.size, cleaned.good)
    out.mode = plan.mode
    out.duplicates = out.good - out.inserted
    if out.status == "cancelled":
        return out
    with conn.transaction():
        conn.execute(queries.get("import", "finish_imported_file"), (plan.end + plan.tail, str(f.path)))
    if plan.tail:
        out.message = f"last line incomplete ({plan.tail} bytes), left for the next import"
        # every line is accounted for: inserted + duplicates + bad_lines = lines
        out.lines += 1
        out.bad_lines += 1
        out.incomplete_last_line = 1
        summary.problems.append(Problem(f.rel, (plan.line_end or 0) + 1, out.message))
    if opts.dry_run:
        out.status = "dry-run"
    return out


def run_import(
    conninfo: str,
    root: Path,
    opts: ImportOptions | None = None,
    progress: Callable[[Progress], None] | None = None,
    cancel: threading.Event | None = None,
    scanned: ScanResult | None = None,
) -> ImportSummary:
    """Import a folder. Raises FileNotFoundError (no folder) or psycopg.OperationalError (no database)."""
    opts = opts or ImportOptions()
    cancel = cancel or threading.Event()
    t0 = time.perf_counter()
    result = scanned or scan(root)
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

    with psycopg.connect(conninfo, connect_timeout=10, application_name="perocube-import", autocommit=True) as conn:
        loader = Loader(conn, opts.timezone)
        refresher = None if opts.dry_run or catalog.timescaledb_active(conn) else RollupRefresher(conninfo)
        hold = None if opts.dry_run else rollups.CompressionHold(conn)
        if refresher is not None:
            loader.on_committed = refresher.submit
        try:
            _import_all(conn, loader, refresher, data_files, logbooks, opts, summary, state, progress, on_chunk, cancel,
                        conninfo)
        finally:
            if refresher is not None:
                refresher.finish()
            if hold is not None:
                hold.release()
    summary.seconds = time.perf_counter() - t0
    return summary


def _count(summary: ImportSummary, f: LabFile, out: FileOutcome) -> None:
    """Add one file's outcome to the summary (a cancelled file's committed chunks count too)."""
    summary.outcomes.append(out)
    if out.status == "unchanged":
        summary.files["unchanged"] += 1
        return
    if out.status == "failed":
        summary.files["skipped"] += 1
        return
    if out.status == "cancelled":
        summary.cancelled = True
    else:
        summary.files["imported"] += 1
    summary.inserted[f.kind] += out.inserted
    summary.duplicates[f.kind] += out.duplicates
    summary.bad_lines += out.bad_lines
    summary.lines += out.lines


def _prefetch(pool: ThreadPoolExecutor, conn: psycopg.Connection, nxt: LabFile | None,
              opts: ImportOptions) -> Future[FilePlan] | None:
    """Read and clean the next small file in a helper thread while this one loads (the server waits
    on COPY, Python's file work overlaps it); large files stream chunk by chunk instead."""
    if nxt is None or nxt.size > opts.chunk_bytes:
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


def _import_serial(conn: psycopg.Connection, loader: Loader, data_files: list[LabFile], opts: ImportOptions,
                   summary: ImportSummary, state: Progress, progress, on_chunk, cancel: threading.Event) -> None:
    """One connection (a dry run, one file, ``loaders`` 1): the next small file is read and cleaned
    in a helper thread while this one loads."""
    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="import-read")
    upcoming: Future[FilePlan] | None = None
    for i, f in enumerate(data_files):
        state.current = f.rel
        if progress:
            progress(state)
        size_before = state.bytes_done
        current = upcoming
        upcoming = _prefetch(pool, conn, data_files[i + 1] if i + 1 < len(data_files) else None, opts)
        out = _import_one(loader, f, opts, summary, on_chunk, cancel, current.result() if current is not None else None)
        _count(summary, f, out)
        state.bytes_done = size_before + f.size if out.status != "failed" else state.bytes_done
        state.files_done += 1
        if out.status == "cancelled":
            break
        if progress:
            progress(state)
    pool.shutdown(wait=True, cancel_futures=True)


def _import_one(loader: Loader, f: LabFile, opts: ImportOptions, summary: ImportSummary, on_chunk,
                cancel: Cancel, plan: FilePlan | None = None) -> FileOutcome:
    """``import_file``; a file the database refuses (or that cannot be read) is reported, not fatal."""
    try:
        return import_file(loader, f, opts, summary, on_chunk, cancel, plan)
    except (psycopg.errors.DataError, psycopg.errors.IntegrityError, OSError) as exc:
        out = FileOutcome(f.rel, f.kind, f.target, "failed", message=first_line(exc))
        summary.problems.append(Problem(f.rel, None, f"file not imported: {out.message}"))
        log.error("%s not imported: %s", f.rel, out.message)
        return out


def series_groups(data_files: list[LabFile]) -> list[list[LabFile]]:
    """The files of each series (one MPP channel, one sensor) together, in scan order: a series is
    loaded by one connection only, file after file, so its rows arrive in order and the overlap
    test that picks COPY or de-duplication sees everything loaded before (exactly once as with one
    connection). Largest series first, so that the loaders finish together."""
    groups: dict[tuple[str, str], list[LabFile]] = {}
    for f in data_files:
        groups.setdefault((f.kind, f.target), []).append(f)
    return sorted(groups.values(), key=lambda g: -sum(f.size for f in g))


def _import_parallel(conninfo: str, on_committed, data_files: list[LabFile], opts: ImportOptions,
                     summary: ImportSummary, state: Progress, progress, on_chunk, cancel: threading.Event) -> None:
    """``opts.loaders`` connections, each taking the next series: the server parses and stores on
    every core while Python reads and cleans. Each chunk is still one transaction with its file's
    progress, so a crash or a cancel resumes exactly as with one connection."""
    pending = series_groups(data_files)
    lock = threading.Lock()
    stop = threading.Event()  # a loader failed: the others stop after their current chunk

    def work(k: int) -> None:
        with psycopg.connect(conninfo, connect_timeout=10, application_name=f"perocube-import-{k}",
                             autocommit=True) as c:
            ld = Loader(c, opts.timezone)
            ld.on_committed = on_committed
            while not (cancel.is_set() or stop.is_set()):
                with lock:
                    if not pending:
                        return
                    group = pending.pop(0)
                for f in group:
                    state.current = f.rel
                    done = [0]

                    def counted_chunk(nbytes: int, rows: int, done=done) -> None:
                        with lock:
                            done[0] += nbytes
                            on_chunk(nbytes, rows)

                    out = _import_one(ld, f, opts, summary, counted_chunk, _Either(cancel, stop))
                    with lock:
                        _count(summary, f, out)
                        state.files_done += 1
                        if out.status != "failed":  # an unchanged file, an incomplete last line
                            state.bytes_done += f.size - done[0]
                        if progress:
                            progress(state)
                    if out.status == "cancelled":
                        return

    n = max(1, min(opts.loaders, len(pending)))
    with ThreadPoolExecutor(max_workers=n, thread_name_prefix="import-load") as pool:
        futures = [pool.submit(work, k) for k in range(n)]
        wait(futures, return_when=FIRST_EXCEPTION)
        stop.set()  # (the others have finished, or one failed: the rest stop after their chunk)
        for fut in futures:
            fut.result()  # the first failure (a lost connection) is the caller's
    attempted = {o.file for o in summary.outcomes}
    if cancel.is_set() and any(f.rel not in attempted for f in data_files):
        summary.cancelled = True  # (files no loader started: the next import does them)
    order = {f.rel: i for i, f in enumerate(data_files)}
    summary.outcomes.sort(key=lambda o: order.get(o.file, len(order)))  # in scan order, as with one loader


class _Either(Cancel):
    """``is_set`` of either event (the user's cancel, or another loader's failure)."""

    def __init__(self, a: threading.Event, b: threading.Event) -> None:
        self.a, self.b = a, b

    def is_set(self) -> bool:
        return self.a.is_set() or self.b.is_set()


def _import_all(conn: psycopg.Connection, loader: Loader, refresher: RollupRefresher | None,
                data_files: list[LabFile], logbooks: list[LabFile], opts: ImportOptions, summary: ImportSummary,
                state: Progress, progress, on_chunk, cancel: threading.Event, conninfo: str | None = None) -> None:
    # a dry run does all the work inside one transaction that is rolled back: exact counts
    with conn.transaction(force_rollback=True) if opts.dry_run else contextlib.nullcontext():
        if opts.dry_run or conninfo is None or opts.loaders <= 1 or len(data_files) <= 1:
            _import_serial(conn, loader, data_files, opts, summary, state, progress, on_chunk, cancel)
        else:
            _import_parallel(conninfo, loader.on_committed, data_files, opts, summary, state, progress, on_chunk,
                             cancel)
        if opts.include_logbook and not summary.cancelled:
            _import_logbooks(conn, logbooks, opts, summary)
        if refresher is not None:
            t_roll = time.perf_counter()
            refresher.finish()
            summary.rollup_seconds = time.perf_counter() - t_roll
        if not opts.dry_run:
            summary.rollup_seconds += rollups.refresh(conn, conninfo=conninfo).seconds
