"""The LabVIEW wire protocol (../shared/spec/labview-protocol.md).

Requests are JSON objects framed by JSON value boundaries (``RequestFramer``): the lab's VIs
write bare objects without line endings and read a 3-byte ``ACK``/``ERR``; newer clients use
the line protocol (one object per line, ``ACK n ...\r\n`` replies). A connection's framing
follows from its first request. Pure code: bytes in, samples and replies out. No sockets, no
database, no Qt.
"""

from __future__ import annotations

import json
import math
import re
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

from collections.abc import Callable

try:  # 3-4x faster than json for the batches; strict JSON only, so json stays the fallback
    import orjson

    _FastDecodeError: type[Exception] = orjson.JSONDecodeError
    _fast_loads: Callable[[bytes | bytearray], Any] = orjson.loads
except ImportError:  # pragma: no cover - orjson is a dependency; keep working without it
    _FastDecodeError = ValueError
    _fast_loads = json.loads

SENSOR_NAMESPACE = uuid.UUID("12345678-1234-5678-1234-567812345678")

MPP, TEMPERATURE, IRRADIANCE = "mpp", "temperature", "irradiance"
KINDS = (MPP, TEMPERATURE, IRRADIANCE)


def temperature_sensor_uuid(identifier: str) -> uuid.UUID:
    """The lab's deterministic id: uuid5(NAMESPACE, sensor_identifier)."""
    return uuid.uuid5(SENSOR_NAMESPACE, identifier)


def irradiance_sensor_uuid(identifier: str, channel: int) -> uuid.UUID:
    """The lab's deterministic id: uuid5(NAMESPACE, f"{sensor_identifier}_{channel}"), channel a plain int."""
    return uuid.uuid5(SENSOR_NAMESPACE, f"{identifier}_{int(channel)}")


@dataclass(slots=True)
class Sample:
    """One measurement row, normalised. ``ts_us``: microseconds since the epoch, UTC.

    mpp: a=power (mW), b=current (mA), c=voltage (V), board/channel set.
    temperature: a=temperature (°C), sensor = uuid text, ident = identifier (if named so).
    irradiance: a=irradiance (W/m²), b=raw_reading, sensor = uuid, ident/ichan when named so.
    """

    kind: str
    ts_us: int
    a: float | None = None
    b: float | None = None
    c: float | None = None
    board: int | None = None
    channel: int | None = None
    sensor: str | None = None
    ident: str | None = None
    ichan: int | None = None


@dataclass
class Rejected:
    raw: str
    reason: str


@dataclass
class Request:
    """What one request asked for and what to answer.

    ``mpp_copy``: the accepted MPP rows as COPY text for ``mpp_measurement`` (made while
    parsing, so that a batch costs one pass of Python per row); ``t_lo``/``t_hi``: the
    accepted rows' time range (µs); ``channels``: the MPP (board, channel) pairs.
    """

    kind: str  # "data", "ping", "error", "empty"
    request_id: Any = None
    data_type: str = ""  # mpp, temperature, irradiance
    accepted: int = 0  # rows accepted (``samples`` holds them unless the parse was asked not to)
    samples: list[Sample] = field(default_factory=list)
    rejected: list[Rejected] = field(default_factory=list)
    error_code: str = ""
    error_reason: str = ""
    mpp_copy: str = ""
    t_lo: int | None = None
    t_hi: int | None = None
    channels: set[tuple[int, int]] = field(default_factory=set)

    def reply(self, line_protocol: bool = True) -> bytes:
        """The reply in the connection's framing: a line, or the VIs' 3 bytes ``ACK``/``ERR``."""
        if not line_protocol:
            if self.kind == "error" or (self.rejected and not self.accepted):
                return b"ERR"  # nothing of it could be used
            return b"ACK"
        suffix = "" if self.request_id is None else f" id={self.request_id}"
        if self.kind == "ping":
            return f"PONG{suffix}\r\n".encode()
        if self.kind == "error":
            return f"ERR {self.error_code} {self.error_reason}{suffix}\r\n".encode()
        rej = f" {len(self.rejected)}" if self.rejected else ""
        return f"ACK {self.accepted}{rej}{suffix}\r\n".encode()


