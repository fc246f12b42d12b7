"""A LabVIEW stand-in: speaks the wire protocol like the lab's VIs, with plausible MPP data.

Per channel: a perovskite pixel whose PCE shows a fast burn-in then slow linear loss,
a temperature coefficient, light/dark cycling (12 h light / 12 h dark by default,
starting lit), near-zero power in the dark. Per board: one temperature and one
irradiance sensor. Sends board batches and single samples and waits for every reply.

``framing``: ``"line"`` (the line protocol, reply lines), ``"vi"`` (like the lab's VIs today:
bare JSON objects on one long connection, 3-byte replies) or ``"vi-per-message"`` (a new
connection for every message).
"""

from __future__ import annotations

import json
from collections import deque
import logging
import math
import random
import socket
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import BinaryIO

log = logging.getLogger(__name__)


def temperature_identifier(board: int) -> str:
    return f"m7004_ID_{0x94C6D5390E4C4800 + board:016X}"


IRRADIANCE_IDENTIFIER = "PT-104"


@dataclass
class PixelModel:
    pce0: float  # initial PCE, %
    area: float  # cm²
    burn_in: float  # fraction lost in burn-in
    tau_h: float  # burn-in time constant
    slope_per_h: float  # linear loss after burn-in (fraction per hour)

    def pce(self, age_h: float, temp_c: float) -> float:
        decay = 1 - self.burn_in * (1 - math.exp(-age_h / self.tau_h)) - self.slope_per_h * age_h
        return max(self.pce0 * decay * (1 - 0.002 * (temp_c - 25.0)), 0.0)


@dataclass
class SimConfig:
    host: str = "127.0.0.1"
    port: int = 5000
    boards: int = 2
    channels: int = 8
    interval_s: float = 1.0
    duration_s: float | None = None
    speedup: float = 1.0
    light_period_h: float = 24.0
    seed: int = 1
    batch: bool = True  # board batches; every 10th tick single-sample messages too
    framing: str = "line"  # line | vi | vi-per-message
    give_up_after_s: float | None = None  # no receiver for this long: SimulatorGaveUp (None: retry for ever, the demo)
    first_board: int = 1  # boards first_board .. first_board + boards - 1 (several setups, one database)


@dataclass
class SimStats:
    messages: int = 0
    rows: int = 0
    errors: int = 0
    # the newest reply latencies only: the demo simulator runs for weeks
    latencies: deque[float] = field(default_factory=lambda: deque(maxlen=100_000))


class SimulatorGaveUp(ConnectionError):
    """Nothing accepted a connection for ``give_up_after_s``; ``str()`` is one line with the fix."""


