"""Ingest benchmark against a real `perocube-desktop receive` process and embedded PostgreSQL.

Prints:
- single-sample messages, 16 clients each waiting for its ACK: messages/s (target >= 10,000/s);
- nominal lab load (256 MPP channels + 16 sensors at 1 Hz, single-sample messages): p50/p99 ACK
  latency (target p99 <= 50 ms) and the receive process's memory before and after;
- drain of the local buffer after a 10-minute database outage at nominal load (163,200 rows):
  seconds and rows/s (target >= 200,000 rows/s);
- durable batched ingest: 4 and 16 clients sending 100- and 1000-row MPP batches, each waiting
  for its ACK: rows/s acknowledged, and rows/s acknowledged *and* drained into the database
  (target >= 100,000 rows/s).

``--db URL`` runs everything against another server (for example TimescaleDB): the script
creates its own database there, migrates it and drops it at the end.
"""

from __future__ import annotations

import argparse
import json
import os
import selectors
import socket
import subprocess
import sys
import shutil
import tempfile
import threading
import time
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import psutil
from _common import scratch_database


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Client:
    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port))
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.file = self.sock.makefile("rb")

    def request(self, line: bytes) -> bytes:
        self.sock.sendall(line)
        return self.file.readline()


def mpp_line(board: int, channel: int, t: float) -> bytes:
    return (json.dumps({"type": "mpp", "data": {"timestamp": t, "power": 4.2, "current": 4.5, "voltage": 0.93},
                        "metadata": {"board": board, "channel": channel}}) + "\n").encode()


def throughput(port: int, clients: int, seconds: float) -> float:
    """``clients`` connections, each with exactly one request in flight (the next is sent only after
    its ACK), driven from one thread with a selector. The LabVIEW PCs are other machines: the
    clients should take as little of this machine's two cores as they can (16 client threads took
    about 60 µs of CPU per message, much of it GIL hand-overs, and that CPU was the receiver's)."""
    sel = selectors.DefaultSelector()
    sent = [0] * clients
    buffers = [b""] * clients

    def send(k: int, sock: socket.socket) -> None:
        sent[k] += 1
        sock.sendall(mpp_line(100 + k, 1, 1.7e9 + k * 1e6 + sent[k] * 0.001))

    socks = []
    for k in range(clients):
        sock = socket.create_connection(("127.0.0.1", port))
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sel.register(sock, selectors.EVENT_READ, k)
        socks.append(sock)
    acked = 0
    t0 = time.monotonic()
    stop = t0 + seconds
    for k, sock in enumerate(socks):
        send(k, sock)
    while time.monotonic() < stop:
        for key, _events in sel.select(timeout=0.5):
            k, sock = key.data, key.fileobj
            data = sock.recv(4096)
            if not data:
                raise RuntimeError(f"the receiver closed client {k}")
            buffers[k] += data
            while b"\n" in buffers[k]:
                line, buffers[k] = buffers[k].split(b"\n", 1)
                assert line.startswith(b"ACK 1"), line
                acked += 1
                send(k, sock)
    elapsed = time.monotonic() - t0
    for sock in socks:
        sel.unregister(sock)
        sock.close()
    return acked / elapsed


