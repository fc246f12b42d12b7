"""Import benchmark: 32 channels x 14 days at 10 s (~3.9 M MPP rows) in the lab's file format.

Prints: the floor (a raw COPY of the same rows into the same, empty, migrated table: no cleaning,
no de-duplication, no rollups, no bookkeeping) and the first import side by side, with their ratio;
re-import of the unchanged folder (s); import after appending 1 % new rows to every file (s).
Targets: import >= 0.7 of the COPY floor (rollups and de-duplication included), >= 500,000 rows/s
on plain PostgreSQL; unchanged <= 1 s; appended 1 % <= 2 s.

``--db URL`` runs against another server (an admin URL: a scratch database is created there and
dropped afterwards), e.g. the TimescaleDB test server:
``python benchmarks/import.py --db postgresql://postgres@127.0.0.1:55432/postgres``.
Without it: the embedded plain PostgreSQL.
"""

from __future__ import annotations

import argparse
import contextlib
import shutil
import tempfile
import time
import uuid
from datetime import datetime
from pathlib import Path

import numpy as np
import psycopg
from _common import scratch_database
from psycopg import sql
from psycopg.conninfo import make_conninfo

from perocube_desktop.db import bulk
from perocube_desktop.db.migrate import migrate

from perocube_desktop.importer.engine import run_import


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


@contextlib.contextmanager
def external_database(admin_url: str):
    """(conninfo, workdir, None) for a fresh migrated database on the server at ``admin_url``."""
    name = "perocube_bench_" + uuid.uuid4().hex[:8]
    work = Path(tempfile.mkdtemp(prefix="perocube-bench-"))
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    url = make_conninfo(admin_url, dbname=name)
    try:
        migrate(url)
        yield url, work, None
    finally:
        with psycopg.connect(admin_url, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        shutil.rmtree(work, ignore_errors=True)


def copy_floor(url: str, files: list[Path]) -> float:
    """Seconds for a raw COPY of every file (one transaction each, like the importer's chunks) into
    the migrated, empty mpp_measurement: the floor any import is measured against."""
    payloads = []
    for f in files:
        board, channel = (int(x) for x in f.stem.replace("output_board", "").split("_channel"))
        payloads.append(f.read_bytes().replace(b"\n", f"\t{board}\t{channel}\n".encode()))
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("SELECT perocube_hold_compression(false)")  # no compression racing the floor either
        conn.execute("INSERT INTO mpp_tracking_channel (board, channel) SELECT b, c FROM generate_series(1, 8) b,"
                     " generate_series(1, 8) c ON CONFLICT DO NOTHING")
        # the importer's own session settings, so that only its extra work shows: asynchronous commit,
        # and foreign-key triggers skipped where the server allows it (plain PostgreSQL, superuser)
        skip_fk = bulk.may_skip_fk_triggers(conn)
        t = time.perf_counter()
        for data in payloads:
            with conn.transaction(), conn.cursor() as cur:
                cur.execute("SET LOCAL synchronous_commit = off")
                if skip_fk:
                    bulk.skip_fk_triggers(conn)
                with cur.copy(
                        'COPY mpp_measurement ("timestamp", power, current, voltage, tracking_channel_board,'
                        " tracking_channel_channel) FROM STDIN (FORMAT csv, DELIMITER E'\\t')") as cp:
                    cp.write(data)
        return time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--channels", type=int, default=32)
    ap.add_argument("--days", type=float, default=14)
    ap.add_argument("--interval", type=int, default=10)
    ap.add_argument("--db", help="admin URL of another server (a scratch database is created there)")
    args = ap.parse_args()
    n = int(args.days * 86400 / args.interval)
    start = datetime(2024, 1, 1)
    scratch = (lambda: external_database(args.db)) if args.db else scratch_database
    with scratch() as (url, work, _server):
        with psycopg.connect(url) as conn:
            backend = ("TimescaleDB " + conn.execute("SELECT extversion FROM pg_extension WHERE extname = 'timescaledb'")
                       .fetchone()[0]) if conn.execute("SELECT count(*) FROM pg_extension WHERE extname = 'timescaledb'"
                                                       ).fetchone()[0] else "plain PostgreSQL"
            print(f"server: PostgreSQL {conn.info.server_version // 10000}, {backend}")
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
        print(f"generated {args.channels} files, {total:,} rows, {size:.0f} MB in {time.perf_counter() - t:.1f} s")

        with (external_database(args.db) if args.db else scratch_database()) as (floor_url, _w, _s):
            floor_s = copy_floor(floor_url, files)
        print(f"raw COPY floor:    {total:,} rows in {floor_s:.2f} s = {total / floor_s:,.0f} rows/s "
              "(same table, empty, no cleaning/de-duplication/rollups)")

        t = time.perf_counter()
        first = run_import(url, work / "lab")
        el = time.perf_counter() - t
        assert first.inserted["mpp"] == total, first.inserted
        print(f"first import:      {total:,} rows in {el:.2f} s = {total / el:,.0f} rows/s "
              f"= {floor_s / el:.2f} of the COPY floor (target >= 0.7); of which rollup refresh "
              f"{first.rollup_seconds:.2f} s; loading alone {total / (el - first.rollup_seconds):,.0f} rows/s")

        t = time.perf_counter()
        again = run_import(url, work / "lab")
        el = time.perf_counter() - t
        assert again.inserted["mpp"] == 0
        print(f"unchanged re-import: {el:.3f} s (target <= 1 s), {again.files['unchanged']} files unchanged")

        extra = max(n // 100, 1)
        for k, f in enumerate(files):
            write_channel(f, start, extra, args.interval, 1000 + k, offset=n)
        t = time.perf_counter()
        tail = run_import(url, work / "lab")
        el = time.perf_counter() - t
        assert tail.inserted["mpp"] == extra * args.channels, tail.inserted
        print(f"appended 1 %:       {extra * args.channels:,} new rows in {el:.3f} s (target <= 2 s)")


if __name__ == "__main__":
    main()