class Simulator:
    def __init__(self, config: SimConfig) -> None:
        self.config = config
        rnd = random.Random(config.seed)
        self.pixels = {
            (b, c): PixelModel(rnd.uniform(15, 21), 0.25, rnd.uniform(0.05, 0.15), rnd.uniform(5, 30),
                               rnd.uniform(0.00005, 0.0004))
            for b in self.boards() for c in range(1, config.channels + 1)
        }
        self.lamp = {b: rnd.uniform(960, 1020) for b in self.boards()}
        self.temp = {b: 25.0 for b in self.boards()}
        self._rnd = rnd
        self.stats = SimStats()
        self._stop = threading.Event()
        self._sock: socket.socket | None = None
        self._file: BinaryIO | None = None

    def boards(self) -> range:
        return range(self.config.first_board, self.config.first_board + self.config.boards)

    def stop(self) -> None:
        self._stop.set()

    def irradiance(self, age_h: float) -> float:
        phase = (age_h % self.config.light_period_h) / self.config.light_period_h
        return 1.0 if phase < 0.5 else 0.0

    def _connect(self) -> None:
        cfg = self.config
        since, attempt = time.monotonic(), 0
        while not self._stop.is_set():
            attempt += 1
            try:
                self._sock = socket.create_connection((cfg.host, cfg.port), timeout=10)
                self._sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                self._file = self._sock.makefile("rb")
                return
            except OSError as exc:
                waited = time.monotonic() - since
                if cfg.give_up_after_s is not None and waited >= cfg.give_up_after_s:
                    raise SimulatorGaveUp(
                        f"nothing accepted a connection on {cfg.host}:{cfg.port} for {waited:.0f} s "
                        f"({exc.strerror or exc}): start the receiver there (the GUI or 'perocube-desktop "
                        "receive') or give its --host/--port") from None
                # once per outage, not once a second
                log.log(logging.WARNING if attempt == 1 else logging.DEBUG, "simulator cannot connect to %s:%d: %s; "
                        "retrying%s", cfg.host, cfg.port, exc,
                        f" for {cfg.give_up_after_s:g} s" if cfg.give_up_after_s is not None else "")
                self._stop.wait(min(1.0, cfg.give_up_after_s or 1.0))

    def send(self, message: dict) -> str:
        """Send one request and wait for its reply (reconnecting and re-sending if dropped)."""
        vi = self.config.framing != "line"
        data = (json.dumps(message, allow_nan=True) + ("" if vi else "\r\n")).encode()
        while not self._stop.is_set():
            if self._sock is None:
                self._connect()
                if self._sock is None:
                    break
            t0 = time.perf_counter()
            try:
                self._sock.sendall(data)
                reply = self._read_reply(vi)
            except OSError as exc:
                log.warning("simulator lost the connection (%s); re-sending", exc)
                self._close()
                continue
            self.stats.latencies.append(time.perf_counter() - t0)
            self.stats.messages += 1
            text = reply.decode().strip()
            if not text.startswith(("ACK", "PONG")):
                self.stats.errors += 1
                log.warning("simulator got %s", text)
            if self.config.framing == "vi-per-message":
                self._close()
            return text
        return ""

    def _read_reply(self, vi: bool) -> bytes:
        assert self._sock is not None and self._file is not None
        if not vi:
            reply = self._file.readline()
        else:  # like the VIs: read exactly 3 bytes
            reply = b""
            while len(reply) < 3:
                chunk = self._sock.recv(3 - len(reply))
                if not chunk:
                    break
                reply += chunk
        if not reply or (vi and len(reply) < 3):
            raise ConnectionError("connection closed by the receiver")
        return reply

    def _close(self) -> None:
        if self._sock is not None:
            self._sock.close()
        self._sock = None

    def messages_for(self, sim_t: float, start_t: float, tick: int) -> list[dict]:
        age_h = (sim_t - start_t) / 3600
        ts = datetime.fromtimestamp(sim_t, timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")
        lit = self.irradiance(age_h)
        out = []
        dt_h = self.config.interval_s / 3600
        for b in self.boards():
            target = 25.0 + 20.0 * lit
            self.temp[b] += (target - self.temp[b]) * min(1.0, dt_h / 0.5)
            irradiance_wm2 = self.lamp[b] * lit * (1 + self._rnd.gauss(0, 0.003)) if lit else abs(self._rnd.gauss(0, 0.3))
            rows = []
            for c in range(1, self.config.channels + 1):
                px = self.pixels[(b, c)]
                p = irradiance_wm2 * px.area * 0.1 * px.pce(age_h, self.temp[b]) / 100 * (1 + self._rnd.gauss(0, 0.002))
                v = (1.05 - 0.0022 * (self.temp[b] - 25)) * (1 + self._rnd.gauss(0, 0.001)) if lit else abs(self._rnd.gauss(0.02, 0.01))
                i = p / v if v > 0 else 0.0
                rows.append({"channel": c, "power": round(p, 5), "current": round(i, 5), "voltage": round(v, 5)})
            if self.config.batch and tick % 10:
                out.append({"type": "mpp", "data": [dict(r, timestamp=ts) for r in rows], "metadata": {"board": b}})
            else:
                for r in rows:
                    out.append({"type": "mpp", "data": dict(r, timestamp=ts), "metadata": {"board": b, "channel": r["channel"]}})
            out.append({"type": "temperature", "data": {"timestamp": ts, "temperature": round(self.temp[b], 3)},
                        "metadata": {"sensor_identifier": temperature_identifier(b)}})
            out.append({"type": "irradiance", "data": {"timestamp": ts, "raw_reading": int(irradiance_wm2 * 40), "irradiance": round(irradiance_wm2, 2)},
                        "metadata": {"sensor_identifier": IRRADIANCE_IDENTIFIER, "channel": b}})
        return out

    def run(self) -> SimStats:
        cfg = self.config
        start_real = time.monotonic()
        start_sim = time.time()
        tick = 0
        while not self._stop.is_set():
            sim_t = start_sim + tick * cfg.interval_s
            if cfg.duration_s is not None and tick * cfg.interval_s >= cfg.duration_s:
                break
            for msg in self.messages_for(sim_t, start_sim, tick):
                rows = msg["data"]
                if self.send(msg):  # counted when answered: a stop while waiting sent nothing
                    self.stats.rows += len(rows) if isinstance(rows, list) else 1
            tick += 1
            due = start_real + tick * cfg.interval_s / cfg.speedup
            delay = due - time.monotonic()
            if delay > 0:
                self._stop.wait(delay)
        self._close()
        return self.stats
