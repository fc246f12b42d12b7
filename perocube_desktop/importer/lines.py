"""Turning raw lab-file bytes into clean COPY input, fast, with every rejected line accounted for.

The work is done by a few regular expressions over the whole chunk (in C), not by a
Python loop per line: good lines pass through untouched, bad ones are cut out and
reported with their line number and reason. The server parses the clean text
(COPY, CSV mode, tab delimiter, empty field = NULL).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime

_TS = rb"\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d(?:[.,]\d{1,9})?(?:Z|[+-]\d\d(?::?\d\d)?)?"
_NAN = rb"(?:NaN|nan|NAN|[-+]?[Ii]nf(?:inity)?|[-+]?INF)"
_NUM = rb"(?:[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d{1,3})?|" + _NAN + rb"|)"
_INT = rb"(?:[-+]?\d{1,10}|" + _NAN + rb"|)"
_EMPTY = rb"(?:" + _NAN + rb"|)"

# columns after the timestamp, per kind
LAYOUTS = {
    "mpp": (_NUM, _NUM, _NUM),  # power, current, voltage
    "temperature": (_NUM,),  # temperature
    "irradiance": (_INT, _NUM),  # raw_reading, irradiance
}
COLUMNS = {
    "mpp": ("timestamp", "power", "current", "voltage"),
    "temperature": ("timestamp", "temperature"),
    "irradiance": ("timestamp", "raw_reading", "irradiance"),
}


def _good(kind: str) -> bytes:
    return _TS + b"".join(b"\t" + col for col in LAYOUTS[kind])


_BAD_LINE = {k: re.compile(rb"^(?!" + _good(k) + rb"$)[^\n]*$", re.MULTILINE) for k in LAYOUTS}
_NO_VALUES = {k: re.compile(rb"^" + _TS + b"".join(b"\t" + _EMPTY for _ in v) + rb"$", re.MULTILINE)
              for k, v in LAYOUTS.items()}
_NAN_FIELD = re.compile(rb"(?<=\t)" + _NAN + rb"(?=[\t\n])")
# irradiance raw_reading written as a float with nothing after the point (`40200.0`): the same count
_RAW_FLOAT = re.compile(rb"^([^\t\n]*\t[-+]?\d+)\.0*(?=\t)", re.MULTILINE)
_RAW_NOT_INT = re.compile(rb"^[^\t\n]*\t[^\t\n]*[.eE]", re.MULTILINE)
_DECIMAL_COMMA_TS = re.compile(rb"(?<=:\d\d),(?=\d)")


@dataclass
class BadLine:
    line: int  # 1-based line number in the file
    reason: str
    raw: str


@dataclass
class CleanChunk:
    data: bytes  # clean text, one good row per line, each ending in "\n"
    lines: int  # complete lines in the chunk (blank ones included)
    good: int
    blank: int
    bad: list[BadLine] = field(default_factory=list)  # the first ``keep_bad`` of them
    bad_count: int = 0


def reason_for(kind: str, line: bytes) -> str:
    """Why a line is unusable (only called for lines the fast pattern refused)."""
    if b"\x00" in line or not _printable(line):
        return "garbage bytes (not text)"
    fields = line.split(b"\t")
    want = len(LAYOUTS[kind]) + 1
    if len(fields) != want:
        return f"expected {want} tab-separated fields, found {len(fields)}"
    if not re.fullmatch(_TS, fields[0]):
        return f"unreadable timestamp {fields[0][:40].decode('utf-8', 'replace')!r}"
    for name, value, pattern in zip(COLUMNS[kind][1:], fields[1:], LAYOUTS[kind]):
        if not re.fullmatch(pattern, value):
            what = "an integer count" if name == "raw_reading" and re.fullmatch(_NUM, value) else "a number"
            return f"{name} is not {what}: {value[:40].decode('utf-8', 'replace')!r}"
    return "unreadable line"


def printable(raw: bytes, limit: int = 2000) -> str:
    """Raw line as storable text: invalid UTF-8 and NUL bytes escaped."""
    return raw[:limit].decode("utf-8", "backslashreplace").replace("\x00", "\\x00")


def _printable(line: bytes) -> bool:
    try:
        text = line.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return all(ch.isprintable() or ch == "\t" for ch in text)


_ALLOWED = b"0123456789-+.:TZ\teE\n"
BLOCK = 1 << 20


def _fast_ok(kind: str, block: bytes) -> bool:
    """Cheap whole-block test (C speed): only clean characters, the right number of fields,
    no blank lines and no empty fields. A block that passes needs no per-line work."""
    return (
        not block.translate(None, _ALLOWED)
        and (kind != "irradiance" or not _RAW_NOT_INT.search(block))
        and block.count(b"\t") == len(LAYOUTS[kind]) * block.count(b"\n")
        and b"\n\n" not in block
        and not block.startswith(b"\n")
        and b"\t\t" not in block
        and b"\t\n" not in block
    )


def clean(kind: str, chunk: bytes, first_line: int = 1, keep_bad: int = 1000) -> CleanChunk:
    """Clean a chunk that ends at a line end. ``first_line``: file line number of its first line.

    Works block by block: clean blocks pass through as they are, only a block holding a
    problem goes through the line-level regular expressions.
    """
    out = CleanChunk(b"", 0, 0, 0)
    parts = []
    pos = 0
    line_no = first_line
    n = len(chunk)
    while pos < n:
        end = chunk.rfind(b"\n", pos, pos + BLOCK) + 1 if pos + BLOCK < n else n
        if end <= pos:  # one line longer than a block
            end = chunk.find(b"\n", pos + BLOCK) + 1 or n
        block = chunk[pos:end]
        lines = block.count(b"\n")
        if kind == "irradiance" and b"." in block:
            block = _RAW_FLOAT.sub(rb"\1", block)
        if _fast_ok(kind, block):
            parts.append(block)
            out.lines += lines
            out.good += lines
        else:
            c = _clean_slow(kind, block, line_no, keep_bad - len(out.bad))
            parts.append(c.data)
            out.lines += c.lines
            out.good += c.good
            out.blank += c.blank
            out.bad.extend(c.bad)
            out.bad_count += c.bad_count
        line_no += lines
        pos = end
    out.data = b"".join(parts)
    return out


def _clean_slow(kind: str, chunk: bytes, first_line: int, keep_bad: int) -> CleanChunk:
    if b"\r" in chunk:
        # only CRLF is a line end: a lone CR (garbage bytes) stays in its line, so that line numbers
        # and counts are those of the file
        chunk = chunk.replace(b"\r\n", b"\n")
    if b"," in chunk:
        chunk = _DECIMAL_COMMA_TS.sub(b".", chunk)
    lines = chunk.count(b"\n")
    if lines == 0:
        return CleanChunk(b"", 0, 0, 0)
    remove: list[tuple[int, int, str | None]] = []  # (start, end incl. newline, reason or None for blank)
    end_of_chunk = len(chunk)
    for m in _BAD_LINE[kind].finditer(chunk):
        if m.start() == end_of_chunk:
            break
        text = m.group()
        if not text.strip():
            remove.append((m.start(), m.end() + 1, None))
        else:
            remove.append((m.start(), m.end() + 1, "?"))
    for m in _NO_VALUES[kind].finditer(chunk):
        remove.append((m.start(), m.end() + 1, "no values (all fields empty or NaN)"))
    remove.sort()
    bad: list[BadLine] = []
    blank = 0
    pieces = []
    pos = 0
    line_no = first_line
    counted_to = 0
    n_bad = 0
    for start, end, reason in remove:
        pieces.append(chunk[pos:start])
        pos = end
        if reason is None:
            blank += 1
            continue
        n_bad += 1
        if len(bad) < keep_bad:
            line_no += chunk.count(b"\n", counted_to, start)
            counted_to = start
            raw = chunk[start:end - 1]
            bad.append(BadLine(line_no, reason_for(kind, raw) if reason == "?" else reason, printable(raw)))
    pieces.append(chunk[pos:])
    data = b"".join(pieces) if remove else chunk
    if b"N" in data or b"n" in data or b"I" in data:
        data = _NAN_FIELD.sub(b"", data)
    return CleanChunk(data, lines, lines - blank - n_bad, blank, bad, n_bad)


def parse_line_slow(kind: str, line: bytes) -> str | None:
    """Python-side check of a line the server refused: the reason, or None if it is fine."""
    fields = line.split(b"\t")
    try:
        datetime.fromisoformat(fields[0].decode().replace("Z", "+00:00"))
    except ValueError as exc:
        return f"invalid timestamp: {exc}"
    for name, value in zip(COLUMNS[kind][1:], fields[1:]):
        if value:
            try:
                v = float(value)
            except ValueError:
                return f"{name} is not a number"
            if abs(v) > 1.7e308 or (name == "raw_reading" and abs(v) > 2**31 - 1):
                return f"{name} out of range"
            if name == "raw_reading" and not v.is_integer():
                return f"{name} is not an integer count"
    return None
