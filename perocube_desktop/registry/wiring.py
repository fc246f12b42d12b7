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

from .repository import RegistryRepository, jsonable

FUTURE_SLACK = timedelta(minutes=5)
_LOCK = 0x57495245  # "WIRE"


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
    def pixel_events(self, conn, cell: str, pixel: str) -> list[tuple]:
        return conn.execute(
            "SELECT connection_datetime, event_type, tracking_channel_board, tracking_channel_channel"
            " FROM measurement_connection_event WHERE solar_cell_id = %s AND pixel = %s"
            " ORDER BY connection_datetime, (event_type = 'CONNECTED')", (cell, pixel)).fetchall()

    def occupant(self, conn, board: int, channel: int, at: datetime) -> tuple[str, str] | None:
        """The pixel on board/channel at time ``at`` (its period contains ``at``), if any."""
        row = conn.execute(
            """WITH ev AS (
                   SELECT solar_cell_id, pixel, connection_datetime, event_type, tracking_channel_board AS b,
                          tracking_channel_channel AS c,
                          lead(connection_datetime) OVER (PARTITION BY solar_cell_id, pixel
                              ORDER BY connection_datetime, (event_type = 'CONNECTED')) AS next_t
                   FROM measurement_connection_event)
               SELECT solar_cell_id, pixel FROM ev
               WHERE event_type = 'CONNECTED' AND b = %s AND c = %s AND connection_datetime <= %s
                 AND (next_t IS NULL OR next_t > %s)
               LIMIT 1""", (board, channel, at, at)).fetchone()
        return tuple(row) if row else None

    def wiring_at(self, at: datetime) -> list[tuple]:
        with self.pool.connection() as conn:
            return conn.execute("SELECT board_number, channel_number, solar_cell_name, pixel_identifier, is_active,"
                                " last_event_time, last_event_type FROM get_board_connection_status(%s)"
                                " ORDER BY 1, 2", (at,)).fetchall()

    def timeline(self, cell: str | None = None, pixel: str | None = None, board: int | None = None,
                 channel: int | None = None) -> list[tuple]:
        with self.pool.connection() as conn:
            return conn.execute(
                "SELECT connection_datetime, event_type, solar_cell_id, pixel, tracking_channel_board,"
                " tracking_channel_channel FROM measurement_connection_event"
                " WHERE (%(cell)s::text IS NULL OR solar_cell_id = %(cell)s)"
                " AND (%(pixel)s::text IS NULL OR pixel = %(pixel)s)"
                " AND (%(board)s::int IS NULL OR tracking_channel_board = %(board)s)"
                " AND (%(channel)s::int IS NULL OR tracking_channel_channel = %(channel)s)"
                " ORDER BY connection_datetime, (event_type = 'CONNECTED'), solar_cell_id, pixel",
                {"cell": cell, "pixel": pixel, "board": board, "channel": channel}).fetchall()

    # rules --------------------------------------------------------------------
    def _check_time(self, at: datetime) -> None:
        if at.tzinfo is None:
            raise WiringError("the time needs a time zone")
        if at > datetime.now(timezone.utc) + FUTURE_SLACK:
            raise WiringError(f"{at:%Y-%m-%d %H:%M} is in the future")

    def _neighbours(self, events: list[tuple], at: datetime) -> tuple[tuple | None, tuple | None]:
        before = [e for e in events if e[0] <= at]
        after = [e for e in events if e[0] > at]
        return (before[-1] if before else None), (after[0] if after else None)

    def _check_connect(self, conn, ev: Event) -> None:
        if ev.board is None or ev.channel is None:
            raise WiringError("a CONNECTED event needs a board and a channel")
        events = self.pixel_events(conn, ev.cell, ev.pixel)
        prev, nxt = self._neighbours(events, ev.at)
        if prev and prev[1] == "CONNECTED":
            raise WiringError(f"{ev.cell} / {ev.pixel} is already connected to board {prev[2]} channel {prev[3]} "
                              f"since {prev[0]:%Y-%m-%d %H:%M}; disconnect or move it")
        if nxt and nxt[1] == "CONNECTED":
            raise WiringError(f"{ev.cell} / {ev.pixel} has a later CONNECTED event at {nxt[0]:%Y-%m-%d %H:%M}: "
                              "two connects in a row")
        holder = self.occupant(conn, ev.board, ev.channel, ev.at)
        if holder:
            raise WiringError(f"board {ev.board} channel {ev.channel} holds {holder[0]} / {holder[1]} at that time")
        end = nxt[0] if nxt else None
        later = conn.execute(
            "SELECT solar_cell_id, pixel, connection_datetime FROM measurement_connection_event"
            " WHERE tracking_channel_board = %s AND tracking_channel_channel = %s AND event_type = 'CONNECTED'"
            " AND connection_datetime > %s AND (%s::timestamptz IS NULL OR connection_datetime < %s)"
            " ORDER BY connection_datetime LIMIT 1", (ev.board, ev.channel, ev.at, end, end)).fetchone()
        if later:
            raise WiringError(f"board {ev.board} channel {ev.channel} gets {later[0]} / {later[1]} at "
                              f"{later[2]:%Y-%m-%d %H:%M}, while this pixel would still be on it")

    def _insert(self, conn, ev: Event) -> None:
        conn.execute(
            "INSERT INTO measurement_connection_event (solar_cell_id, pixel, tracking_channel_board,"
            " tracking_channel_channel, temperature_sensor_id, irradiance_sensor_id, mppt_mode, mppt_polarity,"
            " connection_datetime, event_type) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
            (ev.cell, ev.pixel, ev.board, ev.channel, ev.temperature_sensor_id, ev.irradiance_sensor_id,
             ev.mppt_mode, ev.mppt_polarity, ev.at, ev.kind))
        conn.execute("INSERT INTO audit_log (os_user, host, table_name, action, row_key, new_values)"
                     " VALUES (%s, %s, 'measurement_connection_event', 'insert', %s::jsonb, %s::jsonb)",
                     (self.repo.user, self.repo.host, jsonable({"cell": ev.cell, "pixel": ev.pixel, "at": ev.at,
                                                                 "kind": ev.kind}), jsonable(ev.__dict__)))

    # actions ----------------------------------------------------------------------
    def connect(self, ev: Event) -> None:
        ev.kind = "CONNECTED"
        self._check_time(ev.at)
        with self.pool.connection() as conn, conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (_LOCK,))
            conn.execute("INSERT INTO mpp_tracking_channel (board, channel) VALUES (%s, %s) ON CONFLICT DO NOTHING",
                         (ev.board, ev.channel))
            self._check_connect(conn, ev)
            self._insert(conn, ev)

    def _disconnect(self, conn, cell: str, pixel: str, at: datetime) -> tuple:
        events = self.pixel_events(conn, cell, pixel)
        prev, nxt = self._neighbours(events, at)
        if not prev or prev[1] != "CONNECTED":
            raise WiringError(f"{cell} / {pixel} is not connected at {at:%Y-%m-%d %H:%M}: nothing to disconnect")
        if nxt and nxt[1] == "DISCONNECTED":
            raise WiringError(f"{cell} / {pixel} already has a DISCONNECTED event at {nxt[0]:%Y-%m-%d %H:%M}")
        self._insert(conn, Event(cell, pixel, prev[2], prev[3], at, "DISCONNECTED"))
        return prev

    def disconnect(self, cell: str, pixel: str, at: datetime) -> None:
        self._check_time(at)
        with self.pool.connection() as conn, conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (_LOCK,))
            self._disconnect(conn, cell, pixel, at)

    def move(self, ev: Event) -> None:
        """Disconnect from the current channel and connect to ev.board/ev.channel at ev.at, in one step."""
        self._check_time(ev.at)
        ev.kind = "CONNECTED"
        with self.pool.connection() as conn, conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (_LOCK,))
            conn.execute("INSERT INTO mpp_tracking_channel (board, channel) VALUES (%s, %s) ON CONFLICT DO NOTHING",
                         (ev.board, ev.channel))
            self._disconnect(conn, ev.cell, ev.pixel, ev.at)
            self._check_connect(conn, ev)
            self._insert(conn, ev)

    def impact(self, cell: str, pixel: str, at: datetime, kind: str, new_at: datetime | None) -> str:
        """What changes owner if the event is moved to ``new_at`` (None: deleted)."""
        with self.pool.connection() as conn:
            row = conn.execute("SELECT tracking_channel_board, tracking_channel_channel FROM measurement_connection_event"
                               " WHERE solar_cell_id = %s AND pixel = %s AND connection_datetime = %s AND event_type = %s",
                               (cell, pixel, at, kind)).fetchone()
            if row is None:
                raise WiringError("no such event")
            events = self.pixel_events(conn, cell, pixel)
            idx = next(i for i, e in enumerate(events) if e[0] == at and e[1] == kind)
            if new_at is None:
                lo, hi = at, (events[idx + 1][0] if idx + 1 < len(events) else datetime.now(timezone.utc))
            else:
                lo, hi = min(at, new_at), max(at, new_at)
            n = conn.execute("SELECT count(*) FROM mpp_measurement WHERE tracking_channel_board = %s AND"
                             " tracking_channel_channel = %s AND \"timestamp\" >= %s AND \"timestamp\" < %s",
                             (row[0], row[1], lo, hi)).fetchone()[0]
        return (f"{n:,} measurements of board {row[0]} channel {row[1]} between {lo:%Y-%m-%d %H:%M} and "
                f"{hi:%Y-%m-%d %H:%M} change owner ({'no longer' if kind == 'CONNECTED' and (new_at is None or new_at > at) else 'now'} "
                f"attributed to {cell} / {pixel})")

    def delete_event(self, cell: str, pixel: str, at: datetime, kind: str) -> None:
        with self.pool.connection() as conn, conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (_LOCK,))
            cur = conn.execute("DELETE FROM measurement_connection_event WHERE solar_cell_id = %s AND pixel = %s"
                               " AND connection_datetime = %s AND event_type = %s", (cell, pixel, at, kind))
            if cur.rowcount != 1:
                raise WiringError("the event no longer exists (someone else changed it)")
            events = self.pixel_events(conn, cell, pixel)
            kinds = [e[1] for e in events]
            if any(a == b for a, b in zip(kinds, kinds[1:])) or (kinds and kinds[0] == "DISCONNECTED"):
                raise WiringError("deleting it would leave two events of the same kind in a row; "
                                  "delete or move the neighbouring event instead")
            conn.execute("INSERT INTO audit_log (os_user, host, table_name, action, row_key)"
                         " VALUES (%s, %s, 'measurement_connection_event', 'delete', %s::jsonb)",
                         (self.repo.user, self.repo.host, jsonable({"cell": cell, "pixel": pixel, "at": at, "kind": kind})))

    def move_event(self, cell: str, pixel: str, at: datetime, kind: str, new_at: datetime) -> None:
        self._check_time(new_at)
        with self.pool.connection() as conn, conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (_LOCK,))
            events = self.pixel_events(conn, cell, pixel)
            idx = next((i for i, e in enumerate(events) if e[0] == at and e[1] == kind), None)
            if idx is None:
                raise WiringError("the event no longer exists (someone else changed it)")
            lo = events[idx - 1][0] if idx > 0 else None
            hi = events[idx + 1][0] if idx + 1 < len(events) else None
            if (lo and new_at <= lo) or (hi and new_at >= hi):
                raise WiringError("the new time must stay between the neighbouring events of this pixel")
            try:
                conn.execute("UPDATE measurement_connection_event SET connection_datetime = %s WHERE solar_cell_id = %s"
                             " AND pixel = %s AND connection_datetime = %s AND event_type = %s",
                             (new_at, cell, pixel, at, kind))
            except psycopg.errors.UniqueViolation:
                raise WiringError("an identical event exists at that time") from None
            if kind == "CONNECTED":
                b, c = events[idx][2], events[idx][3]
                holder = self.occupant(conn, b, c, new_at)
                if holder and holder != (cell, pixel):
                    raise WiringError(f"board {b} channel {c} holds {holder[0]} / {holder[1]} at that time")
            conn.execute("INSERT INTO audit_log (os_user, host, table_name, action, row_key, old_values, new_values)"
                         " VALUES (%s, %s, 'measurement_connection_event', 'update', %s::jsonb, %s::jsonb, %s::jsonb)",
                         (self.repo.user, self.repo.host, jsonable({"cell": cell, "pixel": pixel, "kind": kind}),
                          jsonable({"at": at}), jsonable({"at": new_at})))
