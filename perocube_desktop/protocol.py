"""The LabVIEW wire protocol (docs/protocol.md).

Requests are JSON objects framed by JSON value boundaries (``RequestFramer``): the lab's VIs
write bare objects without line endings and read a 3-byte ``ACK``/``ERR``; newer clients use
the line protocol (one object per line, ``ACK n ...\r\n`` replies). A connection's framing
follows from its first request. Pure code: bytes in, samples and replies out. No sockets, no
database, no Qt.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from datetime import timezone
from typing import Any
from zoneinfo import ZoneInfo

from collections.abc import Callable

from .values import (INT_MAX, INT_MIN, MAX_DEPTH, RowError, copy_number, copy_timestamp, integer,
                     number, parse_timestamp, too_deep)

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
        if self.kind == "ping":  # backslashreplace: JSON text may hold lone surrogates, which UTF-8 cannot
            return f"PONG{suffix}\r\n".encode("utf-8", "backslashreplace")
        if self.kind == "error":
            return f"ERR {self.error_code} {self.error_reason}{suffix}\r\n".encode("utf-8", "backslashreplace")
        rej = f" {len(self.rejected)}" if self.rejected else ""
        return f"ACK {self.accepted}{rej}{suffix}\r\n".encode("utf-8", "backslashreplace")


def _sample(kind: str, row: dict, meta: dict, tz: ZoneInfo | timezone) -> Sample:
    merged = {**meta, **row}
    ts = parse_timestamp(merged.get("timestamp"), tz)
    if kind == MPP:
        board = integer(merged.get("board"), "board")
        channel = integer(merged.get("channel"), "channel")
        current = number(merged.get("current"), "current")
        voltage = number(merged.get("voltage"), "voltage")
        if "power" in merged:
            power = number(merged.get("power"), "power")
        else:
            power = current * voltage if current is not None and voltage is not None else None
        if power is None and current is None and voltage is None:
            raise RowError("no values (power, current and voltage all missing or NaN)")
        return Sample(MPP, ts, power, current, voltage, board=board, channel=channel)
    if kind == TEMPERATURE:
        temperature = number(merged.get("temperature"), "temperature")
        if temperature is None:
            raise RowError("no temperature value")
        sensor, ident = _sensor(merged, None)
        return Sample(TEMPERATURE, ts, temperature, sensor=sensor, ident=ident)
    irradiance = number(merged.get("irradiance"), "irradiance")
    raw = number(merged.get("raw_reading"), "raw_reading")
    if irradiance is None and raw is None:
        raise RowError("no irradiance value")
    if raw is not None and not (raw.is_integer() and INT_MIN <= raw <= INT_MAX):
        raise RowError(f"raw_reading is not an integer: {raw}")
    ichan = merged.get("channel")
    if merged.get("sensor_id") is None and ichan is None:
        raise RowError("missing channel for the irradiance sensor")
    sensor, ident = _sensor(merged, ichan)
    return Sample(IRRADIANCE, ts, irradiance, raw, sensor=sensor, ident=ident,
                  ichan=integer(ichan, "channel") if ident is not None else None)


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
    try:
        if ichan is None:
            return str(temperature_sensor_uuid(ident)), ident
        return str(irradiance_sensor_uuid(ident, integer(ichan, "channel"))), ident
    except UnicodeEncodeError:  # a lone surrogate (JSON allows it as an escape, UTF-8 does not)
        raise RowError(f"sensor_identifier is not valid text: {ident!r}") from None



# --- COPY text -------------------------------------------------------------------------------

def mpp_copy_line(s: Sample) -> str:
    """The row as COPY text for mpp_measurement (timestamp, power, current, voltage, board, channel)."""
    return (f"{copy_timestamp(s.ts_us)}\t{copy_number(s.a)}\t{copy_number(s.b)}\t{copy_number(s.c)}"
            f"\t{s.board}\t{s.channel}\n")


# --- requests ------------------------------------------------------------------------------------

NOT_PARSED = object()
_ABSENT = object()


def parse_line(line: bytes, source_tz: ZoneInfo | timezone = timezone.utc) -> Request:
    """Parse one request (one JSON object, without its line ending)."""
    return parse_request(line, source_tz)


def parse_request(frame: bytes, source_tz: ZoneInfo | timezone = timezone.utc, obj: Any = NOT_PARSED,
                  samples: bool = True) -> Request:
    """Parse one framed request; ``obj`` is the frame's JSON value when the framer parsed it already.

    ``samples=False``: MPP rows only become COPY text (``mpp_copy``), no ``Sample`` objects
    (nobody watches them live, e.g. the headless receiver)."""
    if obj is NOT_PARSED:
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
        request_id = request_id.replace("\r", " ").replace("\n", " ").encode("utf-8", "backslashreplace").decode()
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
            get = row.get
            ts = get("timestamp", m_ts)
            b = get("board", m_board)
            c = get("channel", m_chan)
            p = get("power", m_p)
            i = get("current", m_i)
            v = get("voltage", m_v)
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


def parse_frame(frame: bytes | None, source_tz: ZoneInfo | timezone = timezone.utc, obj: Any = NOT_PARSED,
                max_bytes: int = 1 << 20, samples: bool = True) -> list[Request]:
    """The requests of one frame (``RequestFramer`` output): usually one; a line holding several
    JSON objects gives one request each; ``None`` (over the limit) gives ``TOO_LONG``."""
    if frame is None:
        return [too_long(max_bytes)]
    if obj is NOT_PARSED and too_deep(frame):  # before any parser: orjson 3.8 overflows the C stack
        return [Request("error", error_code="TOO_DEEP", error_reason=f"JSON nested deeper than {MAX_DEPTH} levels")]
    if obj is NOT_PARSED:
        try:
            obj = _fast_loads(frame)
        except _FastDecodeError:
            obj = NOT_PARSED  # NaN, Infinity, huge numbers, several objects, not JSON: json decides below
    if obj is NOT_PARSED:
        try:
            text = frame.decode("utf-8").strip()
            obj = json.loads(text)
        except json.JSONDecodeError as exc:
            if exc.msg == "Extra data":
                return [parse_request(b"", source_tz, value, samples) for value in _values(text)]
        except (UnicodeDecodeError, ValueError, RecursionError):
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
        except (json.JSONDecodeError, RecursionError):
            out.append(_BadValue(text[pos:]))
            break
        out.append(value)
        while pos < n and text[pos] in " \t\r\n":
            pos += 1
    return out


class _BadValue(str):
    """Marks the unparseable rest of a line in ``_values``."""


def loads_json(data: bytes | bytearray) -> Any:
    """One JSON value, or ``NOT_PARSED``: orjson for speed, json for what orjson refuses
    (LabVIEW's bare NaN and Infinity, numbers beyond a double). Nested too deep: ``NOT_PARSED``."""
    if too_deep(data):
        return NOT_PARSED
    try:
        return _fast_loads(data)
    except _FastDecodeError:
        pass
    try:
        return json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        return NOT_PARSED