def commit_latency(work: Path, n: int = 100) -> float:
    """Median time of one durable SQLite commit (WAL, synchronous=FULL) on this disk, ms.

    Clients that each wait for their ACK are bound by it: 16 clients get at most about
    16 messages per commit."""
    import sqlite3

    conn = sqlite3.connect(work / "fsync.sqlite3", isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute("CREATE TABLE t (x TEXT)")
    times = []
    for _ in range(n):
        t = time.perf_counter()
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("INSERT INTO t VALUES (?)", ("x" * 200,))
        conn.execute("COMMIT")
        times.append(time.perf_counter() - t)
    conn.close()
    return float(np.median(times) * 1000)


def nominal(port: int, seconds: float, boards: int = 16, channels: int = 16) -> np.ndarray:
    """One client per board; each second it sends its 16 channels plus one sensor, one message each."""
    latencies: list[float] = []
    lock = threading.Lock()
    start = time.monotonic() + 0.5
    t_data = time.time()

    def run(b: int) -> None:
        c = Client(port)
        mine = []
        for tick in range(int(seconds)):
            due = start + tick + b / boards  # spread the boards over the second
            delay = due - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            for ch in range(1, channels + 1):
                t0 = time.perf_counter()
                reply = c.request(mpp_line(b + 1, ch, t_data + tick))
                mine.append(time.perf_counter() - t0)
                assert reply.startswith(b"ACK 1"), reply
            t0 = time.perf_counter()
            c.request((json.dumps({"type": "temperature", "data": {"timestamp": t_data + tick, "temperature": 40.0},
                                   "metadata": {"sensor_identifier": f"m7004_ID_{b:016X}"}}) + "\n").encode())
            mine.append(time.perf_counter() - t0)
        with lock:
            latencies.extend(mine)

    threads = [threading.Thread(target=run, args=(b,)) for b in range(boards)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    return np.array(latencies) * 1000


def batched(port: int, url: str, clients: int, rows: int, seconds: float, board0: int, t_start: int,
            proc: psutil.Process) -> tuple[int, float, float, float, float]:
    """Clients send ``rows``-row MPP batches (line protocol), each waiting for its ACK.

    Returns (rows acknowledged, ACK rows/s, drained rows/s, p50 ACK latency ms, CPU µs of the
    receive process per row). Drained: from the start until every acknowledged row is in the
    database. The CPU time per row does not depend on what else runs on the machine."""
    acked = [0] * clients
    lat: list[list[float]] = [[] for _ in range(clients)]
    start = threading.Barrier(clients + 1)
    stop_at = [0.0]
    # a board VI's shape: ISO timestamps, all 16 channels of one instant, then the next second
    row = '{"timestamp": "%s", "channel": %d, "power": 4.2, "current": 4.5, "voltage": 0.93}'
    block = ", ".join(row % ("@TS@", ch) for ch in range(1, 17))  # one second of a board, made once

    def body(t: int, n: int) -> bytes:
        """Rows n .. n+rows-1 of a client (row k: second t + k // 16, channel k % 16 + 1), cheaply:
        the clients should not use the CPU that the receiver is measured with."""
        parts = []
        k, end = n, n + rows
        while k < end:
            sec, ch0 = divmod(k, 16)
            stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t + sec))
            if ch0 == 0 and k + 16 <= end:
                parts.append(block.replace("@TS@", stamp))
                k += 16
            else:
                parts.append(row % (stamp, ch0 + 1))
                k += 1
        return ", ".join(parts).encode()

    def run(k: int) -> None:
        c = Client(port)
        board = board0 + k
        t = t_start  # recent timestamps, like live data (old ones would meet the compression policy)
        n = 0
        head = b'{"type": "mpp", "metadata": {"board": %d}, "data": [' % board
        start.wait()
        while time.monotonic() < stop_at[0]:
            payload = head + body(t, n) + b"]}\n"
            n += rows
            t0 = time.perf_counter()
            reply = c.request(payload)
            lat[k].append(time.perf_counter() - t0)
            assert reply == b"ACK %d\r\n" % rows, reply
            acked[k] += rows

    threads = [threading.Thread(target=run, args=(k,)) for k in range(clients)]
    for th in threads:
        th.start()
    stop_at[0] = time.monotonic() + seconds
    cpu0 = sum(proc.cpu_times()[:2])
    start.wait()
    t0 = time.monotonic()
    for th in threads:
        th.join()
    t_ack = time.monotonic() - t0
    total = sum(acked)
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        while True:
            n = conn.execute("SELECT count(*) FROM mpp_measurement WHERE tracking_channel_board BETWEEN %s AND %s",
                             (board0, board0 + clients - 1)).fetchone()[0]
            if n >= total:
                break
            time.sleep(0.1)
    t_drain = time.monotonic() - t0
    cpu = sum(proc.cpu_times()[:2]) - cpu0
    assert n == total, (n, total)
    return total, total / t_ack, total / t_drain, float(np.percentile(np.concatenate(lat), 50) * 1000), cpu / total * 1e6