class RowError(ValueError):
    pass


def _number(value: Any, name: str) -> float | None:
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


def _int(value: Any, name: str) -> int:
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


def _sample(kind: str, row: dict, meta: dict, tz: ZoneInfo | timezone) -> Sample:
    merged = {**meta, **row}
    ts = parse_timestamp(merged.get("timestamp"), tz)
    if kind == MPP:
        board = _int(merged.get("board"), "board")
        channel = _int(merged.get("channel"), "channel")
        current = _number(merged.get("current"), "current")
        voltage = _number(merged.get("voltage"), "voltage")
        if "power" in merged:
            power = _number(merged.get("power"), "power")
        else:
            power = current * voltage if current is not None and voltage is not None else None
        if power is None and current is None and voltage is None:
            raise RowError("no values (power, current and voltage all missing or NaN)")
        return Sample(MPP, ts, power, current, voltage, board=board, channel=channel)
    if kind == TEMPERATURE:
        temperature = _number(merged.get("temperature"), "temperature")
        if temperature is None:
            raise RowError("no temperature value")
        sensor, ident = _sensor(merged, None)
        return Sample(TEMPERATURE, ts, temperature, sensor=sensor, ident=ident)
    irradiance = _number(merged.get("irradiance"), "irradiance")
    raw = _number(merged.get("raw_reading"), "raw_reading")
    if irradiance is None and raw is None:
        raise RowError("no irradiance value")
    if raw is not None and not (raw.is_integer() and INT_MIN <= raw <= INT_MAX):
        raise RowError(f"raw_reading is not an integer: {raw}")
    ichan = merged.get("channel")
    if merged.get("sensor_id") is None and ichan is None:
        raise RowError("missing channel for the irradiance sensor")
    sensor, ident = _sensor(merged, ichan)
    return Sample(IRRADIANCE, ts, irradiance, raw, sensor=sensor, ident=ident,
                  ichan=_int(ichan, "channel") if ident is not None else None)


def _sensor(merged: dict, ichan: Any) -> tuple[str, str | None]:
    """(uuid text, identifier or None). ``sensor_id`` wins over ``sensor_identifier``."""
    sid = merged.get("sensor_id")
    if sid is not None:
        try:
            return str(uuid.UUID(str(sid))), None
        except ValueError:
            raise RowError(f"sensor_id is not a UUID: {sid!r}") from None
    ident = merged.get("sensor_identifier")
    if not isinstance(ident, str) or not ident.strip():
        raise RowError("missing sensor_identifier or sensor_id")
    ident = ident.strip()
    if ichan is None:
        return str(temperature_sensor_uuid(ident)), ident
    return str(irradiance_sensor_uuid(ident, _int(ichan, "channel"))), ident



# --- COPY text -------------------------------------------------------------------------------

def copy_number(v: float | int | None) -> str:
    return "\\N" if v is None else repr(v)


def copy_timestamp(us: int) -> str:
    """Microseconds since the epoch as a timestamptz literal PostgreSQL reads (UTC offset)."""
    return ts_datetime(us).isoformat()


def mpp_copy_line(s: Sample) -> str:
    """The row as COPY text for mpp_measurement (timestamp, power, current, voltage, board, channel)."""
    return (f"{copy_timestamp(s.ts_us)}\t{copy_number(s.a)}\t{copy_number(s.b)}\t{copy_number(s.c)}"
            f"\t{s.board}\t{s.channel}\n")


# --- requests ------------------------------------------------------------------------------------

_NOT_PARSED = object()
_ABSENT = object()


def parse_line(line: bytes, source_tz: ZoneInfo | timezone = timezone.utc) -> Request:
    """Parse one request (one JSON object, without its line ending)."""
    return parse_request(line, source_tz)


