"""The historical import engine, shared by the wizard and ``perocube-desktop import``.

Exactly once at row level: the unique keys decide, ``imported_file`` remembers how far
each file was read (size, mtime, byte offset, SHA-256 of that prefix, lines). An
unchanged file is skipped from its size and mtime; a grown file is verified by its
prefix hash and only its tail is read; a rewritten file is read again in full with
row-level de-duplication. Each chunk of a file is one transaction that also advances
``imported_file``, so a cancel or a crash resumes where it stopped.
"""

from __future__ import annotations

import contextlib
import hashlib
from concurrent.futures import ThreadPoolExecutor
import re
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import psycopg
from psycopg import sql

from ..db import bulk, queries, rollups
from ..db.tables import KINDS as SERIES_KINDS
from . import lines as lines_mod
from .scan import LabFile, ScanResult, scan

log = logging.getLogger(__name__)

CHUNK_BYTES = 32 << 20
_LOCK_RETRIES = 5  # a chunk's transaction is tried again after a deadlock or lock timeout
KINDS = tuple(SERIES_KINDS)
TABLES = {k: v.table for k, v in SERIES_KINDS.items()}
TABLE_COLUMNS = {k: v.columns for k, v in SERIES_KINDS.items()}


@dataclass
class ImportOptions:
    timezone: str = "UTC"
    dry_run: bool = False
    include_logbook: bool = True
    chunk_bytes: int = CHUNK_BYTES
    keep_problems: int = 1000  # problems listed per file (all are counted)


@dataclass
class Progress:
    files_done: int
    files_total: int
    rows_done: int
    bytes_done: int
    bytes_total: int
    current: str = ""


@dataclass
class FileOutcome:
    file: str
    kind: str
    target: str
    status: str  # imported | unchanged | failed | dry-run
    lines: int = 0
    good: int = 0
    inserted: int = 0
    duplicates: int = 0
    bad_lines: int = 0  # lines not imported: quarantined + blank + an incomplete last line
    blank_lines: int = 0
    incomplete_last_line: int = 0  # 1: left for the next import (LabVIEW may still be writing it)
    mode: str = ""  # new | tail | rewritten
    message: str = ""


@dataclass
class Problem:
    file: str
    line: int | None
    reason: str


@dataclass
class ImportSummary:
    inserted: dict[str, int] = field(default_factory=lambda: dict.fromkeys(KINDS, 0))
    duplicates: dict[str, int] = field(default_factory=lambda: dict.fromkeys(KINDS, 0))
    bad_lines: int = 0
    lines: int = 0  # lines read: sum(inserted) + sum(duplicates) + bad_lines
    files: dict[str, int] = field(default_factory=lambda: {"imported": 0, "unchanged": 0, "skipped": 0})
    logbook: dict[str, int] = field(default_factory=lambda: {"devices": 0, "pixels": 0, "events": 0, "rows_skipped": 0})
    problems: list[Problem] = field(default_factory=list)
    outcomes: list[FileOutcome] = field(default_factory=list)
    skipped_files: list[dict] = field(default_factory=list)
    cancelled: bool = False
    dry_run: bool = False
    seconds: float = 0.0
    rollup_seconds: float = 0.0

    def to_json(self) -> dict:
        data = asdict(self)
        data["problems"] = [asdict(p) for p in self.problems]
        return data


def _suffix(f: LabFile, sensor_id: str | None) -> bytes:
    if f.kind == "mpp":
        return f"\t{f.board}\t{f.channel}".encode()
    return f"\t{sensor_id}".encode()


