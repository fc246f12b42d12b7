"""Values as the lab writes them: timestamps (ISO 8601 text in a source zone, or epoch seconds),
numbers with LabVIEW's NaN/Infinity for "no value", integers of the database's range, and their
COPY text. Shared by the wire protocol and the importer's checks. No project imports.
"""

from __future__ import annotations

import math
import re
from datetime import datetime, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo


class RowError(ValueError):
    pass


def number(value: Any, name: str) -> float | None:
    """A float, or None for NaN/Infinity/null (LabVIEW's 'no value')."""
    if value is None:
        return None
    if isinstance(value, bool):
        raise RowError(f"{name} is a boolean")
    if isinstance(value, (int, float)):
        v = float(value)
    elif isinstance(value, str):
        try:
            v = float(value)
        except ValueError:
            raise RowError(f"{name} is not a number: {value!r}") from None
    else:
        raise RowError(f"{name} is not a number: {value!r}")
    return v if math.isfinite(v) else None


INT_MIN, INT_MAX = -(1 << 31), (1 << 31) - 1  # the database's integer columns


def integer(value: Any, name: str) -> int:
    if isinstance(value, bool) or value is None:
        raise RowError(f"missing or invalid {name}")
    if isinstance(value, int):
        out = value
    elif isinstance(value, float) and value.is_integer():
        out = int(value)
    elif isinstance(value, str) and value.strip().lstrip("-").isdigit():
        out = int(value)
    else:
        raise RowError(f"{name} is not an integer: {value!r}")
    if not INT_MIN <= out <= INT_MAX:
        raise RowError(f"{name} out of range: {value!r}")
    return out


EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_US = timedelta(microseconds=1)
MIN_TS_S, MAX_TS_S = -62_135_596_800 + 86_400, 253_402_300_799 - 86_400  # years 1..9999 (datetime's range)


def ts_datetime(us: int) -> datetime:
    """Microseconds since the epoch (``Sample.ts_us``) -> aware UTC datetime."""
    return EPOCH + timedelta(microseconds=us)


def localize(naive: datetime, zone: ZoneInfo | timezone) -> datetime:
    """A naive local time in ``zone``, resolved as PostgreSQL does (which converts the imported
    files): in a repeated hour the later (standard-time) offset, in a skipped hour the offset from
    before the change; both are the smaller of the two candidate offsets. So a sample gets the same
    instant whether it arrives live or from a file."""
    if isinstance(zone, timezone):
        return naive.replace(tzinfo=zone)
    first, second = naive.replace(tzinfo=zone, fold=0), naive.replace(tzinfo=zone, fold=1)
    return first if first.utcoffset() <= second.utcoffset() else second  # type: ignore[operator]


def parse_timestamp(value: Any, source_tz: ZoneInfo | timezone) -> int:
    """ISO 8601 text (naive = source zone) or epoch seconds -> microseconds since epoch."""
    if isinstance(value, bool) or value is None:
        raise RowError("missing timestamp")
    if isinstance(value, (int, float)):
        if not math.isfinite(value) or not MIN_TS_S <= value <= MAX_TS_S:
            raise RowError(f"timestamp out of range: {value!r}")
        return int(round(value * 1_000_000))
    if not isinstance(value, str):
        raise RowError(f"timestamp is not text or a number: {value!r}")
    text = value.strip()
    try:
        dt = datetime.fromisoformat(text)
    except ValueError:
        raise RowError(f"unreadable timestamp {value!r}") from None
    if dt.tzinfo is None:
        dt = localize(dt, source_tz)
    try:
        us = (dt - EPOCH) // _US
    except OverflowError:
        raise RowError(f"timestamp out of range: {value!r}") from None
    if not MIN_TS_S * 1_000_000 <= us <= MAX_TS_S * 1_000_000:
        raise RowError(f"timestamp out of range: {value!r}")
    return us


def copy_number(v: float | int | None) -> str:
    return "\\N" if v is None else repr(v)


_SECONDS: dict[int, str] = {}  # whole second -> its ISO text without offset; live data repeats seconds


def copy_timestamp(us: int) -> str:
    """Microseconds since the epoch as a timestamptz literal PostgreSQL reads (UTC offset); the same
    text as ``ts_datetime(us).isoformat()``, with the date and time of day of recent seconds cached."""
    sec, frac = divmod(us, 1_000_000)
    text = _SECONDS.get(sec)
    if text is None:
        if len(_SECONDS) >= 4096:
            _SECONDS.clear()
        text = _SECONDS[sec] = (EPOCH + timedelta(seconds=sec)).isoformat()[:-6]
    return f"{text}.{frac:06d}+00:00" if frac else f"{text}+00:00"


# --- nesting depth -------------------------------------------------------------------------------

MAX_DEPTH = 512  # JSON nesting refused beyond this, before any parser sees the value (a C parser may overflow its stack)
_STRUCTURE = bytes(range(256)).translate(None, b'[]{}"\\')  # every byte but brackets, quotes and backslashes
_SIGNS = bytes.maketrans(b"[{]}", b"\x01\x01\xff\xff")
_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)


def too_deep(data: bytes | bytearray, limit: int = MAX_DEPTH) -> bool:
    """True when the JSON text nests arrays/objects deeper than ``limit`` (brackets inside strings
    do not count). Free for a single sample (too short to nest deeper); a large batch costs about
    0.1 us per row, a fraction of its parse."""
    if len(data) <= limit:
        return False
    marks = bytes(data).translate(None, _STRUCTURE)
    if marks.count(b"[") + marks.count(b"{") <= limit:
        return False
    if b"\\" in marks:  # escapes inside strings: take the strings out first
        marks = _STRING.sub(b"", bytes(data)).translate(None, _STRUCTURE)
    else:  # no escapes: a string ends at the next quote. Dropping two adjacent quotes keeps every
        marks = marks.replace(b'""', b"")  # bracket's side (in or out of a string); then cut out the rest
        if b'"' in marks:
            marks = b"".join(marks.split(b'"')[::2])
    flat = marks.translate(None, b'"\\')
    for _ in range(4):  # a batch of rows: two passes take out every pair (each pass at least a level)
        flat = flat.replace(b"{}", b"").replace(b"[]", b"")
    if not flat:
        return False
    depth = top = 0
    for step in memoryview(marks.translate(_SIGNS, b'"\\')).cast("b"):
        depth += step
        if depth > top:
            top = depth
            if top > limit:
                return True
    return False
