"""Small helpers shared by tests: a line client, free ports, waiting."""

from __future__ import annotations

import argparse
import json
import socket
import time


def pg_connect(url: str, **kwargs):
    """A test's own connection, opened as any client behind a transaction-pooling PgBouncer must
    open it (the ``pgbouncer`` backend): without server-side prepared statements, which psycopg
    would otherwise make of a query run five times on one connection."""
    import psycopg

    return psycopg.connect(url, prepare_threshold=None, **kwargs)


def gui_args(**kw) -> argparse.Namespace:
    """The arguments ``perocube-desktop`` (the GUI) parses, as a test's App gets them: no --db, a free
    receiver port, no demo, page, smoke test or screenshot unless ``kw`` says so."""
    base = dict(db=None, port=0, demo=False, page=None, smoke_test=None, screenshot=None)
    base.update(kw)
    return argparse.Namespace(**base)


def reused_channel(sample_dir, years_later: str = "2026-11") -> None:
    """Channel B1 C3 and the sensors' two days again, 2.5 years later in a folder of their own: pixel C
    then has 48 h from 2024 and 48 h from 2026 with ~920 days between (a reused channel, an old import)."""
    for day in ("03", "04"):
        src = sample_dir / "data_2024-05" / f"data_2024-05-{day}"
        dest = sample_dir / f"data_{years_later}" / f"data_{years_later}-{day}"
        dest.mkdir(parents=True)
        for f in src.glob("*.txt"):
            if f.name.startswith("output_") and f.name != "output_board1_channel3.txt":
                continue
            (dest / f.name).write_text(f.read_text().replace("2024-05-", f"{years_later}-"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LineClient:
    def __init__(self, port: int, host: str = "127.0.0.1") -> None:
        self.sock = socket.create_connection((host, port), timeout=15)
        self.file = self.sock.makefile("rb")

    def send_raw(self, data: bytes) -> None:
        self.sock.sendall(data)

    def reply(self) -> str:
        line = self.file.readline()
        if not line:
            raise ConnectionError("closed")
        return line.decode().rstrip("\r\n")

    def request(self, msg: dict | str) -> str:
        text = msg if isinstance(msg, str) else json.dumps(msg)
        self.send_raw(text.encode() + b"\n")
        return self.reply()

    def close(self) -> None:
        self.file.close()  # the socket stays open while its file is
        self.sock.close()


def mpp(ts: float, board: int = 1, channel: int = 1, power: float = 1.0, **extra) -> dict:
    return {"type": "mpp", "data": {"timestamp": ts, "power": power, "current": 2.0, "voltage": 0.5},
            "metadata": {"board": board, "channel": channel}, **extra}


def wait_until(predicate, timeout: float = 20.0, interval: float = 0.05):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"condition not met within {timeout} s")


ROLLUP_SPECS = {
    "mpp": ("mpp_measurement", ("tracking_channel_board", "tracking_channel_channel"), ("power", "voltage", "current")),
    "temperature": ("temperature_measurement", ("temperature_sensor_id",), ("temperature",)),
    "irradiance": ("irradiance_measurement", ("irradiance_sensor_id",), ("irradiance",)),
}


def rollup_mismatches(conn) -> dict[str, int]:
    """Every rollup (both levels, every kind) against a fresh aggregate of its raw table: the
    number of buckets that differ (missing, extra, other count, min, max or mean) per rollup."""
    out = {}
    for kind, (raw, keys, fields) in ROLLUP_SPECS.items():
        for suffix, width in (("1m", "1 minute"), ("1h", "1 hour")):
            aggs = ", ".join(f"min({f}) AS {f}_min, max({f}) AS {f}_max, avg({f}) AS {f}_mean" for f in fields)
            cols = ", ".join(f"{f}_{s}" for f in fields for s in ("min", "max", "mean"))
            keylist = ", ".join(keys)
            differs = " OR ".join(
                [f"r.{f}_{s} IS DISTINCT FROM f.{f}_{s}" for f in fields for s in ("min", "max")]
                + [f"NOT (r.{f}_mean IS NOT DISTINCT FROM f.{f}_mean OR abs(r.{f}_mean - f.{f}_mean) "
                   f"<= 1e-9 * (1 + abs(f.{f}_mean)))" for f in fields])
            query = (
                f"WITH r AS (SELECT bucket, {keylist}, n, {cols} FROM {kind}_rollup_{suffix}), "
                f"f AS (SELECT date_bin('{width}', \"timestamp\", 'epoch') AS bucket, {keylist}, count(*) AS n, {aggs} "
                f"FROM {raw} GROUP BY 1, {keylist}) "
                f"SELECT count(*) FROM r FULL JOIN f USING (bucket, {keylist}) "
                f"WHERE r.n IS DISTINCT FROM f.n OR {differs}")
            out[f"{kind}_rollup_{suffix}"] = conn.execute(query).fetchone()[0]
    return out


def assert_rollups_match(conn) -> None:
    bad = {k: v for k, v in rollup_mismatches(conn).items() if v}
    assert not bad, f"rollups differ from a fresh aggregate of the raw rows (buckets): {bad}"


def pump(src, dst, delay_s: float = 0.0, on_chunk=None) -> None:
    """Copy one direction of a TCP forwarder until either side closes (then close both directions).
    ``delay_s`` holds every chunk back (a slow network); ``on_chunk`` counts them."""
    import socket as _socket

    try:
        while data := src.recv(65536):
            if delay_s:
                time.sleep(delay_s)
            if on_chunk is not None:
                on_chunk()
            dst.sendall(data)
    except OSError:
        pass  # the other side went away: the finally closes ours
    finally:
        for s in (src, dst):
            try:
                s.shutdown(_socket.SHUT_RDWR)
            except OSError:
                pass  # already closed