def parse_request(frame: bytes, source_tz: ZoneInfo | timezone = timezone.utc, obj: Any = _NOT_PARSED,
                  samples: bool = True) -> Request:
    """Parse one framed request; ``obj`` is the frame's JSON value when the framer parsed it already.

    ``samples=False``: MPP rows only become COPY text (``mpp_copy``), no ``Sample`` objects
    (nobody watches them live, e.g. the headless receiver)."""
    if obj is _NOT_PARSED:
        text_bytes = frame.strip()
        if not text_bytes:
            return Request("empty")
        try:
            text = text_bytes.decode("utf-8")
        except UnicodeDecodeError as exc:
            return Request("error", error_code="BAD_ENCODING",
                           error_reason=f"not UTF-8 ({exc.reason} at byte {exc.start})")
        try:
            obj = json.loads(text)
        except json.JSONDecodeError as exc:
            return Request("error", error_code="BAD_JSON", error_reason=f"not JSON: {exc.msg} at column {exc.colno}")
    if isinstance(obj, _BadValue):
        return Request("error", error_code="BAD_JSON", error_reason="not JSON after the previous object")
    if not isinstance(obj, dict):
        return Request("error", error_code="NOT_OBJECT", error_reason="the request must be a JSON object")
    request_id = obj.get("id")
    if request_id is not None and not isinstance(request_id, (str, int, float)) or isinstance(request_id, bool):
        request_id = json.dumps(request_id)
    if isinstance(request_id, str):
        request_id = request_id.replace("\r", " ").replace("\n", " ")
    kind = obj.get("type")
    if kind == "ping":
        return Request("ping", request_id)
    if kind not in KINDS:
        return Request("error", request_id, error_code="UNKNOWN_TYPE", error_reason=f"unknown type {kind!r}")
    data = obj.get("data")
    meta = obj.get("metadata") or {}
    if not isinstance(meta, dict):
        return Request("error", request_id, error_code="BAD_REQUEST", error_reason="metadata must be an object")
    rows = data if isinstance(data, list) else [data]
    request = Request("data", request_id, kind)
    if kind == MPP:
        _mpp_rows(request, rows, meta, source_tz, samples)
        return request
    for row in rows:
        if not isinstance(row, dict):
            request.rejected.append(Rejected(json.dumps(row), "data row is not an object"))
            continue
        try:
            s = _sample(kind, row, meta, source_tz)
        except RowError as exc:
            request.rejected.append(Rejected(json.dumps({"type": kind, "data": row, "metadata": meta}), str(exc)))
            continue
        request.samples.append(s)
        request.accepted += 1
        request.t_lo = s.ts_us if request.t_lo is None else min(request.t_lo, s.ts_us)
        request.t_hi = s.ts_us if request.t_hi is None else max(request.t_hi, s.ts_us)
    return request


