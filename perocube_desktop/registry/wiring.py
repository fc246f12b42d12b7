"""The wiring history: which pixel sits on which channel when (measurement_connection_event).

Rules (checked in one transaction under an advisory lock, so two operators cannot race):
a channel holds at most one pixel at a time; a pixel sits on at most one channel at a
time; no disconnect without a connect; no two events of the same kind in a row for a
pixel; no event more than ``FUTURE_SLACK`` in the future.

Events at the same instant (a same-day move from the logbook puts both at 00:00) are ordered
DISCONNECTED first, then CONNECTED, as in the lab's functions: ``(event_type = 'CONNECTED')``
ascending (docs/lab-compat.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

import psycopg

from ..db import queries
from .repository import RegistryRepository, jsonable

FUTURE_SLACK = timedelta(minutes=5)
_LOCK = 0x57495245  # "WIRE"
_EVENT_TABLE = "measurement_connection_event"


def _q(name: str) -> str:
    return queries.get("wiring", name)


class WiringError(ValueError):
    pass


@dataclass
class Event:
    cell: str
    pixel: str
    board: int | None
    channel: int | None
    at: datetime
    kind: str
    temperature_sensor_id: str | None = None
    irradiance_sensor_id: str | None = None
    mppt_mode: str | None = None
    mppt_polarity: str | None = None


class WiringService:
    def __init__(self, repo: RegistryRepository) -> None:
        self.repo = repo
        self.pool = repo.pool

    # queries ----------------------------------------------------------------
    def pixel_events(self, conn, cell: str, pixel: str) -> list:
        """The pixel's events in time order, named rows (connection_datetime, event_type,
        tracking_channel_board, tracking_channel_channel)."""
        return queries.named_rows(conn, _q("pixel_events"), (cell, pixel))

    def occupant(self, conn, board: int, channel: int, at: datetime) -> tuple[str, str] | None:
        """The pixel on board/channel at time ``at`` (its period contains ``at``), if any."""
        row = conn.execute(_q("occupant"), {"board": board, "channel": channel, "at": at}).fetchone()
        return tuple(row) if row else None

    def wiring_at(self, at: datetime) -> list:
        """Every channel at ``at``, named rows (board_number, channel_number, solar_cell_name,
        pixel_identifier, is_active, last_event_time, last_event_type)."""
        with self.pool.connection() as conn:
            return queries.named_rows(conn, _q("wiring_at"), (at,))

    def timeline(self, cell: str | None = None, pixel: str | None = None, board: int | None = None,
                 channel: int | None = None) -> list:
        """Events in time order, named rows (connection_datetime, event_type, solar_cell_id, pixel,
        tracking_channel_board, tracking_channel_channel)."""
        with self.pool.connection() as conn:
            return queries.named_rows(conn, _q("timeline"),
                                      {"cell": cell, "pixel": pixel, "board": board, "channel": channel})

    # rules --------------------------------------------------------------------
    def _check_time(self, at: datetime) -> None:
        if at.tzinfo is None:
            raise WiringError("the time needs a time zone")
        if at > datetime.now(timezone.utc) + FUTURE_SLACK:
            raise WiringError(f"{at:%Y-%m-%d %H:%M} is in the future")

    def _neighbours(self, events: list, at: datetime) -> tuple:
        """The pixel's last event at or before ``at`` and its first after it (None where there is none)."""
        before = [e for e in events if e.connection_datetime <= at]
        after = [e for e in events if e.connection_datetime > at]
        return (before[-1] if before else None), (after[0] if after else None)

    def _check_connect(self, conn, ev: Event) -> None:
        if ev.board is None or ev.channel is None:
            raise WiringError("a CONNECTED event needs a board and a channel")
        events = self.pixel_events(conn, ev.cell, ev.pixel)
        prev, nxt = self._neighbours(events, ev.at)
        if prev and prev.event_type == "CONNECTED":
            raise WiringError(f"{ev.cell} / {ev.pixel} is already connected to board {prev.tracking_channel_board} "
                              f"channel {prev.tracking_channel_channel} since {prev.connection_datetime:%Y-%m-%d %H:%M}; "
                              "disconnect or move it")
        if nxt and nxt.event_type == "CONNECTED":
            raise WiringError(f"{ev.cell} / {ev.pixel} has a later CONNECTED event at "
                              f"{nxt.connection_datetime:%Y-%m-%d %H:%M}: two connects in a row")
        holder = self.occupant(conn, ev.board, ev.channel, ev.at)
        if holder:
            raise WiringError(f"board {ev.board} channel {ev.channel} holds {holder[0]} / {holder[1]} at that time")
        end = nxt.connection_datetime if nxt else None
        later = queries.named_row(conn, _q("next_connect_on_channel"),
                                  {"board": ev.board, "channel": ev.channel, "at": ev.at, "end": end})
        if later:
            raise WiringError(f"board {ev.board} channel {ev.channel} gets {later.solar_cell_id} / {later.pixel} at "
                              f"{later.connection_datetime:%Y-%m-%d %H:%M}, while this pixel would still be on it")

    def _insert(self, conn, ev: Event) -> None:
        conn.execute(
            _q("insert_event"),
            (ev.cell, ev.pixel, ev.board, ev.channel, ev.temperature_sensor_id, ev.irradiance_sensor_id,
             ev.mppt_mode, ev.mppt_polarity, ev.at, ev.kind))
        self._audit(conn, "insert", {"cell": ev.cell, "pixel": ev.pixel, "at": ev.at, "kind": ev.kind},
                    None, ev.__dict__)

    def _audit(self, conn, action: str, key: dict, old: dict | None, new: dict | None) -> None:
        conn.execute(queries.get("registry", "audit_insert"),
                     (self.repo.user, self.repo.host, _EVENT_TABLE, action, jsonable(key),
                      jsonable(old) if old else None, jsonable(new) if new else None))

    # actions ----------------------------------------------------------------------
    def connect(self, ev: Event) -> None:
        ev.kind = "CONNECTED"
        self._check_time(ev.at)
        with self.pool.connection() as conn, conn.transaction():
            conn.execute(_q("lock"), (_LOCK,))
            conn.execute(_q("ensure_channel"), (ev.board, ev.channel))
            self._check_connect(conn, ev)
            self._insert(conn, ev)

    def _disconnect(self, conn, cell: str, pixel: str, at: datetime) -> tuple:
        events = self.pixel_events(conn, cell, pixel)
        prev, nxt = self._neighbours(events, at)
        if not prev or prev.event_type != "CONNECTED":
            raise WiringError(f"{cell} / {pixel} is not connected at {at:%Y-%m-%d %H:%M}: nothing to disconnect")
        if nxt and nxt.event_type == "DISCONNECTED":
            raise WiringError(f"{cell} / {pixel} already has a DISCONNECTED event at "
                              f"{nxt.connection_datetime:%Y-%m-%d %H:%M}")
        self._insert(conn, Event(cell, pixel, prev.tracking_channel_board, prev.tracking_channel_channel, at,
                                 "DISCONNECTED"))
        return prev

    def disconnect(self, cell: str, pixel: str, at: datetime) -> None:
        self._check_time(at)
        with self.pool.connection() as conn, conn.transaction():
            conn.execute(_q("lock"), (_LOCK,))
            self._disconnect(conn, cell, pixel, at)

    def move(self, ev: Event) -> None:
        """Disconnect from the current channel and connect to ev.board/ev.channel at ev.at, in one step."""
        self._check_time(ev.at)
        ev.kind = "CONNECTED"
        with self.pool.connection() as conn, conn.transaction():
            conn.execute(_q("lock"), (_LOCK,))
            conn.execute(_q("ensure_channel"), (ev.board, ev.channel))
            self._disconnect(conn, ev.cell, ev.pixel, ev.at)
            self._check_connect(conn, ev)
            self._insert(conn, ev)

    def impact(self, cell: str, pixel: str, at: datetime, kind: str, new_at: datetime | None) -> str:
        """What changes owner if the event is moved to ``new_at`` (None: deleted)."""
        with self.pool.connection() as conn:
            channel = queries.named_row(conn, _q("event_channel"), (cell, pixel, at, kind))
            if channel is None:
                raise WiringError("no such event")
            board, number = channel.tracking_channel_board, channel.tracking_channel_channel
            events = self.pixel_events(conn, cell, pixel)
            idx = next(i for i, e in enumerate(events) if e.connection_datetime == at and e.event_type == kind)
            if new_at is None:
                lo, hi = at, (events[idx + 1].connection_datetime if idx + 1 < len(events)
                              else datetime.now(timezone.utc))
            else:
                lo, hi = min(at, new_at), max(at, new_at)
            n = queries.scalar(conn, _q("channel_rows_between"), (board, number, lo, hi))
        return (f"{n:,} measurements of board {board} channel {number} between {lo:%Y-%m-%d %H:%M} and "
                f"{hi:%Y-%m-%d %H:%M} change owner ({'no longer' if kind == 'CONNECTED' and (new_at is None or new_at > at) else 'now'} "
                f"attributed to {cell} / {pixel})")

    def delete_event(self, cell: str, pixel: str, at: datetime, kind: str) -> None:
        with self.pool.connection() as conn, conn.transaction():
            conn.execute(_q("lock"), (_LOCK,))
            cur = conn.execute(_q("delete_event"), (cell, pixel, at, kind))
            if cur.rowcount != 1:
                raise WiringError("the event no longer exists (someone else changed it)")
            events = self.pixel_events(conn, cell, pixel)
            kinds = [e.event_type for e in events]
            if any(a == b for a, b in zip(kinds, kinds[1:])) or (kinds and kinds[0] == "DISCONNECTED"):
                raise WiringError("deleting it would leave two events of the same kind in a row; "
                                  "delete or move the neighbouring event instead")
            self._audit(conn, "delete", {"cell": cell, "pixel": pixel, "at": at, "kind": kind}, None, None)

    def move_event(self, cell: str, pixel: str, at: datetime, kind: str, new_at: datetime) -> None:
        self._check_time(new_at)
        with self.pool.connection() as conn, conn.transaction():
            conn.execute(_q("lock"), (_LOCK,))
            events = self.pixel_events(conn, cell, pixel)
            idx = next((i for i, e in enumerate(events) if e.connection_datetime == at and e.event_type == kind), None)
            if idx is None:
                raise WiringError("the event no longer exists (someone else changed it)")
            lo = events[idx - 1].connection_datetime if idx > 0 else None
            hi = events[idx + 1].connection_datetime if idx + 1 < len(events) else None
            if (lo and new_at <= lo) or (hi and new_at >= hi):
                raise WiringError("the new time must stay between the neighbouring events of this pixel")
            try:
                conn.execute(_q("move_event"), (new_at, cell, pixel, at, kind))
            except psycopg.errors.UniqueViolation:
                raise WiringError("an identical event exists at that time") from None
            if kind == "CONNECTED":
                b, c = events[idx].tracking_channel_board, events[idx].tracking_channel_channel
                holder = self.occupant(conn, b, c, new_at)
                if holder and holder != (cell, pixel):
                    raise WiringError(f"board {b} channel {c} holds {holder[0]} / {holder[1]} at that time")
            self._audit(conn, "update", {"cell": cell, "pixel": pixel, "kind": kind}, {"at": at}, {"at": new_at})
