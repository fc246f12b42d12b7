"""The ingest status snapshot: the contract between the ingest service (which fills it) and the
monitor and GUI layers (which read it). A base-layer module so that neither imports the other."""

from __future__ import annotations

from dataclasses import dataclass, field

from .series_key import SeriesKey


@dataclass
class IngestStatus:
    address: str
    clients: int
    rows_per_s: float
    rows_accepted: int
    rows_rejected: int
    buffered_rows: int
    db_state: str
    db_error: str | None
    db_down_since: float | None
    rows_written: int
    rows_quarantined: int = 0  # rows the writer moved to the quarantine (unknown sensor_id)
    lines_refused: int = 0  # request lines answered with ERR
    peers_refused: int = 0
    buffer_error: str | None = None  # the last failed commit of the local disk buffer (its clients got no ACK)
    buffer_error_at: float | None = None  # unix time of that failure
    last_sample: dict[SeriesKey, float] = field(default_factory=dict)  # unix time of each series' newest sample
