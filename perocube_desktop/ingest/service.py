"""IngestService: receiver + local buffer + database writer, and their observable status.

Used by the GUI (through a Qt bridge in ``ui/``) and by the headless ``receive`` command.
Two loss policies: the path to the database never drops a row; the live tap for the
plots is a bounded deque that may drop the oldest samples.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from pathlib import Path

from ..config import Settings
from ..protocol import MPP, Request, Sample
from ..series_key import SeriesKey
from ..status import IngestStatus, RateMeter
from ..db import replica
from .buffer import DiskBuffer
from .committer import GroupCommitter
from .receiver import Receiver
from .writer import DatabaseWriter

log = logging.getLogger(__name__)

__all__ = ["IngestService", "IngestStatus"]


class IngestService:
    def __init__(self, settings: Settings, conninfo: str, buffer_file: Path | None = None,
                 port: int | None = None, host: str | None = None, allow: list[str] | None = None,
                 tap_size: int = 500_000) -> None:
        receiver_settings = settings.receiver
        self.buffer = DiskBuffer(buffer_file or settings.buffer_file())
        self.tap: deque[Sample] = deque(maxlen=tap_size)
        self._last_sample: dict[SeriesKey, float] = {}
        self._lock = threading.Lock()
        self._rate = RateMeter(5.0)  # the status bar's rows/s: over the last 5 s
        self.committer = GroupCommitter(self.buffer, self._committed)
        self._multi_host = replica.multi_host(conninfo)
        self.writer = DatabaseWriter(
            self.buffer, conninfo, settings.writer.batch_rows, settings.writer.flush_interval_s,
            settings.writer.max_backoff_s,
        )
        self.receiver = Receiver(
            self.committer, host or receiver_settings.host, receiver_settings.port if port is None else port, allow or receiver_settings.allow,
            receiver_settings.source_timezone, receiver_settings.max_line_bytes, live_samples=tap_size > 0,
        )

    def _committed(self, requests: list[Request]) -> None:
        # newest sample per series, by plain tuples (a batch holds up to thousands of rows); keys
        # are made once per series below
        channels: dict[tuple, int] = {}  # (board, channel) -> µs
        sensors: dict[tuple, int] = {}  # (kind, sensor) -> µs
        for r in requests:
            samples = r.samples
            if not samples:
                # no Sample objects without a live tap (the `receive` service): each channel of the
                # request at the request's newest time, enough for its clock check (cli._warn_samples_ahead)
                if r.t_hi is not None:
                    for pair in r.channels:
                        if r.t_hi > channels.get(pair, 0):
                            channels[pair] = r.t_hi
                continue
            self.tap.extend(samples)
            if samples[0].kind == MPP:
                get = channels.get
                for s in samples:
                    channel = (s.board, s.channel)
                    if s.ts_us > get(channel, 0):
                        channels[channel] = s.ts_us
            else:
                get = sensors.get
                for s in samples:
                    sensor = (s.kind, s.sensor)
                    if s.ts_us > get(sensor, 0):
                        sensors[sensor] = s.ts_us
        if not channels and not sensors:
            return
        newest = [(SeriesKey.mpp(*k), us) for k, us in channels.items()]
        newest += [(SeriesKey.of_sensor(*k), us) for k, us in sensors.items()]
        with self._lock:
            for key, us in newest:
                self._last_sample[key] = max(self._last_sample.get(key, 0.0), us / 1e6)
        self.writer.wakeup.set()

    def start(self) -> None:
        pending = self.buffer.count()
        if pending:
            log.info("%d rows from an earlier run are waiting in the local buffer", pending)
        self.writer.start()
        self.receiver.start()

    def stop(self, flush_timeout_s: float = 5.0) -> int:
        """Stop receiving, flush what the database takes within ``flush_timeout_s``; the rows left in
        the local buffer for the next start."""
        log.info("stopping ingest")
        self.receiver.stop()
        self.committer.stop()
        self.writer.stop(flush_timeout_s)
        left = self.buffer.count()
        if left:
            log.warning("%d rows stay in the local buffer for the next start", left)
        self.buffer.close()
        return left

    def status(self) -> IngestStatus:
        accepted = self.receiver.counters.rows_accepted
        rate, _over = self._rate.update(accepted)
        with self._lock:
            last = dict(self._last_sample)
        return IngestStatus(
            address=self.receiver.address,
            clients=self.receiver.counters.clients,
            rows_per_s=rate,
            rows_accepted=accepted,
            rows_rejected=self.receiver.counters.rows_rejected,
            buffered_rows=self.buffer.count(),
            db_state=self.writer.state,
            db_error=self.writer.last_error,
            db_down_since=self.writer.down_since,
            rows_written=self.writer.rows_written,
            # worth showing: one of several servers, or another one than at the start (a failover)
            db_server=self.writer.server if self._multi_host or self.writer.switched else None,
            db_switched=self.writer.switched,
            last_sample=last,
            rows_quarantined=self.writer.rows_quarantined,
            lines_refused=self.receiver.counters.lines_refused,
            peers_refused=self.receiver.counters.peers_refused,
            buffer_error=self.committer.last_error,
            buffer_error_at=self.committer.last_error_at,
        )