class _Loader:
    """Holds one connection and loads clean chunks into one measurement table."""

    def __init__(self, conn: psycopg.Connection, timezone: str) -> None:
        self.conn = conn
        conn.execute("SELECT set_config('TimeZone', %s, false)", (timezone,))
        conn.execute(queries.load("import_staging"))
        self.skip_fk_triggers = bulk.may_skip_fk_triggers(conn)
        self.on_committed: Callable[[], None] | None = None  # after each committed chunk

    def fast_session(self) -> None:
        """Per chunk transaction: skip redundant FK triggers (``db.bulk``), and do not wait for the
        WAL flush at commit: a chunk lost in a crash is lost together with its ``imported_file``
        progress (same transaction), so the next run simply loads it again."""
        self.conn.execute("SET LOCAL synchronous_commit = off")
        if self.skip_fk_triggers:
            bulk.skip_fk_triggers(self.conn)

    def register(self, f: LabFile) -> str | None:
        """Make sure the channel or sensor exists; returns the sensor id to use."""
        q = queries.named("import")
        if f.kind == "mpp":
            self.conn.execute(q["register_channel"], (f.board, f.channel))
            return None
        if f.kind == "temperature":
            self.conn.execute(q["register_temperature_sensor"], (f.sensor_id, f.sensor_identifier))
            return str(self.conn.execute(q["temperature_sensor_id"], (f.sensor_identifier,)).fetchone()[0])
        self.conn.execute(q["register_irradiance_sensor"], (f.sensor_id, f.sensor_identifier, f.sensor_channel))
        return str(self.conn.execute(q["irradiance_sensor_id"], (f.sensor_identifier, f.sensor_channel)).fetchone()[0])

    def load(self, f: LabFile, data: bytes, suffix: bytes) -> int:
        """COPY clean rows; returns rows inserted (duplicates are not inserted)."""
        if not data:
            return 0
        payload = data.replace(b"\n", suffix + b"\n")
        kind = f.kind
        cols = sql.SQL(", ").join(map(sql.Identifier, TABLE_COLUMNS[kind]))
        copy_opts = sql.SQL("(FORMAT csv, DELIMITER E'\\t')")
        first_ts, last_ts = _first_last_ts(data)
        overlap = self._overlaps(f, suffix, first_ts, last_ts)
        with self.conn.cursor() as cur:
            if not overlap:
                # fast path: nothing stored in this range -> COPY straight into the table;
                # a duplicate inside the chunk makes it fail and we fall back below
                try:
                    with self.conn.transaction():
                        with cur.copy(sql.SQL("COPY {} ({}) FROM STDIN {}").format(
                                sql.Identifier(TABLES[kind]), cols, copy_opts)) as copy:
                            copy.write(payload)
                        return data.count(b"\n")
                except psycopg.errors.UniqueViolation:
                    pass
            stage = sql.Identifier(f"_import_{kind}")
            with self.conn.transaction():
                cur.execute(sql.SQL("TRUNCATE {}").format(stage))
                with cur.copy(sql.SQL("COPY {} ({}) FROM STDIN {}").format(stage, cols, copy_opts)) as copy:
                    copy.write(payload)
                cur.execute(sql.SQL("INSERT INTO {} SELECT * FROM {} ON CONFLICT DO NOTHING").format(
                    sql.Identifier(TABLES[kind]), stage))
                inserted = cur.rowcount
            return inserted

    def _overlaps(self, f: LabFile, suffix: bytes, first_ts: str, last_ts: str) -> bool:
        q = queries.named("import")
        key = (f.board, f.channel) if f.kind == "mpp" else (suffix[1:].decode(),)
        try:
            with self.conn.transaction():
                return bool(self.conn.execute(q[f"overlap_{f.kind}"], (*key, first_ts, last_ts, first_ts, last_ts)).fetchone()[0])
        except psycopg.errors.DataError:
            return True  # first/last line unreadable for the server: take the safe path


class _RollupRefresher:
    """Plain PostgreSQL: a second session that refreshes each loaded channel's rollups while the
    next file loads (the server has a core to spare for it). The table triggers mark each chunk's
    channel and range in ``rollup_dirty``, committed with the data; whatever this session does not
    finish, the final ``rollups.refresh`` does. (With TimescaleDB the continuous aggregates are
    refreshed once over the whole imported range at the end.)"""

    def __init__(self, conninfo: str) -> None:
        import queue

        self.conninfo = conninfo
        self.queue: queue.SimpleQueue[bool | None] = queue.SimpleQueue()
        self.thread = threading.Thread(target=self._run, name="rollup-refresh", daemon=True)
        self.thread.start()

    def submit(self) -> None:
        """A chunk was committed: its channel-scoped marks are there to be taken."""
        self.queue.put(True)

    def finish(self) -> None:
        if self.thread.is_alive():
            self.queue.put(None)
            self.thread.join()

    def _run(self) -> None:
        try:
            with psycopg.connect(self.conninfo, autocommit=True, application_name="perocube-rollups") as conn:
                conn.execute("SET work_mem = '64MB'")
                conn.execute("SET synchronous_commit = off")  # rollups can always be recomputed
                last_id = 0
                while self.queue.get() is not None:
                    ids = [i for (i,) in conn.execute(
                        "SELECT id FROM rollup_dirty WHERE id > %s AND kind = 'mpp' AND channel IS NOT NULL ORDER BY id",
                        (last_id,))]
                    for i in ids:
                        conn.execute("SELECT perocube_refresh_mpp_channel(%s)", (i,))
                    last_id = max(ids, default=last_id)
        except psycopg.Error as exc:  # the final global refresh covers what is left
            log.warning("background rollup refresh stopped: %s", exc)
            while self.queue.get() is not None:
                pass