def _mpp_rows(request: Request, rows: list, meta: dict, tz: ZoneInfo | timezone, live: bool) -> None:
    """MPP rows -> COPY text (and samples when ``live``) in one pass.

    The common row (float values, int board/channel, a timestamp equal to the previous row's
    or parsed once) costs a few look-ups; anything else goes through ``_sample``, the one place
    that defines the rules, so both paths accept and reject exactly the same rows.
    """
    m_get = meta.get
    m_ts, m_board, m_chan = m_get("timestamp"), m_get("board"), m_get("channel")
    m_p, m_i, m_v = m_get("power", _ABSENT), m_get("current"), m_get("voltage")
    samples = request.samples
    lines: list[str] = []
    add_line = lines.append
    channels = request.channels
    add_channel = channels.add
    last_raw: Any = _ABSENT
    last_type: type = type(None)
    ts_us = 0
    ts_text = ""
    lo = hi = None
    slow = []
    for row in rows:
        if type(row) is dict:
            g = row.get
            ts = g("timestamp", m_ts)
            b = g("board", m_board)
            c = g("channel", m_chan)
            p = g("power", m_p)
            i = g("current", m_i)
            v = g("voltage", m_v)
            if (type(p) is float and type(i) is float and type(v) is float and type(b) is int and type(c) is int
                    and p - p == 0.0 and i - i == 0.0 and v - v == 0.0
                    and INT_MIN <= b <= INT_MAX and INT_MIN <= c <= INT_MAX):
                if ts != last_raw or type(ts) is not last_type:
                    try:
                        ts_us = parse_timestamp(ts, tz)
                    except RowError:
                        slow.append(row)  # says why
                        continue
                    ts_text = copy_timestamp(ts_us)
                    last_raw, last_type = ts, type(ts)
                    if lo is None or ts_us < lo:
                        lo = ts_us
                    if hi is None or ts_us > hi:
                        hi = ts_us
                if live:
                    samples.append(Sample(MPP, ts_us, p, i, v, b, c))
                add_line(f"{ts_text}\t{p!r}\t{i!r}\t{v!r}\t{b}\t{c}\n")
                add_channel((b, c))
                continue
        slow.append(row)
    accepted = len(lines)
    for row in slow:
        if not isinstance(row, dict):
            request.rejected.append(Rejected(json.dumps(row), "data row is not an object"))
            continue
        try:
            s = _sample(MPP, row, meta, tz)
        except RowError as exc:
            request.rejected.append(Rejected(json.dumps({"type": MPP, "data": row, "metadata": meta}), str(exc)))
            continue
        if live:
            samples.append(s)
        add_line(mpp_copy_line(s))
        add_channel((s.board, s.channel))  # type: ignore[arg-type]
        accepted += 1
        if lo is None or s.ts_us < lo:
            lo = s.ts_us
        if hi is None or s.ts_us > hi:
            hi = s.ts_us
    request.accepted = accepted
    request.mpp_copy = "".join(lines)
    request.t_lo, request.t_hi = lo, hi


def too_long(max_bytes: int) -> Request:
    return Request("error", error_code="TOO_LONG", error_reason=f"request longer than {max_bytes} bytes, skipped")


# --- framing -------------------------------------------------------------------------------------

class LineFramer:
    """Splits a byte stream into lines, whatever the TCP segmentation.

    Lines over ``max_bytes`` are reported once (``None`` in the output) and skipped up
    to their end without being kept in memory.
    """

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self._buf = bytearray()
        self._discarding = False

    def feed(self, data: bytes) -> list[bytes | None]:
        out: list[bytes | None] = []
        start = 0
        while True:
            nl = data.find(b"\n", start)
            if nl < 0:
                break
            piece = data[start:nl]
            if self._discarding:
                self._discarding = False
                self._buf.clear()
            elif len(self._buf) + len(piece) > self.max_bytes:
                self._buf.clear()
                out.append(None)
            else:
                self._buf += piece
                out.append(bytes(self._buf).rstrip(b"\r"))
                self._buf.clear()
            start = nl + 1
        rest = data[start:]
        if not self._discarding:
            if len(self._buf) + len(rest) > self.max_bytes:
                self._buf.clear()
                self._discarding = True
                out.append(None)
            else:
                self._buf += rest
        return out

    def take_rest(self) -> bytes:
        """The unfinished last line (at the end of the connection)."""
        rest = bytes(self._buf)
        self._buf.clear()
        return rest


# A frame: (raw bytes, or None for a request over the size limit; its JSON value if already parsed)
Frame = tuple[bytes | None, Any]

