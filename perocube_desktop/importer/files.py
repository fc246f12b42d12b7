"""One lab file into the database, chunk by chunk: each chunk one transaction with the file's
progress in ``imported_file`` (exactly once, resumable), shared by the one-connection import
(``engine``) and the side-by-side loaders (``parallel``)."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator

import psycopg

from ..db import queries
from ..errors import first_line
from .ahead import ReadAhead
from .loader import Loader, load_with_retry, row_suffix
from .plan import Chunk, FilePlan, locate_lines, plan_file
from .results import FileOutcome, ImportRun, ImportSummary, Problem
from .scan import LabFile

log = logging.getLogger(__name__)


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


def import_file(loader: Loader, f: LabFile, run: ImportRun, plan: FilePlan | None = None) -> FileOutcome:
    out = FileOutcome(f.rel, f.kind, f.target, "imported")
    for _ in file_steps(loader, f, run, out, plan):
        pass
    return out


def file_steps(loader: Loader, f: LabFile, run: ImportRun, out: FileOutcome,
               plan: FilePlan | None = None, ahead: ReadAhead | None = None) -> Iterator[None]:
    """``import_file`` one committed chunk at a time (it yields after each), so that a loader can
    take the files of several series in turn, in time order (``importer.parallel``); ``out`` is
    the file's outcome, complete when the iteration ends. With ``ahead`` the chunks are read and
    cleaned in the loader's reader thread (``importer.ahead``)."""
    conn, opts, summary = loader.conn, run.opts, run.summary
    plan = plan or plan_file(conn, f, opts)
    if plan.unchanged:
        out.status = "unchanged"
        return
    with conn.transaction():
        sensor_id = loader.register(f)
    suffix = row_suffix(f, sensor_id or f.sensor_id)
    listed = 0
    try:
        for chunk in plan if ahead is None else ahead.wrap(plan):
            if run.cancel.is_set():
                out.status = "cancelled"
                break
            cleaned = chunk.cleaned
            inserted = _load_chunk(loader, f, chunk, suffix)
            out.lines += cleaned.lines
            out.good += cleaned.good
            out.inserted += inserted
            out.bad_lines += cleaned.bad_count
            out.blank_lines += cleaned.blank
            if loader.on_committed is not None and not opts.dry_run:
                loader.on_committed()
            room = max(opts.keep_problems - listed, 0)
            summary.problems.extend(Problem(f.rel, b.line or None, b.reason) for b in cleaned.bad[:room])
            listed += min(room, len(cleaned.bad))
            run.on_chunk(chunk.size, cleaned.good)
            yield
    finally:
        if ahead is not None:
            ahead.release()
    out.mode = plan.mode
    out.duplicates = out.good - out.inserted
    if out.status == "cancelled":
        return
    with conn.transaction():
        conn.execute(queries.get("import", "finish_imported_file"), (plan.end + plan.tail, str(f.path)))
    if plan.tail:
        out.message = f"last line incomplete ({plan.tail} bytes), left for the next import"
        # every line is accounted for: inserted + duplicates + bad + blank + incomplete = lines
        out.lines += 1
        out.incomplete_last_line = 1
        summary.problems.append(Problem(f.rel, (plan.line_end or 0) + 1, out.message))
    if opts.dry_run:
        out.status = "dry-run"


def count_outcome(summary: ImportSummary, f: LabFile, out: FileOutcome) -> None:
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
    summary.blank_lines += out.blank_lines
    summary.incomplete_lines += out.incomplete_last_line
    summary.lines += out.lines


def import_one(loader: Loader, f: LabFile, run: ImportRun, plan: FilePlan | None = None) -> FileOutcome:
    """``import_file``; a file the database refuses (or that cannot be read) is reported, not fatal."""
    try:
        return import_file(loader, f, run, plan)
    except (psycopg.errors.DataError, psycopg.errors.IntegrityError, OSError) as exc:
        out = FileOutcome(f.rel, f.kind, f.target, "failed", message=first_line(exc))
        run.summary.problems.append(Problem(f.rel, None, f"file not imported: {out.message}"))
        log.error("%s not imported: %s", f.rel, out.message)
        return out