def _first_last_ts(data: bytes) -> tuple[str, str]:
    first = data[: data.find(b"\t")]
    last_line_start = data.rfind(b"\n", 0, len(data) - 1) + 1
    last = data[last_line_start: data.find(b"\t", last_line_start)]
    return first.decode(), last.decode()


def _file_hash_prefix(fh, length: int) -> hashlib._Hash:
    h = hashlib.sha256()
    remaining = length
    fh.seek(0)
    while remaining > 0:
        block = fh.read(min(8 << 20, remaining))
        if not block:
            break
        h.update(block)
        remaining -= len(block)
    return h


@dataclass
class _Chunk:
    size: int  # bytes of the file this chunk consumed
    cleaned: lines_mod.CleanChunk
    digest: str  # SHA-256 of the file prefix up to the end of this chunk
    lines_after: int  # file lines up to the end of this chunk
    offset_after: int


class _FilePlan:
    """The file side of importing one file: verify the imported prefix, read from where the last
    import stopped, clean chunk by chunk. No database: it can run in a helper thread while the
    previous file is being loaded (``prefetch``)."""

    def __init__(self, f: LabFile, rec: tuple | None, opts: ImportOptions) -> None:
        self.f, self.rec, self.opts = f, rec, opts
        self.mode = "new"
        self.tail = 0  # bytes of an incomplete last line, known once all chunks were read
        self.end = 0
        self.line_end = 0  # complete lines of the file (known once all chunks were read)
        self.chunks: list[_Chunk] | None = None

    @property
    def unchanged(self) -> bool:
        return bool(self.rec) and self.rec[0] == self.f.size and self.rec[1] == self.f.mtime_ns

    def prefetch(self) -> _FilePlan:
        self.chunks = list(self._read())
        return self

    def __iter__(self):
        return iter(self.chunks) if self.chunks is not None else self._read()

    def _read(self):
        f, opts = self.f, self.opts
        start, line_base, hasher = 0, 0, hashlib.sha256()
        with open(f.path, "rb") as fh:
            if self.rec:
                _size, _mtime, done_bytes, prefix_hash, done_lines = self.rec
                h = _file_hash_prefix(fh, done_bytes)
                if f.size >= done_bytes and h.hexdigest() == prefix_hash:
                    start, line_base, hasher, self.mode = done_bytes, done_lines, h, "tail"
                else:
                    self.mode = "rewritten"
                    log.info("%s was rewritten since the last import: reading it again", f.rel)
            fh.seek(start)
            pending = b""
            while data := fh.read(opts.chunk_bytes):
                data = pending + data
                cut = data.rfind(b"\n") + 1
                if cut == 0:
                    pending = data
                    continue
                chunk, pending = data[:cut], data[cut:]
                cleaned = lines_mod.clean(f.kind, chunk, line_base + 1, opts.keep_problems)
                hasher.update(chunk)
                start += len(chunk)
                line_base += cleaned.lines
                yield _Chunk(len(chunk), cleaned, hasher.hexdigest(), line_base, start)
        self.tail, self.end, self.line_end = len(pending), start, line_base


def plan_file(conn: psycopg.Connection, f: LabFile, opts: ImportOptions) -> _FilePlan:
    rec = conn.execute(queries.get("import", "get_imported_file"), (str(f.path),)).fetchone()
    return _FilePlan(f, rec, opts)