_WS = b" \t\r\n"
# JSON structure: brackets, complete strings, or a lone quote (a string not finished yet)
_TOKEN = re.compile(rb'[{}\[\]]|"[^"\\]*(?:\\.[^"\\]*)*"|"', re.DOTALL)
_STRING_REST = re.compile(rb'[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)  # the rest of a string, with its quote
_STRING_PART = re.compile(rb'[^"\\]*(?:\\.[^"\\]*)*', re.DOTALL)  # as far as a string goes for sure
_GARBAGE_END = re.compile(rb"[\n{]")

LINE, RAW = "line", "raw"


class RequestFramer:
    """Frames requests by JSON value boundaries and tells the connection's framing.

    Whitespace and line endings between values are separators. ``mode`` is ``None`` until
    the first request is complete: a line ending right after it (spaces allowed) means the
    line protocol (``LINE``), anything else ``RAW`` (the VIs: 3-byte replies). When the
    first request ends exactly at the end of the data so far, the caller waits a moment
    for more and calls ``decide(RAW)`` if nothing came. In line mode, lines are requests
    (several objects on one line are split by the parser).

    Bytes that cannot start a JSON value ("garbage") form a request up to the next line
    ending, the next ``{`` or the end of the data received so far.
    """

    def __init__(self, max_bytes: int = 1 << 20) -> None:
        self.max_bytes = max_bytes
        self.mode: str | None = None
        self._buf = bytearray()
        self._lines: LineFramer | None = None
        self._scanning = False  # inside a JSON value that started at _buf[0]
        self._scan_pos = 0
        self._depth = 0
        self._in_string = False
        self._discard = False  # skipping the rest of a value over the limit
        self._first_done = False

    # -- public ---------------------------------------------------------------------------------
    def feed(self, data: bytes) -> list[Frame]:
        if self._lines is not None:
            return [(line, _NOT_PARSED) for line in self._lines.feed(data) if line is None or line.strip()]
        self._buf += data
        return self._frames(eof=False)

    def decide(self, mode: str) -> list[Frame]:
        """Fix the framing (no line ending came after the first request); returns frames now complete."""
        if self.mode is None:
            self._set_mode(mode)
        if self._lines is not None:
            rest = bytes(self._buf)
            self._buf.clear()
            return self.feed(rest)
        return self._frames(eof=False)

    def close(self) -> tuple[list[Frame], bytes]:
        """At the end of the connection: the frames still complete, and the bytes of an unfinished request."""
        if self._lines is not None:
            rest = self._lines.take_rest().strip()
            if not rest:
                return [], b""
            obj = _loads(rest)
            return ([(rest, obj)], b"") if obj is not _NOT_PARSED else ([], rest)
        frames = self._frames(eof=True)
        rest = bytes(self._buf).strip()
        self._buf.clear()
        if self._discard:
            return frames, b""
        return frames, rest

    @property
    def awaiting_decision(self) -> bool:
        """The first request is complete but nothing followed it yet."""
        return self.mode is None and self._first_done

    # -- internals ----------------------------------------------------------------------------------
    def _set_mode(self, mode: str) -> None:
        self.mode = mode
        if mode == LINE:
            self._lines = LineFramer(self.max_bytes)

    def _frames(self, eof: bool) -> list[Frame]:
        out: list[Frame] = []
        buf = self._buf
        fast = True  # after one miss (several objects in the data), scan: each try would copy the rest
        while True:
            if not self._scanning and not self._discard:
                # skip separators; the first request's follower decides the framing
                n = len(buf)
                k = 0
                while k < n and buf[k] in _WS:
                    if self.mode is None and self._first_done and buf[k] in b"\r\n":
                        del buf[:k]
                        self._set_mode(LINE)
                        rest = bytes(buf)
                        buf.clear()
                        return out + self.feed(rest)
                    k += 1
                del buf[:k]
                if not buf:
                    return out
                if self.mode is None and self._first_done:
                    self._set_mode(RAW)
                if buf[0] not in b"{[":
                    m = _GARBAGE_END.search(buf, 1)
                    end = m.start() if m is not None else len(buf)
                    if end > self.max_bytes:
                        out.append((None, _NOT_PARSED))
                    else:
                        out.append((bytes(buf[:end]), _NOT_PARSED))
                    del buf[:end]
                    self._first_done = True
                    continue
                # fast path: the rest of the data is exactly one value (the VIs: one object per write)
                end = len(buf)
                while end > 0 and buf[end - 1] in _WS:
                    end -= 1
                if fast and buf[end - 1] in b"}]" and end <= self.max_bytes:
                    obj = _loads(buf[:end])
                    if obj is not _NOT_PARSED:
                        out.append((bytes(buf[:end]), obj))
                        del buf[:end]
                        self._first_done = True
                        continue
                    fast = False
                self._scanning, self._scan_pos, self._depth, self._in_string = True, 0, 0, False
            found = self._scan()
            if found is None:
                if self._discard:  # nothing of it is kept
                    del buf[:self._scan_pos]
                    self._scan_pos = 0
                elif len(buf) > self.max_bytes:
                    out.append((None, _NOT_PARSED))
                    self._discard = True
                    del buf[:self._scan_pos]
                    self._scan_pos = 0
                    self._first_done = True
                return out
            if self._discard:
                self._discard = False
            elif found > self.max_bytes:
                out.append((None, _NOT_PARSED))
            else:
                out.append((bytes(buf[:found]), _NOT_PARSED))
            del buf[:found]
            self._scanning = False
            self._first_done = True

    def _scan(self) -> int | None:
        """Continue the structure scan; the end of the value, or None (incomplete).

        Linear in the bytes received, however the value is split: the scan resumes where it
        stopped, also inside a string."""
        depth = self._depth
        buf = self._buf
        pos = self._scan_pos
        if self._in_string:
            m = _STRING_REST.match(buf, pos)
            if m is None:
                self._scan_pos = _STRING_PART.match(buf, pos).end()  # type: ignore[union-attr]
                return None
            pos = m.end()
            self._in_string = False
        for m in _TOKEN.finditer(buf, pos):
            t = buf[m.start()]
            if t == 0x22:  # '"'
                if m.end() - m.start() == 1:  # a string that has not ended yet
                    self._in_string = True
                    self._scan_pos = _STRING_PART.match(buf, m.end()).end()  # type: ignore[union-attr]
                    self._depth = depth
                    return None
                continue
            if t == 0x7B or t == 0x5B:  # { [
                depth += 1
            else:
                depth -= 1
                if depth <= 0:
                    self._depth = 0
                    return m.end()
        self._scan_pos, self._depth = len(buf), depth
        return None


def parse_frame(frame: bytes | None, source_tz: ZoneInfo | timezone = timezone.utc, obj: Any = _NOT_PARSED,
                max_bytes: int = 1 << 20, samples: bool = True) -> list[Request]:
    """The requests of one frame (``RequestFramer`` output): usually one; a line holding several
    JSON objects gives one request each; ``None`` (over the limit) gives ``TOO_LONG``."""
    if frame is None:
        return [too_long(max_bytes)]
    if obj is _NOT_PARSED:
        try:
            obj = _fast_loads(frame)
        except _FastDecodeError:
            obj = _NOT_PARSED  # NaN, Infinity, huge numbers, several objects, not JSON: json decides below
    if obj is _NOT_PARSED:
        try:
            text = frame.decode("utf-8").strip()
            obj = json.loads(text)
        except json.JSONDecodeError as exc:
            if exc.msg == "Extra data":
                return [parse_request(b"", source_tz, value, samples) for value in _values(text)]
        except (UnicodeDecodeError, ValueError):
            pass  # parse_request says why
    request = parse_request(frame, source_tz, obj, samples)
    return [] if request.kind == "empty" else [request]


def _values(text: str) -> list[Any]:
    """Consecutive JSON values of one line; what cannot be parsed ends the list as an error."""
    decoder = json.JSONDecoder()
    out: list[Any] = []
    pos = 0
    n = len(text)
    while pos < n:
        try:
            value, pos = decoder.raw_decode(text, pos)
        except json.JSONDecodeError:
            out.append(_BadValue(text[pos:]))
            break
        out.append(value)
        while pos < n and text[pos] in " \t\r\n":
            pos += 1
    return out


class _BadValue(str):
    """Marks the unparseable rest of a line in ``_values``."""


def _loads(data: bytes | bytearray) -> Any:
    """One JSON value, or ``_NOT_PARSED``: orjson for speed, json for what orjson refuses
    (LabVIEW's bare NaN and Infinity, numbers beyond a double)."""
    try:
        return _fast_loads(data)
    except _FastDecodeError:
        pass
    try:
        return json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return _NOT_PARSED

def sample_key(s: Sample) -> str:
    """'mpp:1/3', 'temperature:<uuid>', 'irradiance:<uuid>'."""
    if s.kind == MPP:
        return f"mpp:{s.board}/{s.channel}"
    return f"{s.kind}:{s.sensor}"
