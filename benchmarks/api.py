"""Read API benchmark: 30 days x 32 channels of 10-s data (~8.3 M MPP rows), served by a real
``perocube-desktop serve`` process and called over HTTP.

Prints p50/p99 latency of
  * a 1000-row page deep into the table (offset 1,000,000; all channels, newest first),
  * one day of one pixel at raw resolution (8640 rows, through the wiring history),
  * 30 days of one pixel at 1-minute resolution (43,200 rows),
and the CSV streaming rate of a month of one channel at full resolution (rows/s) with the server's
peak memory while streaming. Targets: p99 <= 100 ms for the page and the pixel-day, >= 200,000
rows/s CSV, memory flat.

The data goes into a database of its own, dropped afterwards: a throw-away embedded PostgreSQL
(default) or, with ``--tsdb ADMIN_URL``, a new database on a TimescaleDB server.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import threading
import time
import uuid
from contextlib import contextmanager
from pathlib import Path

import httpx
import psutil
import psycopg
from _common import scratch_database
from psycopg import sql
from psycopg.conninfo import make_conninfo

T0 = "2024-01-01 00:00:00+00"


def create_data(url: str, channels: int, days: int, timescaledb: bool) -> float:
    n = days * 8640
    t = time.perf_counter()
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("SET work_mem = '256MB'")
        if not timescaledb:
            conn.execute("SET session_replication_role = replica")  # bulk test data only
        conn.execute("INSERT INTO solar_cell_device (name, area) VALUES ('BENCH', 1.0)")
        for k in range(channels):
            b, c = k // 8 + 1, k % 8 + 1
            conn.execute("INSERT INTO mpp_tracking_channel (board, channel) VALUES (%s, %s)", (b, c))
            conn.execute("INSERT INTO solar_cell_pixel (solar_cell_id, pixel, active_area) VALUES ('BENCH', %s, 0.25)",
                         (f"P{k}",))
            conn.execute("INSERT INTO measurement_connection_event (solar_cell_id, pixel, tracking_channel_board,"
                         " tracking_channel_channel, connection_datetime, event_type)"
                         " VALUES ('BENCH', %s, %s, %s, %s, 'CONNECTED')", (f"P{k}", b, c, T0))
        for day in range(days):  # a day at a time keeps the server's memory modest
            conn.execute("""
                INSERT INTO mpp_measurement ("timestamp", power, current, voltage, tracking_channel_board,
                                             tracking_channel_channel)
                SELECT %(t0)s::timestamptz + s * interval '10 seconds', 5 + k * 0.01 + sin(s / 500.0),
                       5.2 + k * 0.01, 0.95, (k / 8) + 1, (k %% 8) + 1
                FROM generate_series(%(a)s, %(b)s - 1) s, generate_series(0, %(ch)s - 1) k""",
                         {"t0": T0, "a": day * 8640, "b": (day + 1) * 8640, "ch": channels})
        conn.execute("INSERT INTO rollup_dirty (kind, t0, t1) VALUES ('mpp', %s, %s::timestamptz + %s * interval '10 s')",
                     (T0, T0, n))
        if timescaledb:
            conn.execute("DELETE FROM rollup_dirty")
            for view in ("mpp_rollup_1m", "mpp_rollup_1h"):
                conn.execute("CALL refresh_continuous_aggregate(%s, NULL, NULL)", (view,))
        else:
            conn.execute("SELECT perocube_refresh_rollups()")
        conn.execute("VACUUM ANALYZE")
    return time.perf_counter() - t


@contextmanager
def tsdb_database(admin: str):
    from perocube_desktop.db.migrate import migrate

    name = "bench_api_" + uuid.uuid4().hex[:8]
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    url = make_conninfo(admin, dbname=name)
    try:
        migrate(url)
        yield url
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def percentiles(samples: list[float]) -> tuple[float, float, float]:
    """min, p50, p99 in ms (min: what the request costs when the machine is not busy with others)."""
    s = sorted(samples)
    return s[0] * 1000, s[len(s) // 2] * 1000, s[min(len(s) - 1, int(round(0.99 * (len(s) - 1))))] * 1000


def timed(client: httpx.Client, path: str, params_list: list[dict]) -> tuple[list[float], int]:
    times, rows = [], 0
    for params in params_list:
        t = time.perf_counter()
        r = client.get(path, params=params)
        times.append(time.perf_counter() - t)
        r.raise_for_status()
        rows = len(r.json()["data"])
    return times, rows


class PeakMemory:
    """Samples a process's RSS every 20 ms."""

    def __init__(self, pid: int) -> None:
        self.proc = psutil.Process(pid)
        self.peak = self.proc.memory_info().rss
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(0.02):
            self.peak = max(self.peak, self.proc.memory_info().rss)

    def __enter__(self) -> PeakMemory:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