def import_file(loader: _Loader, f: LabFile, opts: ImportOptions, summary: ImportSummary,
                on_chunk: Callable[[int, int], None], cancel: threading.Event,
                plan: _FilePlan | None = None) -> FileOutcome:
    conn = loader.conn
    q = queries.named("import")
    out = FileOutcome(f.rel, f.kind, f.target, "imported")
    plan = plan or plan_file(conn, f, opts)
    if plan.unchanged:
        out.status = "unchanged"
        return out
    with conn.transaction():
        sensor_id = loader.register(f)
    suffix = _suffix(f, sensor_id or f.sensor_id)
    listed = 0
    for chunk in plan:
        if cancel.is_set():
            out.status = "cancelled"
            break
        cleaned = chunk.cleaned
        saved = (len(cleaned.bad), cleaned.bad_count, cleaned.good)
        for attempt in range(1, _LOCK_RETRIES + 1):
            try:
                with conn.transaction():
                    loader.fast_session()
                    inserted = _load_with_retry(loader, f, cleaned, suffix)
                    if any(b.line == 0 for b in cleaned.bad):
                        _locate_lines(f, chunk, cleaned)
                    if cleaned.bad:
                        with conn.cursor() as cur:
                            cur.executemany(q["quarantine_line"],
                                            [(str(f.path), b.line, b.raw, b.reason) for b in cleaned.bad])
                    # size -1 until the whole file is done: an interrupted file is never "unchanged"
                    conn.execute(q["upsert_imported_file"], (str(f.path), f.kind, -1, f.mtime_ns, chunk.offset_after,
                                                             chunk.digest, chunk.lines_after, inserted,
                                                             cleaned.good - inserted, cleaned.bad_count))
                break
            except (psycopg.errors.DeadlockDetected, psycopg.errors.LockNotAvailable,
                    psycopg.errors.SerializationFailure) as exc:
                # e.g. TimescaleDB compressing the chunk this one writes into: the transaction was
                # rolled back whole, so loading it again neither loses nor doubles a row
                if attempt == _LOCK_RETRIES:
                    raise
                log.warning("%s: %s; loading this chunk again (attempt %d)", f.rel, str(exc).splitlines()[0], attempt + 1)
                del cleaned.bad[saved[0]:]
                cleaned.bad_count, cleaned.good = saved[1], saved[2]
                time.sleep(0.2 * attempt)
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
        conn.execute(q["finish_imported_file"], (plan.end + plan.tail, str(f.path)))
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


def _load_with_retry(loader: _Loader, f: LabFile, cleaned: lines_mod.CleanChunk, suffix: bytes) -> int:
    """COPY; if the server refuses a value the fast patterns let through, find those lines
    in Python, move them to the bad list, and try once more; if the server still refuses, halve
    the rows until each refused line is found. A value in one line never costs the file."""
    try:
        with loader.conn.transaction():
            return loader.load(f, cleaned.data, suffix)
    except psycopg.errors.DataError as exc:
        log.info("%s: server refused a value (%s); checking line by line", f.rel, str(exc).splitlines()[0])
    keep = []

    def refuse(raw: bytes, reason: str) -> None:
        cleaned.bad.append(lines_mod.BadLine(0, reason, lines_mod.printable(raw)))
        cleaned.bad_count += 1
        cleaned.good -= 1

    for raw in cleaned.data.split(b"\n")[:-1]:
        reason = lines_mod.parse_line_slow(f.kind, raw)
        if reason is None:
            keep.append(raw)
        else:
            refuse(raw, reason)
    return _load_halving(loader, f, keep, suffix, refuse)


def _locate_lines(f: LabFile, chunk: _Chunk, cleaned: lines_mod.CleanChunk) -> None:
    """Line numbers for the lines refused after cleaning (rare): the first line of the chunk, read
    again from the file, that starts with the refused row's timestamp."""
    first_line = chunk.lines_after - cleaned.lines + 1
    with open(f.path, "rb") as fh:
        fh.seek(chunk.offset_after - chunk.size)
        raw_lines = fh.read(chunk.size).split(b"\n")
    used: set[int] = set()
    for bad in cleaned.bad:
        if bad.line != 0:
            continue
        stamp = bad.raw.split("\t", 1)[0].encode()
        for i, line in enumerate(raw_lines):
            if i not in used and line.startswith(stamp + b"\t"):
                bad.line = first_line + i
                used.add(i)
                break


def _load_halving(loader: _Loader, f: LabFile, rows: list[bytes], suffix: bytes, refuse) -> int:
    if not rows:
        return 0
    try:
        with loader.conn.transaction():
            return loader.load(f, b"\n".join(rows) + b"\n", suffix)
    except psycopg.errors.DataError as exc:
        if len(rows) == 1:
            refuse(rows[0], f"refused by the database: {str(exc).splitlines()[0]}")
            return 0
    mid = len(rows) // 2
    return (_load_halving(loader, f, rows[:mid], suffix, refuse)
            + _load_halving(loader, f, rows[mid:], suffix, refuse))


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
        loader = _Loader(conn, opts.timezone)
        refresher = None if opts.dry_run or rollups.timescaledb_active(conn) else _RollupRefresher(conninfo)
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


