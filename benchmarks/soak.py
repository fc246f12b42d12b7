"""Soak: one database server for the institute, with a pooler, a read replica and a failover.

A PostgreSQL 15 primary and a streaming standby (``pg_basebackup -R``, synchronous commit;
TimescaleDB when it is installed for PostgreSQL 15), a PgBouncer in transaction mode in front of
each, ``--receivers`` real ``perocube-desktop receive`` processes (8 boards x 16 channels = 128
channels each, 1 Hz, ``vi`` framing, from the simulator) writing through the primary's pooler,
``--viewers`` viewer-mode GUIs (offscreen) and a ``serve`` read API with ``--api-clients`` clients
on the standby. Halfway the primary is stopped with ``-m immediate``, the standby promoted and the
writers' pooler pointed at it (what a cluster manager does).

Prints: rows ACKed and rows stored on the new primary, per channel, with duplicates; ACK p99
before, during (primary dead until every buffer drained) and after the failover; how long each
receiver buffered; the replica lag; the viewers' sample-to-screen delay; API p99 on the standby;
memory (RSS) of every process at start and end. ``run()`` returns the same as a dict
(``tests/test_soak.py`` runs a short form).

    python benchmarks/soak.py                  # the full soak: 10 minutes, 8 receivers, 3 viewers
    python benchmarks/soak.py --seconds 60 --receivers 2 --viewers 1
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import httpx
import numpy as np
import psutil

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from pgcluster import PgBouncer, StreamingPair, free_port, missing, wait_port  # noqa: E402

from perocube_desktop.ingest.simulator import SimConfig, Simulator  # noqa: E402

DB = "perocube"


@dataclass
class SoakConfig:
    seconds: float = 600.0
    receivers: int = 8
    boards: int = 8  # per receiver
    channels: int = 16  # per board
    viewers: int = 3
    api_clients: int = 4
    failover_at: float = 0.5  # fraction of the run
    timescaledb: bool | None = None  # None: when installed
    screenshot_dir: str | None = None


class CountingSim(Simulator):
    """The simulator, counting every ACKed MPP row per (board, channel) and every ACK's latency."""

    def __init__(self, config: SimConfig) -> None:
        super().__init__(config)
        self.acked: Counter[tuple[int, int]] = Counter()
        self.acks: list[tuple[float, float]] = []  # (unix time, seconds to the ACK)

    def send(self, message: dict) -> str:
        t0 = time.perf_counter()
        reply = super().send(message)
        if reply.startswith("ACK"):
            self.acks.append((time.time(), time.perf_counter() - t0))
            if message["type"] == "mpp":
                board = message["metadata"]["board"]
                rows = message["data"] if isinstance(message["data"], list) else [message["data"]]
                for r in rows:
                    self.acked[(board, r.get("channel") or message["metadata"]["channel"])] += 1
        return reply


def _env(work: Path, name: str) -> dict:
    d = work / name
    return {**os.environ, "PEROCUBE_CONFIG_DIR": str(d / "config"), "PEROCUBE_DATA_DIR": str(d / "data"),
            "PEROCUBE_LOG_DIR": str(d / "log"), "QT_QPA_PLATFORM": "offscreen", "PYTHONUNBUFFERED": "1"}


def _buffered(path: Path) -> int:
    if not path.exists():
        return 0
    try:
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=1) as c:
            return int(c.execute("SELECT coalesce(sum(rows), 0) FROM segment").fetchone()[0])
    except sqlite3.Error:
        return -1  # busy: not counted


def _p(values: list[float], q: float) -> float | None:
    return float(np.percentile(values, q)) if values else None