def drain(url: str, work: Path, rows: int, segment_rows: int) -> tuple[float, int, float]:
    """The local buffer as a 10-minute outage at nominal load leaves it, written to the database.

    ``segment_rows``: rows per group commit while the database was down (one per single-sample
    message when the boards' messages do not overlap: the worst case)."""
    from perocube_desktop.config import Settings
    from perocube_desktop.ingest.buffer import DiskBuffer
    from perocube_desktop.ingest.writer import DatabaseWriter
    from perocube_desktop.protocol import Sample

    buf = DiskBuffer(work / f"outage-{segment_rows}.sqlite3")
    t0_us = int(time.time() * 1e6) - 600 * 1_000_000 + segment_rows  # distinct rows per run
    batch = []
    per_tick = 272
    for i in range(rows):
        tick, k = divmod(i, per_tick)
        if k < 256:
            batch.append(Sample("mpp", t0_us + tick * 1_000_000, 4.2, 4.5, 0.93, board=200 + k // 16, channel=k % 16 + 1))
        else:
            batch.append(Sample("mpp", t0_us + tick * 1_000_000, 1.0, 1.0, 1.0, board=300, channel=k))
        if len(batch) == 10000:
            buf.append(batch, segment_rows=segment_rows)
            batch = []
    if batch:
        buf.append(batch, segment_rows=segment_rows)
    assert buf.count() == rows
    writer = DatabaseWriter(buf, url, batch_rows=Settings().writer.batch_rows, flush_interval_s=0.05)
    writer._connection()  # connect first: the figure is about moving rows
    backend = psutil.Process(writer._conn.info.backend_pid)  # type: ignore[union-attr]  # server on this machine
    cpu0 = sum(backend.cpu_times()[:2])
    t = time.perf_counter()
    writer.start()
    while buf.count() > 0:
        time.sleep(0.05)  # the GUI polls every 250 ms; polling faster competes with the writer
    el = time.perf_counter() - t
    cpu = sum(backend.cpu_times()[:2]) - cpu0
    if writer._aux is not None:  # the second connection for large batches, opened during the run
        cpu += sum(psutil.Process(writer._aux.info.backend_pid).cpu_times()[:2])
    server_us = cpu / rows * 1e6
    writer.stop()
    buf.close()
    return el, rows, server_us


SECTIONS = ("single", "nominal", "drain", "batched")


@contextmanager
def database(admin_url: str | None):
    """(conninfo, workdir): a scratch embedded server, or a database of our own on ``admin_url``."""
    if admin_url is None:
        with scratch_database() as (url, work, _server):
            yield url, work
        return
    import psycopg
    from psycopg import sql
    from psycopg.conninfo import make_conninfo

    from perocube_desktop.db.migrate import migrate

    name = f"perocube_bench_ingest_{os.getpid()}"
    work = Path(tempfile.mkdtemp(prefix="perocube-bench-"))
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        url = make_conninfo(admin_url, dbname=name)
        migrate(url)
        yield url, work
    finally:
        with psycopg.connect(admin_url, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        shutil.rmtree(work, ignore_errors=True)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--db", help="admin URL of a server to run against (a database is created and dropped there); "
                                 "default: a scratch embedded PostgreSQL")
    ap.add_argument("--only", nargs="+", choices=SECTIONS, default=list(SECTIONS), help="run only these parts")
    ap.add_argument("--throughput-seconds", type=float, default=10)
    ap.add_argument("--batched-seconds", type=float, default=10)
    ap.add_argument("--nominal-seconds", type=float, default=60, help="600 for the full 10-minute memory check")
    args = ap.parse_args()
    with database(args.db) as (url, work):
        with psycopg_conn(url) as conn:
            ts = conn.execute("SELECT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'timescaledb')").fetchone()[0]
            version = conn.execute("SHOW server_version").fetchone()[0].split()[0]
        load = ", ".join(f"{x:.1f}" for x in os.getloadavg()) if hasattr(os, "getloadavg") else "?"
        print(f"database: PostgreSQL {version}{' + TimescaleDB' if ts else ' (plain)'}; "
              f"{os.cpu_count()} cores, load average {load} (other work on the machine slows every figure)")
        if "drain" in args.only:  # first, while the database is fresh
            for segment_rows in (16, 1):
                el, rows, server_us = drain(url, work, 272 * 600, segment_rows)
                print(f"drain after a 10-minute outage at nominal load ({segment_rows} row(s) per buffered group): "
                      f"{rows:,} rows in {el:.2f} s = {rows / el:,.0f} rows/s (target >= 200,000), "
                      f"PostgreSQL backends {server_us:.1f} µs CPU/row")
        port = free_port()
        proc = subprocess.Popen([sys.executable, "-m", "perocube_desktop", "receive", "--db", url, "--port", str(port),
                                 "--buffer", str(work / "buf.sqlite3")], stdout=subprocess.PIPE,
                                stderr=subprocess.DEVNULL, env=dict(os.environ))
        assert b"receiving on" in proc.stdout.readline()
        ps = psutil.Process(proc.pid)
        try:
            if "single" in args.only:
                cpu0 = sum(ps.cpu_times()[:2])
                rate = throughput(port, 16, args.throughput_seconds)
                cpu_us = (sum(ps.cpu_times()[:2]) - cpu0) / (rate * args.throughput_seconds) * 1e6
                fsync_ms = commit_latency(work)
                print(f"16 clients, single-sample messages, each waiting for its ACK: {rate:,.0f} messages/s "
                      f"(target >= 10,000), receive process {cpu_us:.0f} µs CPU/message; a durable SQLite commit "
                      f"takes {fsync_ms:.2f} ms here (median), i.e. at most ~{16 / fsync_ms * 1000:,.0f} messages/s")
            if "batched" in args.only:
                board0 = 1000
                t_start = int(time.time())
                for clients in (4, 16):
                    for rows in (100, 1000):
                        # each part in a time window of its own: the rollup refresh of one part does
                        # not re-aggregate the rows of the parts before
                        t_start -= 12 * 3600
                        total, ack_rate, drained, p50, cpu_us = batched(port, url, clients, rows,
                                                                        args.batched_seconds, board0, t_start, ps)
                        board0 += clients
                        print(f"durable batched ingest, {clients:2d} clients x {rows:4d}-row batches: {total:,} rows, "
                              f"{ack_rate:,.0f} rows/s acknowledged, {drained:,.0f} rows/s acknowledged and drained "
                              f"(target >= 100,000), ACK p50 {p50:.1f} ms, receive process {cpu_us:.1f} µs CPU/row")
            if "nominal" in args.only:
                rss0 = ps.memory_info().rss / 1e6
                lat = nominal(port, args.nominal_seconds)
                rss1 = ps.memory_info().rss / 1e6
                print(f"nominal load 256 MPP + 16 sensors at 1 Hz for {args.nominal_seconds:.0f} s: {lat.size:,} messages, "
                      f"ACK latency p50 {np.percentile(lat, 50):.2f} ms, p99 {np.percentile(lat, 99):.2f} ms, "
                      f"max {lat.max():.1f} ms (target p99 <= 50 ms)")
                print(f"receive process memory: {rss0:.0f} MB before, {rss1:.0f} MB after the nominal run")
        finally:
            proc.terminate()
            proc.wait(30)


def psycopg_conn(url: str):
    import psycopg

    return psycopg.connect(url, autocommit=True)


if __name__ == "__main__":
    main()
