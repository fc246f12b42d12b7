"""The lab's Excel logbook (sheet 'Perocube history') -> registry rows and connection events.

Dates that carry no time of day (``dd.mm.yyyy`` text, or an Excel date at midnight) are
taken as 00:00 in the source time zone. A row is an installation period: CONNECTED at
'Date installed', DISCONNECTED at 'Date removed' when there is one. Rows without a cell
name or with an unreadable date are reported and left out. Importing again changes nothing.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import psycopg

from ..db import queries
from ..db.queries import scalar
from ..protocol import SENSOR_NAMESPACE, temperature_sensor_uuid

log = logging.getLogger(__name__)

SHEET = "Perocube history"
REQUIRED = ("Cell name", "Pixel", "Date installed", "Board", "Channel")
# a row with a removal date but no installation date: the lab's tools take this date (before any
# run of the set-up) as its installation date; the row is kept and reported
DEFAULT_INSTALLED = date(2020, 1, 1)


@dataclass
class LogbookResult:
    devices: int = 0
    pixels: int = 0
    events: int = 0
    rows_skipped: int = 0
    problems: list[tuple[int | None, str]] = field(default_factory=list)  # (excel row or None: whole file, reason)
    notes: list[tuple[int, str]] = field(default_factory=list)  # rows kept with an assumption


class LogbookError(ValueError):
    pass


@dataclass
class Installation:
    row: int
    cell: str
    pixel: str
    board: int
    channel: int
    installed: datetime
    removed: datetime | None
    area: float | None
    init_pce: float | None
    technology: str | None
    encapsulation: str | None
    structure: str | None
    owner: str | None
    producer: str | None
    project: str | None
    temp_sensor: str | None
    comment: str | None


def _text(v) -> str | None:
    if v is None:
        return None
    if isinstance(v, float) and v.is_integer():
        v = int(v)
    s = str(v).strip()
    return s or None


def _date(v, tz: ZoneInfo) -> datetime | None:
    """None for empty; raises ValueError for unreadable."""
    if v is None or (isinstance(v, str) and not v.strip()):
        return None
    if isinstance(v, datetime):
        return v.replace(tzinfo=tz) if v.tzinfo is None else v
    if isinstance(v, date):
        return datetime(v.year, v.month, v.day, tzinfo=tz)
    s = str(v).strip()
    for fmt in ("%d.%m.%Y", "%d.%m.%Y %H:%M", "%Y-%m-%d", "%Y-%m-%d %H:%M:%S", "%d.%m.%y"):
        try:
            return datetime.strptime(s, fmt).replace(tzinfo=tz)
        except ValueError:
            continue
    raise ValueError(f"unreadable date {s!r}")


def _sheet(path: Path) -> tuple[list[tuple], dict[str, int]]:
    """The logbook sheet's rows and its header (column name -> index), or a LogbookError."""
    import openpyxl

    try:
        wb = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises many kinds for broken files
        raise LogbookError(f"{path.name}: cannot open workbook: {exc}") from None
    try:
        if SHEET not in wb.sheetnames:
            raise LogbookError(f"{path.name}: no sheet {SHEET!r} (sheets: {', '.join(wb.sheetnames)})")
        rows = list(wb[SHEET].iter_rows(values_only=True))
    finally:
        wb.close()
    if len(rows) < 2:
        raise LogbookError(f"{path.name}: sheet {SHEET!r} has no header row")
    header = {(_text(h) or ""): i for i, h in enumerate(rows[1])}
    missing = [h for h in REQUIRED if h not in header]
    if missing:
        raise LogbookError(f"{path.name}: header row 2 lacks {', '.join(missing)}")
    return rows, header