def stream_csv(client: httpx.Client, pid: int, params: dict) -> tuple[int, float, float, float]:
    before = psutil.Process(pid).memory_info().rss
    rows = 0
    with PeakMemory(pid) as mem:
        t = time.perf_counter()
        with client.stream("GET", "/measurements/mpp", params={**params, "format": "csv"}) as r:
            r.raise_for_status()
            for chunk in r.iter_bytes():
                rows += chunk.count(b"\n")
        elapsed = time.perf_counter() - t
    return rows - 1, elapsed, before / 1e6, mem.peak / 1e6


def run(url: str, args: argparse.Namespace, backend: str) -> None:
    print(f"backend: {backend}; creating {args.days} days x {args.channels} channels of 10-s data ...", flush=True)
    secs = create_data(url, args.channels, args.days, backend == "timescaledb")
    with psycopg.connect(url) as conn:
        total = conn.execute("SELECT count(*) FROM mpp_measurement").fetchone()[0]
    print(f"  {total:,} MPP rows in {secs:.0f} s (incl. rollups, VACUUM ANALYZE)", flush=True)
    port = free_port()
    env = {**os.environ, "PEROCUBE_CONFIG_DIR": str(Path(args.work) / "config")}
    server = subprocess.Popen([sys.executable, "-m", "perocube_desktop", "serve", "--db", url, "--port", str(port)],
                              env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        base = f"http://127.0.0.1:{port}"
        for _ in range(200):
            try:
                if httpx.get(base + "/health", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        with httpx.Client(base_url=base, timeout=120) as client:
            results = []
            k = args.repeat
            page = [{"limit": 1000, "offset": 1_000_000}] * k
            timed(client, "/measurements/mpp", page[:3])  # warm-up (connections, plans, caches)
            times, rows = timed(client, "/measurements/mpp", page)
            results.append(("1000-row page at offset 1,000,000 (all channels)", rows, *percentiles(times)))
            times, rows = timed(client, "/measurements/mpp", [{**p, "board": 2} for p in page])
            results.append(("same, one board (8 channels)", rows, *percentiles(times)))
            days = [{"start_time": f"2024-01-{1 + i % args.days:02d}T00:00:00Z",
                     "end_time": f"2024-01-{1 + i % args.days:02d}T23:59:59.999Z"} for i in range(k)]
            timed(client, "/pixels/BENCH/P5/mpp", days[:3])
            times, rows = timed(client, "/pixels/BENCH/P5/mpp", days)
            results.append(("one day of one pixel, raw", rows, *percentiles(times)))
            month = [{"resolution": "1m"}] * max(5, k // 5)
            times, rows = timed(client, "/pixels/BENCH/P5/mpp", month)
            results.append((f"{args.days} days of one pixel, 1-minute rollup", rows, *percentiles(times)))
            print(f"\n{'request':<52} {'rows':>8} {'min ms':>8} {'p50 ms':>8} {'p99 ms':>8}")
            for name, n, lo, p50, p99 in results:
                print(f"{name:<52} {n:>8,} {lo:>8.1f} {p50:>8.1f} {p99:>8.1f}")
            print(f"(p99 of {k} requests each, {len(month)} for the month; targets: p99 <= 100 ms page and pixel-day;"
                  f" load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores)")
            print(f"\n{'CSV stream':<40} {'rows':>10} {'s':>6} {'rows/s':>10} {'RSS before':>11} {'peak':>7}")
            for name, params in ((f"one channel, {args.days} days", {"board": 1, "channel": 3}),
                                 (f"all {args.channels} channels, {args.days} days", {})):
                if not params and not args.all_csv:
                    continue
                rows, el, before, peak = stream_csv(client, server.pid, params)
                print(f"{name:<40} {rows:>10,} {el:>6.1f} {rows / el:>10,.0f} {before:>9.0f}MB {peak:>5.0f}MB")
            print("(targets: >= 200,000 rows/s, server memory flat)")
    finally:
        server.terminate()
        server.wait(30)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--channels", type=int, default=32)
    ap.add_argument("--days", type=int, default=30)
    ap.add_argument("--repeat", type=int, default=100, help="requests per latency figure")
    ap.add_argument("--all-csv", action="store_true", help="also stream every channel (8.3 M rows) as CSV")
    ap.add_argument("--tsdb", metavar="ADMIN_URL", help="use a new database on this TimescaleDB server instead")
    args = ap.parse_args()
    if args.tsdb:
        import shutil
        import tempfile

        args.work = tempfile.mkdtemp(prefix="perocube-bench-")
        try:
            with tsdb_database(args.tsdb) as url:
                run(url, args, "timescaledb")
        finally:
            shutil.rmtree(args.work, ignore_errors=True)
        return
    with scratch_database() as (url, work, _server):
        args.work = str(work)
        run(url, args, "plain PostgreSQL (embedded)")


if __name__ == "__main__":
    main()
