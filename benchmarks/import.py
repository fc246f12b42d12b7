"""Import benchmark: 32 channels x 14 days at 10 s (~3.9 M MPP rows) in the lab's file format.

Each backend (the embedded plain PostgreSQL, and the server at ``--db`` when given, e.g. your own
TimescaleDB) is measured in rounds; in every round, side by side on the same server so that the
machine's load affects all three alike, each into a fresh migrated database:

* **bare floor**: a raw COPY of the same rows (one transaction per file, asynchronous commit) into a
  bare table with only the unique key (board, channel, timestamp); on TimescaleDB a bare hypertable
  with that key. No foreign key, no triggers, no aggregates: what the server needs to store the rows.
* **app floor**: the same COPY into the app's own ``mpp_measurement`` (its foreign key, checked per
  row, and its row-marking triggers), no rollup refresh, no cleaning, no bookkeeping.
* **import**: ``run_import`` of the folder (cleaning, de-duplication, bookkeeping, rollups refreshed).

Printed: each figure with the 1-minute load average and the CPU time it cost per row (the whole
server's processes plus this process, i.e. the importer's Python: a cost the machine's load barely
moves), the ratio of the import to each floor per round, and a summary per backend (medians). Then, on the last round's database: rollups checked
against a fresh aggregate of the raw rows, re-import of the unchanged folder (s), and import after
appending 1 % new rows to every file (s). Targets: import >= 0.8 of the bare floor on both
backends; unchanged <= 1 s; appended 1 % <= 2 s.

``--db URL`` is an admin URL: scratch databases are created there and dropped afterwards, e.g.
``python benchmarks/import.py --db postgresql://postgres@127.0.0.1:55450/postgres``.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import os
import shutil
import statistics
import tempfile
import time
import uuid
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import psutil
import psycopg
from _common import scratch_database
from psycopg import sql
from psycopg.conninfo import make_conninfo

from perocube_desktop.db.migrate import migrate
from perocube_desktop.importer.engine import run_import
from perocube_desktop.importer.results import ImportOptions

COLUMNS = '("timestamp", power, current, voltage, tracking_channel_board, tracking_channel_channel)'
BARE = ('CREATE TABLE bare_mpp ("timestamp" timestamptz NOT NULL, current double precision, voltage double precision,'
        ' power double precision, tracking_channel_board integer NOT NULL, tracking_channel_channel integer NOT NULL,'
        ' UNIQUE (tracking_channel_board, tracking_channel_channel, "timestamp"))')


def write_channel(path: Path, start: datetime, n: int, interval: int, seed: int, offset: int = 0) -> None:
    rng = np.random.default_rng(seed)
    t0 = np.datetime64(start) + np.timedelta64(offset * interval, "s")
    ts = (t0 + np.arange(n) * np.timedelta64(interval, "s")).astype("datetime64[s]").astype(str)
    p = 4.5 + rng.normal(0, 0.05, n)
    v = 0.93 + rng.normal(0, 0.003, n)
    i = p / v
    lines = np.char.add(np.char.add(np.char.add(np.char.add(np.char.add(np.char.add(ts, "\t"),
                                                                         np.char.mod("%.6f", p)), "\t"),
                                                 np.char.mod("%.6f", i)), "\t"), np.char.mod("%.6f", v))
    with path.open("a", encoding="ascii") as fh:
        fh.write("\n".join(lines.tolist()) + "\n")


class ServerCPU:
    """CPU seconds of the whole server on this machine (postmaster's reaped children plus the live
    ones): a cost the machine's load barely moves, unlike wall-clock time. None when the server is
    not a local process."""

    def __init__(self, admin_url: str) -> None:
        self.postmaster: psutil.Process | None = None
        with psycopg.connect(admin_url) as conn:
            try:
                self.postmaster = psutil.Process(conn.info.backend_pid).parent()
            except (psutil.Error, ValueError):
                self.postmaster = None

    def seconds(self) -> float | None:
        if self.postmaster is None:
            return None
        t = self.postmaster.cpu_times()
        total = t.children_user + t.children_system
        for child in self.postmaster.children():
            with contextlib.suppress(psutil.Error):
                c = child.cpu_times()
                total += c.user + c.system
        return total


@contextlib.contextmanager
def cpu_us_per_row(server: ServerCPU, total: int, out: dict[str, float], key: str):
    """CPU µs per row of the server and of this process (the importer's Python) over the block."""
    s0, c0 = server.seconds(), time.process_time()
    yield
    s1, c1 = server.seconds(), time.process_time()
    if s0 is not None and s1 is not None:
        out[key] = ((s1 - s0) + (c1 - c0)) / total * 1e6


def load() -> str:
    return f"load {os.getloadavg()[0]:.2f}"


@contextlib.contextmanager
def fresh_database(admin_url: str, migrated: bool = True):
    """A scratch database on the server at ``admin_url`` (migrated unless told), dropped afterwards."""
    name = "perocube_bench_" + uuid.uuid4().hex[:8]
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    url = make_conninfo(admin_url, dbname=name)
    try:
        if migrated:
            migrate(url)
        yield url
    finally:
        with psycopg.connect(admin_url, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def payloads(files: list[Path]) -> list[bytes]:
    out = []
    for f in files:
        board, channel = (int(x) for x in f.stem.replace("output_board", "").split("_channel"))
        out.append(f.read_bytes().replace(b"\n", f"\t{board}\t{channel}\n".encode()))
    return out


def copy_seconds(url: str, data: list[bytes], table: str, timescaledb: bool, cpu_block=contextlib.nullcontext) -> float:
    """Seconds for a raw COPY of every file, one transaction each with asynchronous commit (as the
    importer's chunks), into ``table`` (``bare_mpp`` is created here; else the app's table)."""
    with psycopg.connect(url, autocommit=True) as conn:
        if table == "bare_mpp":
            if timescaledb:
                conn.execute("CREATE EXTENSION IF NOT EXISTS timescaledb")
            conn.execute(BARE)
            if timescaledb:
                conn.execute("SELECT create_hypertable('bare_mpp', 'timestamp')")
        else:
            conn.execute("SELECT perocube_hold_compression(false)")  # no compression racing the floor
            conn.execute("INSERT INTO mpp_tracking_channel (board, channel) SELECT b, c FROM generate_series(1, 8) b,"
                         " generate_series(1, 8) c ON CONFLICT DO NOTHING")
        checkpoint(conn)
        with cpu_block():
            t = time.perf_counter()
            copy_all(conn, data, table)
            return time.perf_counter() - t


def checkpoint(conn: psycopg.Connection) -> None:
    """Every measured step starts from a finished checkpoint: otherwise the previous step's WAL
    (about 1 GB) makes the server checkpoint during one step and not another, which moved the
    floors by ±8 % between rounds. A role that may not (CHECKPOINT needs pg_checkpoint) skips it."""
    try:
        conn.execute("CHECKPOINT")
    except psycopg.errors.InsufficientPrivilege:
        print("  (this role may not CHECKPOINT: the figures include the server's own checkpoints)", flush=True)


def copy_all(conn: psycopg.Connection, data: list[bytes], table: str) -> None:
    for payload in data:
        with conn.transaction(), conn.cursor() as cur:
            cur.execute("SET LOCAL synchronous_commit = off")
            with cur.copy(sql.SQL("COPY {} {} FROM STDIN (FORMAT csv, DELIMITER E'\\t')").format(
                    sql.Identifier(table), sql.SQL(COLUMNS))) as cp:
                cp.write(payload)


def rollups_exact(url: str) -> str:
    """Both MPP rollup levels against a fresh aggregate of the raw rows (every bucket, every column)."""
    with psycopg.connect(url) as conn:
        bad = 0
        for suffix, width in (("1m", "1 minute"), ("1h", "1 hour")):
            bad += conn.execute(
                f"WITH f AS (SELECT date_bin('{width}', \"timestamp\", 'epoch') AS bucket, tracking_channel_board b,"
                " tracking_channel_channel c, count(*) n, min(power) p0, max(power) p1, avg(power) pm,"
                " min(voltage) v0, max(voltage) v1, avg(voltage) vm, min(current) c0, max(current) c1, avg(current) cm"
                " FROM mpp_measurement GROUP BY 1, 2, 3),"
                f" r AS (SELECT bucket, tracking_channel_board b, tracking_channel_channel c, n, power_min p0,"
                " power_max p1, power_mean pm, voltage_min v0, voltage_max v1, voltage_mean vm, current_min c0,"
                f" current_max c1, current_mean cm FROM mpp_rollup_{suffix})"
                " SELECT count(*) FROM f FULL JOIN r USING (bucket, b, c) WHERE f.n IS DISTINCT FROM r.n"
                " OR f.p0 IS DISTINCT FROM r.p0 OR f.p1 IS DISTINCT FROM r.p1 OR abs(f.pm - r.pm) > 1e-9"
                " OR f.v0 IS DISTINCT FROM r.v0 OR f.v1 IS DISTINCT FROM r.v1 OR abs(f.vm - r.vm) > 1e-9"
                " OR f.c0 IS DISTINCT FROM r.c0 OR f.c1 IS DISTINCT FROM r.c1 OR abs(f.cm - r.cm) > 1e-9"
                " OR (f.pm IS NULL) <> (r.pm IS NULL)").fetchone()[0]
        marks = conn.execute("SELECT count(*) FROM rollup_dirty").fetchone()[0]
    return f"rollups {'exact' if not bad else f'WRONG in {bad} buckets'}, {marks} marks left"


def one_round(name: str, admin: str, ts: bool, data: list[bytes], root: Path, total: int, opts: ImportOptions,
              keep: contextlib.ExitStack | None) -> tuple[dict[str, float], str | None]:
    """Bare floor, app floor and import, one after the other on one server; with ``keep`` the
    import's database stays (until that stack closes) for the follow-ups."""
    out: dict[str, float] = {}
    cpu = ServerCPU(admin)

    def cpu_note(key: str) -> str:
        return f"   CPU {out[key]:.2f} µs/row" if key in out else ""

    with fresh_database(admin, migrated=False) as url:
        out["bare"] = total / copy_seconds(url, data, "bare_mpp", ts, lambda: cpu_us_per_row(cpu, total, out, "bare_cpu"))
    print(f"  {name:18s} bare floor   {out['bare']:>10,.0f} rows/s   {load()}{cpu_note('bare_cpu')}", flush=True)
    with fresh_database(admin) as url:
        out["app"] = total / copy_seconds(url, data, "mpp_measurement", ts, lambda: cpu_us_per_row(cpu, total, out, "app_cpu"))
    print(f"  {name:18s} app floor    {out['app']:>10,.0f} rows/s   {load()}{cpu_note('app_cpu')}", flush=True)
    with contextlib.ExitStack() as stack:
        url = stack.enter_context(fresh_database(admin))
        with psycopg.connect(url, autocommit=True) as conn:
            checkpoint(conn)
        with cpu_us_per_row(cpu, total, out, "import_cpu"):
            t = time.perf_counter()
            summary = run_import(url, root, opts)
            el = time.perf_counter() - t
        assert summary.inserted["mpp"] == total, summary.inserted
        out["import"] = total / el
        print(f"  {name:18s} import       {out['import']:>10,.0f} rows/s   {load()}{cpu_note('import_cpu')}"
              f"   = {out['import'] / out['bare']:.2f} of the bare floor, {out['import'] / out['app']:.2f} of the app"
              f" floor (rollups after the load {summary.rollup_seconds:.2f} s of {el:.2f} s)", flush=True)
        if keep is not None:
            keep.push(stack.pop_all())
            return out, url
    return out, None


def unchanged(name: str, url: str, root: Path) -> None:
    print(f"  {name:18s} after the import: {rollups_exact(url)}")
    t = time.perf_counter()
    again = run_import(url, root)
    el = time.perf_counter() - t
    assert again.inserted["mpp"] == 0
    print(f"  {name:18s} unchanged re-import: {el:.3f} s (target <= 1 s), {again.files['unchanged']} files unchanged")


def appended(name: str, url: str, root: Path, rows: int) -> None:
    t = time.perf_counter()
    tail = run_import(url, root)
    el = time.perf_counter() - t
    assert tail.inserted["mpp"] == rows, tail.inserted
    print(f"  {name:18s} appended 1 %: {rows:,} new rows in {el:.3f} s (target <= 2 s); {rollups_exact(url)}")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--channels", type=int, default=32)
    ap.add_argument("--days", type=float, default=14)
    ap.add_argument("--interval", type=int, default=10)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--loaders", type=int, help="importer connections (default: the importer's own choice)")
    ap.add_argument("--chunk-kb", type=int, help="bytes per chunk transaction, in KiB (default: the importer's own choice)")
    ap.add_argument("--db", help="admin URL of another server, e.g. TimescaleDB (scratch databases are created there)")
    ap.add_argument("--no-embedded", action="store_true", help="only the --db server")
    args = ap.parse_args()
    n = int(args.days * 86400 / args.interval)
    start = datetime(2024, 1, 1)
    with contextlib.ExitStack() as stack:
        work = Path(tempfile.mkdtemp(prefix="perocube-bench-"))
        stack.callback(shutil.rmtree, work, ignore_errors=True)
        backends = []
        if not args.no_embedded:
            _url, _w, server = stack.enter_context(scratch_database())
            backends.append(("plain (embedded)", server.url("postgres"), False))
        if args.db:
            with psycopg.connect(args.db) as conn:
                ts = bool(conn.execute("SELECT count(*) FROM pg_available_extensions WHERE name = 'timescaledb'"
                                       ).fetchone()[0])
                version = conn.execute("SELECT default_version FROM pg_available_extensions"
                                       " WHERE name = 'timescaledb'").fetchone()
                pg = conn.info.server_version // 10000
            backends.append((f"TimescaleDB {version[0]}" if ts else f"PostgreSQL {pg} (--db)", args.db, ts))
        root = work / "lab" / "data_bench"
        root.mkdir(parents=True)
        t = time.perf_counter()
        files = []
        for k in range(args.channels):
            f = root / f"output_board{k // 8 + 1}_channel{k % 8 + 1}.txt"
            write_channel(f, start, n, args.interval, k)
            files.append(f)
        total = n * args.channels
        size = sum(f.stat().st_size for f in files) / 1e6
        print(f"{datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC, {os.cpu_count()} cores; generated {args.channels}"
              f" files, {total:,} rows, {size:.0f} MB in {time.perf_counter() - t:.1f} s; {load()}")
        data = payloads(files)
        results: dict[str, list[dict[str, float]]] = {b[0]: [] for b in backends}
        opts = ImportOptions()
        if args.loaders:
            opts = dataclasses.replace(opts, loaders=args.loaders)
        if args.chunk_kb:
            opts = dataclasses.replace(opts, chunk_bytes=args.chunk_kb << 10)
        kept: dict[str, str] = {}
        for r in range(args.rounds):
            print(f"round {r + 1} of {args.rounds}")
            for name, admin, ts in backends:
                last = r == args.rounds - 1
                res, url = one_round(name, admin, ts, data, work / "lab", total, opts, stack if last else None)
                results[name].append(res)
                if url is not None:
                    kept[name] = url
        print(f"summary (median of {args.rounds} rounds; ratio = import / floor of the same round), {load()}")
        print("| backend | bare floor rows/s | app floor rows/s | import rows/s | import / bare | import / app |"
              " CPU µs/row bare / app / import (server + importer) |")
        print("|---|---:|---:|---:|---:|---:|---|")
        for name, rs in results.items():
            med = {k: statistics.median(x[k] for x in rs) for k in ("bare", "app", "import")}
            rb = statistics.median(x["import"] / x["bare"] for x in rs)
            ra = statistics.median(x["import"] / x["app"] for x in rs)
            cpus = " / ".join(f"{statistics.median(x[k] for x in rs):.2f}" if all(k in x for x in rs) else "–"
                              for k in ("bare_cpu", "app_cpu", "import_cpu"))
            print(f"| {name} | {med['bare']:,.0f} | {med['app']:,.0f} | {med['import']:,.0f} | **{rb:.2f}** | {ra:.2f} |"
                  f" {cpus} |")
        for name, url in kept.items():
            unchanged(name, url, work / "lab")
        extra = max(n // 100, 1)
        for k, f in enumerate(files):
            write_channel(f, start, extra, args.interval, 1000 + k, offset=n)
        for name, url in kept.items():
            appended(name, url, work / "lab", extra * len(files))


if __name__ == "__main__":
    main()