def _import_all(conn: psycopg.Connection, loader: _Loader, refresher: _RollupRefresher | None,
                data_files: list[LabFile], logbooks: list[LabFile], opts: ImportOptions, summary: ImportSummary,
                state: Progress, progress, on_chunk, cancel: threading.Event, conninfo: str | None = None) -> None:
    # a dry run does all the work inside one transaction that is rolled back: exact counts
    with conn.transaction(force_rollback=True) if opts.dry_run else contextlib.nullcontext():
        # read and clean the next small file in a helper thread while this one loads (the server
        # waits on COPY, Python's file work overlaps it); large files stream chunk by chunk
        pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="import-read")
        upcoming = None
        for i, f in enumerate(data_files):
            state.current = f.rel
            if progress:
                progress(state)
            size_before = state.bytes_done
            current, upcoming = upcoming, None
            nxt = data_files[i + 1] if i + 1 < len(data_files) else None
            if nxt is not None and nxt.size <= opts.chunk_bytes:
                nxt_plan = plan_file(conn, nxt, opts)
                if not nxt_plan.unchanged:
                    upcoming = pool.submit(nxt_plan.prefetch)
                else:
                    upcoming = pool.submit(lambda p=nxt_plan: p)
            try:
                plan = current.result() if current is not None else None
                out = import_file(loader, f, opts, summary, on_chunk, cancel, plan)
            except (psycopg.errors.DataError, psycopg.errors.IntegrityError, OSError) as exc:
                out = FileOutcome(f.rel, f.kind, f.target, "failed", message=str(exc).splitlines()[0])
                summary.problems.append(Problem(f.rel, None, f"file not imported: {out.message}"))
                log.error("%s not imported: %s", f.rel, out.message)
            summary.outcomes.append(out)
            state.bytes_done = size_before + f.size if out.status != "failed" else state.bytes_done
            state.files_done += 1
            if out.status == "cancelled":
                summary.cancelled = True
                summary.inserted[f.kind] += out.inserted
                summary.duplicates[f.kind] += out.duplicates
                summary.bad_lines += out.bad_lines
                summary.lines += out.lines
                break
            if out.status == "unchanged":
                summary.files["unchanged"] += 1
            elif out.status == "failed":
                summary.files["skipped"] += 1
            else:
                summary.files["imported"] += 1
                summary.inserted[f.kind] += out.inserted
                summary.duplicates[f.kind] += out.duplicates
                summary.bad_lines += out.bad_lines
                summary.lines += out.lines
            if progress:
                progress(state)
        pool.shutdown(wait=True, cancel_futures=True)
        if opts.include_logbook and not summary.cancelled:
            from .logbook import import_logbook

            for book in logbooks:
                res = import_logbook(conn, book.path, opts.timezone, opts.dry_run)
                for k in summary.logbook:
                    summary.logbook[k] += getattr(res, k)
                summary.problems.extend(Problem(book.rel, p[0], p[1]) for p in res.problems)
        if refresher is not None:
            t_roll = time.perf_counter()
            refresher.finish()
            summary.rollup_seconds = time.perf_counter() - t_roll
        if not opts.dry_run:
            res = rollups.refresh(conn, conninfo=conninfo)
            summary.rollup_seconds += res.seconds


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
    records: dict[str, tuple] = {}
    if conninfo:
        with psycopg.connect(conninfo, connect_timeout=10) as conn:
            for row in conn.execute("SELECT path, size_bytes, mtime_ns, imported_bytes, lines FROM imported_file"):
                records[row[0]] = row[1:]
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
            elif rec[0] == f.size and rec[1] == f.mtime_ns:
                row.status, row.new_rows = "unchanged", 0
            elif f.size >= rec[2]:
                row.status, row.new_rows = "grown or changed", max(lines - rec[3], 0)
            else:
                row.status, row.new_rows = "rewritten", lines
        rows.append(row)
        state.files_done += 1
        state.bytes_done += f.size
        if progress:
            progress(state)
    return rows


def summary_csv(summary: ImportSummary, path: Path) -> None:
    """Everything the summary page shows, as CSV (one line per file, problem and skipped file)."""
    import csv

    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["section", "file", "line", "kind", "inserted", "duplicates", "bad_lines", "status", "reason"])
        for o in summary.outcomes:
            w.writerow(["file", o.file, "", o.kind, o.inserted, o.duplicates, o.bad_lines, o.status, o.message])
        for p in summary.problems:
            w.writerow(["problem", p.file, p.line or "", "", "", "", "", "", p.reason])
        for s in summary.skipped_files:
            w.writerow(["skipped", s["file"], "", "", "", "", "", "skipped", s["reason"]])