class Soak:
    def __init__(self, cfg: SoakConfig) -> None:
        self.cfg = cfg
        self.work = Path(tempfile.mkdtemp(prefix="perocube-soak-"))
        self.work.chmod(0o755)  # the servers and poolers run as other users (root: postgres) below it
        self.procs: dict[str, subprocess.Popen] = {}
        self.stop = threading.Event()
        self.buffer_samples: list[tuple[float, list[int]]] = []
        self.api_calls: list[tuple[float, float, int]] = []  # (time, seconds, status)
        self.health: list[tuple[float, bool | None, float | None]] = []
        self.events: dict[str, float] = {}

    # set-up -------------------------------------------------------------------------------
    def start_servers(self) -> None:
        self.pair = StreamingPair(self.work / "pg", timescaledb=self.cfg.timescaledb).start(DB)
        self.writers_pool = PgBouncer("127.0.0.1", self.pair.primary.port, "transaction", self.work / "bouncer-w",
                                      pool_size=40, databases=(DB,)).start()
        self.readers_pool = PgBouncer("127.0.0.1", self.pair.standby.port, "transaction", self.work / "bouncer-r",
                                      pool_size=20, databases=(DB,)).start()
        self.write_url = self.writers_pool.url(DB)
        self.read_url = self.readers_pool.url(DB)

    def start_receivers(self) -> list[int]:
        ports = []
        for i in range(self.cfg.receivers):
            port = free_port()
            buf = self.work / f"recv{i}" / "buffer.sqlite3"
            buf.parent.mkdir(parents=True)
            self.procs[f"receive-{i}"] = subprocess.Popen(
                [sys.executable, "-m", "perocube_desktop", "receive", "--port", str(port), "--db", self.write_url,
                 "--buffer", str(buf)], env=_env(self.work, f"recv{i}"), stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE)
            ports.append(port)
        for port in ports:
            wait_port(port, 120)
        return ports

    def start_readers(self) -> None:
        self.api_port = free_port()
        self.procs["serve"] = subprocess.Popen(
            [sys.executable, "-m", "perocube_desktop", "serve", "--port", str(self.api_port), "--db", self.read_url],
            env=_env(self.work, "api"), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        for i in range(self.cfg.viewers):
            shot = (["--screenshot", str(Path(self.cfg.screenshot_dir) / f"soak-viewer-{i}.png")]
                    if self.cfg.screenshot_dir else [])
            self.procs[f"viewer-{i}"] = subprocess.Popen(
                [sys.executable, str(ROOT / "benchmarks" / "_soak_viewer.py"), "--db", self.write_url,
                 "--read", self.read_url, "--seconds", str(self.cfg.seconds + 20), *shot],
                env=_env(self.work, f"viewer{i}"), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        wait_port(self.api_port, 120)

    # load ---------------------------------------------------------------------------------
    def api_client(self, seed: int) -> None:
        rnd = random.Random(seed)
        boards = self.cfg.receivers * self.cfg.boards
        with httpx.Client(base_url=f"http://127.0.0.1:{self.api_port}", timeout=60) as client:
            while not self.stop.is_set():
                t0 = time.perf_counter()
                try:
                    r = client.get("/measurements/mpp", params={"board": rnd.randint(1, boards),
                                                                "channel": rnd.randint(1, self.cfg.channels), "limit": 100})
                    status = r.status_code
                except httpx.HTTPError:
                    status = 0
                self.api_calls.append((time.time(), time.perf_counter() - t0, status))
                if seed == 0:
                    try:
                        h = client.get("/health").json()
                        self.health.append((time.time(), h.get("standby"), h.get("replica_lag_s")))
                    except (httpx.HTTPError, ValueError):
                        self.health.append((time.time(), None, None))
                self.stop.wait(0.25)

    def watch_buffers(self) -> None:
        files = [self.work / f"recv{i}" / "buffer.sqlite3" for i in range(self.cfg.receivers)]
        while not self.stop.is_set():
            self.buffer_samples.append((time.time(), [_buffered(f) for f in files]))
            self.stop.wait(0.5)

    def memory(self) -> dict[str, int]:
        out = {}
        for name, p in self.procs.items():
            try:
                out[name] = psutil.Process(p.pid).memory_info().rss
            except psutil.Error:
                out[name] = -1
        for name, b in (("pgbouncer-writers", self.writers_pool), ("pgbouncer-readers", self.readers_pool)):
            if b.proc is not None:
                out[name] = psutil.Process(b.proc.pid).memory_info().rss
        return out

    def failover(self) -> None:
        self.events["kill"] = time.time()
        self.pair.kill_primary()
        self.stop.wait(2.0)  # the time a cluster manager takes to notice
        self.pair.promote()
        self.events["promote"] = time.time()
        self.writers_pool.retarget("127.0.0.1", self.pair.standby.port)
        self.events["retarget"] = time.time()

    def run(self) -> dict:
        cfg = self.cfg
        self.start_servers()
        from perocube_desktop.db.migrate import migrate

        migrate(self.write_url)
        ports = self.start_receivers()
        self.start_readers()
        sims = [CountingSim(SimConfig("127.0.0.1", port, cfg.boards, cfg.channels, 1.0, framing="vi",
                                      first_board=1 + i * cfg.boards, seed=i + 1)) for i, port in enumerate(ports)]
        threads = [threading.Thread(target=s.run, daemon=True) for s in sims]
        threads += [threading.Thread(target=self.api_client, args=(k,), daemon=True) for k in range(cfg.api_clients)]
        threads.append(threading.Thread(target=self.watch_buffers, daemon=True))
        self.events["start"] = time.time()
        for t in threads:
            t.start()
        time.sleep(min(10.0, cfg.seconds * 0.1))
        mem_start = self.memory()
        time.sleep(max(self.events["start"] + cfg.seconds * cfg.failover_at - time.time(), 0))
        self.failover()
        time.sleep(max(self.events["start"] + cfg.seconds - time.time(), 0))
        mem_end = self.memory()
        for s in sims:
            s.stop()
        for t in threads[:len(sims)]:
            t.join(30)
        self.events["sims_stopped"] = time.time()
        self._wait_drained(120)
        self.stop.set()
        for t in threads[len(sims):]:
            t.join(30)
        viewers = self._collect_viewers()
        return self._results(sims, mem_start, mem_end, viewers)

    def _wait_drained(self, timeout: float) -> None:
        files = [self.work / f"recv{i}" / "buffer.sqlite3" for i in range(self.cfg.receivers)]
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and any(_buffered(f) != 0 for f in files):
            time.sleep(0.5)

    def _collect_viewers(self) -> list[dict]:
        out = []
        for name, p in list(self.procs.items()):
            if name.startswith("viewer-"):
                try:
                    stdout, stderr = p.communicate(timeout=120)
                except subprocess.TimeoutExpired:
                    p.kill()
                    stdout, stderr = p.communicate()
                lines = [ln for ln in (stdout or "").splitlines() if ln.startswith("{")]
                out.append(json.loads(lines[-1]) if lines else {"error": (stderr or "")[-500:]})
        return out

    # results ------------------------------------------------------------------------------
    def _stored(self) -> dict[tuple[int, int], tuple[int, int]]:
        import psycopg

        with psycopg.connect(self.pair.standby.url(DB)) as conn:
            rows = conn.execute(
                "SELECT tracking_channel_board, tracking_channel_channel, count(*), "
                "count(DISTINCT \"timestamp\") FROM mpp_measurement GROUP BY 1, 2").fetchall()
        return {(b, c): (n, d) for b, c, n, d in rows}

    def _buffering(self) -> list[dict]:
        """Per receiver: the longest run of samples with rows waiting in its buffer, and the peak."""
        out = []
        for i in range(self.cfg.receivers):
            longest, peak, since = 0.0, 0, None
            for t, counts in self.buffer_samples:
                n = counts[i]
                peak = max(peak, n)
                if n > 0:
                    since = t if since is None else since
                    longest = max(longest, t - since)
                elif n == 0:
                    since = None
            out.append({"receiver": i, "longest_buffering_s": round(longest, 1), "peak_buffered_rows": peak})
        return out

    def _results(self, sims: list[CountingSim], mem_start: dict, mem_end: dict, viewers: list[dict]) -> dict:
        acked: Counter[tuple[int, int]] = Counter()
        for s in sims:
            acked.update(s.acked)
        stored = self._stored()
        # "during": from the kill until every buffer was empty again
        drained = self.events["kill"]
        for t, counts in self.buffer_samples:
            if t > self.events["retarget"] and all(c == 0 for c in counts):
                drained = t
                break
        self.events["drained"] = drained
        acks = [a for s in sims for a in s.acks]
        phase = {"before": [lat for t, lat in acks if self.events["start"] + 5 < t < self.events["kill"]],
                 "during": [lat for t, lat in acks if self.events["kill"] <= t <= drained],
                 "after": [lat for t, lat in acks if t > drained]}
        # the standby's lag while its primary lives (afterwards it grows until the promotion)
        lag = [x for t, standby, x in self.health if standby and x is not None and t < self.events["kill"]]
        lag_dead = [x for t, standby, x in self.health if standby and x is not None and t >= self.events["kill"]]
        api_ok = [d for t, d, st in self.api_calls if st == 200]
        delays = [d for v in viewers for _t, d in v.get("delays", [])]
        return {
            "config": vars(self.cfg), "load_average": os.getloadavg(),
            "timescaledb": self.pair.primary.timescaledb, "events": self.events,
            "channels": len(acked), "rows_acked": sum(acked.values()),
            "rows_stored": sum(n for n, _ in stored.values()),
            "channels_mismatched": sorted(f"{b}/{c}" for b, c in set(acked) | set(stored)
                                          if acked.get((b, c), 0) != stored.get((b, c), (0, 0))[0]),
            "duplicates": sum(n - d for n, d in stored.values()),
            "ack_p99_ms": {k: (None if not v else round(_p(v, 99) * 1000, 1)) for k, v in phase.items()},  # type: ignore[operator]
            "ack_count": {k: len(v) for k, v in phase.items()},
            "buffering": self._buffering(),
            "replica_lag_s": {"p50": _p(lag, 50), "p99": _p(lag, 99), "max": max(lag) if lag else None,
                              "samples": len(lag), "max_while_primary_dead": max(lag_dead) if lag_dead else None},
            "viewer_delay_s": {"p50": _p(delays, 50), "p99": _p(delays, 99), "max": max(delays) if delays else None,
                               "samples": len(delays)},
            "viewer_status_texts": [v.get("status_texts") for v in viewers],
            "api": {"calls": len(self.api_calls), "ok": len(api_ok),
                    "p99_ms": None if not api_ok else round(_p(api_ok, 99) * 1000, 1)},  # type: ignore[operator]
            "memory_mb": {name: (round(mem_start.get(name, -1) / 1e6, 1), round(mem_end.get(name, -1) / 1e6, 1))
                          for name in sorted(set(mem_start) | set(mem_end))},
            "viewer_memory_mb": [(round(v.get("rss_start", -1) / 1e6, 1), round(v.get("rss_end", -1) / 1e6, 1))
                                 for v in viewers],
        }

    def close(self) -> None:
        self.stop.set()
        for p in self.procs.values():
            if p.poll() is None:
                p.terminate()
        for p in self.procs.values():
            try:
                p.wait(30)
            except subprocess.TimeoutExpired:
                p.kill()
        for b in (getattr(self, "writers_pool", None), getattr(self, "readers_pool", None)):
            if b is not None:
                b.stop()
        if getattr(self, "pair", None) is not None:
            self.pair.stop()
        import shutil

        shutil.rmtree(self.work, ignore_errors=True)


def run(cfg: SoakConfig) -> dict:
    if reason := missing("pgbouncer", "initdb", "pg_ctl", "pg_basebackup", "postgres"):
        raise RuntimeError(reason)
    soak = Soak(cfg)
    try:
        return soak.run()
    finally:
        soak.close()


def report(r: dict) -> str:
    lines = [f"soak: {r['config']['seconds']:.0f} s, {r['config']['receivers']} receivers x "
             f"{r['config']['boards'] * r['config']['channels']} channels at 1 Hz (vi framing), "
             f"{r['config']['viewers']} viewers, {r['config']['api_clients']} API clients on the standby; "
             f"{'TimescaleDB' if r['timescaledb'] else 'plain PostgreSQL'} 15; load average {r['load_average']}",
             f"rows ACKed {r['rows_acked']:,} = rows stored {r['rows_stored']:,} on the new primary "
             f"({r['channels']} channels, {len(r['channels_mismatched'])} channels differ, {r['duplicates']} duplicates)",
             f"ACK p99 ms: before {r['ack_p99_ms']['before']}, during {r['ack_p99_ms']['during']}, after "
             f"{r['ack_p99_ms']['after']} (ACKs: {r['ack_count']})",
             "buffering per receiver: " + ", ".join(f"{b['longest_buffering_s']} s ({b['peak_buffered_rows']:,} rows)"
                                                    for b in r["buffering"]),
             f"replica lag s: {r['replica_lag_s']}",
             f"viewer sample-to-screen s: {r['viewer_delay_s']}",
             f"viewer status bar: {r['viewer_status_texts']}",
             f"API on the standby: {r['api']}",
             "memory MB (start, end): " + ", ".join(f"{k} {v[0]}->{v[1]}" for k, v in r["memory_mb"].items()),
             f"viewers' memory MB (start, end): {r['viewer_memory_mb']}"]
    return "\n".join(lines)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seconds", type=float, default=600.0)
    ap.add_argument("--receivers", type=int, default=8)
    ap.add_argument("--viewers", type=int, default=3)
    ap.add_argument("--api-clients", type=int, default=4)
    ap.add_argument("--plain", action="store_true", help="plain PostgreSQL even where TimescaleDB is installed")
    ap.add_argument("--screenshots", help="folder for the viewers' screenshots at the end")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    r = run(SoakConfig(seconds=args.seconds, receivers=args.receivers, viewers=args.viewers,
                       api_clients=args.api_clients, timescaledb=False if args.plain else None,
                       screenshot_dir=args.screenshots))
    print(json.dumps(r, default=str) if args.json else report(r))
    return 0 if not r["channels_mismatched"] and not r["duplicates"] else 1


if __name__ == "__main__":
    sys.exit(main())