def read(path: Path, timezone: str = "UTC", notes: list[tuple[int, str]] | None = None,
         ) -> tuple[list[Installation], list[tuple[int, str]]]:
    """Installations and the rows left out (row, reason); rows kept with an assumption go to ``notes``."""
    tz = ZoneInfo(timezone)
    rows, header = _sheet(path)

    def col(row, name):
        i = header.get(name)
        return row[i] if i is not None and i < len(row) else None

    out, problems = [], []
    for n, row in enumerate(rows[2:], start=3):
        if all(v is None for v in row):
            continue
        cell = _text(col(row, "Cell name"))
        if not cell:
            problems.append((n, "no cell name: row left out"))
            continue
        try:
            installed = _date(col(row, "Date installed"), tz)
            removed = _date(col(row, "Date removed"), tz)
            assumed = installed is None and removed is not None
            if assumed:
                installed = datetime(DEFAULT_INSTALLED.year, DEFAULT_INSTALLED.month, DEFAULT_INSTALLED.day, tzinfo=tz)
            if installed is None:
                raise ValueError("no 'Date installed'")
            board, channel = int(col(row, "Board")), int(col(row, "Channel"))
        except (ValueError, TypeError) as exc:
            problems.append((n, f"{cell}: {exc}: row left out"))
            continue
        if removed is not None and removed < installed:
            problems.append((n, f"{cell}: removed before installed: row left out"))
            continue
        if assumed and notes is not None:
            notes.append((n, f"{cell}: no 'Date installed' but a 'Date removed': installation date taken "
                             f"as {DEFAULT_INSTALLED:%d.%m.%Y}, as the lab's tools do"))
        if removed == installed and notes is not None:
            notes.append((n, f"{cell}: installed and removed at the same instant ({installed:%d.%m.%Y %H:%M}): by the "
                             "same-instant rule (DISCONNECTED first, then CONNECTED) the pixel counts as connected "
                             "from then on until its next event; check the dates"))
        area, pce = col(row, "Area"), col(row, "Init.PCE")
        comment = "; ".join(c for c in (_text(col(row, "Comment 1")), _text(col(row, "Comment 2"))) if c) or None
        hex_id = _text(col(row, "Temp sensor"))
        out.append(Installation(
            n, cell, _text(col(row, "Pixel")) or "No pixel", board, channel, installed, removed,
            float(area) if isinstance(area, (int, float)) else None,
            float(pce) if isinstance(pce, (int, float)) else None,
            _text(col(row, "Cell type")), _text(col(row, "Encap.")), _text(col(row, "Structure")),
            _text(col(row, "Owner")), _text(col(row, "Producer")), _text(col(row, "Project")),
            f"m7004_ID_{hex_id.upper()}" if hex_id else None, comment,
        ))
    return out, problems


def _name_uuid(kind: str, name: str) -> str:
    return str(uuid.uuid5(SENSOR_NAMESPACE, f"{kind}:{name}"))


def import_logbook(conn: psycopg.Connection, path: Path, timezone: str = "UTC", dry_run: bool = False) -> LogbookResult:
    result = LogbookResult()
    try:
        installations, problems = read(path, timezone, result.notes)
    except LogbookError as exc:
        result.problems.append((None, str(exc)))
        return result
    result.problems.extend(problems)
    result.rows_skipped = len(problems)
    result.problems.extend(result.notes)  # reported too (the row itself is imported)
    q = queries.named("logbook")
    with conn.transaction(force_rollback=dry_run):
        people: dict[str, str] = {}

        def person(name: str | None) -> str | None:
            if not name:
                return None
            if name not in people:
                people[name] = scalar(conn, q["scientist"], {"id": _name_uuid("scientist", name), "name": name})
            return people[name]

        for ins in installations:
            owner, producer = person(ins.owner), person(ins.producer)
            created = scalar(conn, q["device"], {
                "name": ins.cell, "technology": ins.technology, "encapsulation": ins.encapsulation,
                "structure": ins.structure, "owner": owner, "producer": producer, "pce": ins.init_pce,
            })
            result.devices += bool(created)
            if ins.project:
                pid = scalar(conn, q["project"], {"id": _name_uuid("project", ins.project), "name": ins.project})
                for sid in {owner, producer} - {None}:
                    conn.execute(q["member"], (sid, pid))
                eid = scalar(conn, q["project_experiment"], {"id": _name_uuid("experiment", ins.project),
                                                             "name": ins.project})
                conn.execute(q["experiment_project"], (eid, pid))
                conn.execute(q["device_experiment"], (eid, ins.cell))
            if conn.execute(q["pixel"], (ins.cell, ins.pixel, ins.area, ins.init_pce)).fetchone():
                result.pixels += 1
            conn.execute(q["channel"], (ins.board, ins.channel))
            sensor = None
            if ins.temp_sensor:
                sensor = scalar(conn, q["temperature_sensor"], {
                    "id": str(temperature_sensor_uuid(ins.temp_sensor)), "ident": ins.temp_sensor})
            for when, kind in ((ins.installed, "CONNECTED"), (ins.removed, "DISCONNECTED")):
                if when is None:
                    continue
                row = conn.execute(q["event"], (ins.cell, ins.pixel, ins.board, ins.channel, sensor, when, kind,
                                                ins.comment)).fetchone()
                result.events += bool(row)
    log.info("logbook %s: %d devices, %d pixels, %d events new; %d rows left out", path.name, result.devices,
             result.pixels, result.events, result.rows_skipped)
    return result
