"""The LabVIEW wire protocol (../shared/spec/labview-protocol.md): one JSON request per line.

Pure functions: bytes in, samples and a reply out. No sockets, no database, no Qt.
"""

from __future__ import annotations

import json
import math
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

SENSOR_NAMESPACE = uuid.UUID("12345678-1234-5678-1234-567812345678")

MPP, TEMPERATURE, IRRADIANCE = "mpp", "temperature", "irradiance"
KINDS = (MPP, TEMPERATURE, IRRADIANCE)


def temperature_sensor_uuid(identifier: str) -> uuid.UUID:
    """The lab's deterministic id: uuid5(NAMESPACE, sensor_identifier)."""
    return uuid.uuid5(SENSOR_NAMESPACE, identifier)


def irradiance_sensor_uuid(identifier: str, channel: int) -> uuid.UUID:
    return uuid.uuid5(SENSOR_NAMESPACE, f"{identifier}_channel_{channel}")


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
    """What one line asked for and what to answer."""

    kind: str  # "data", "ping", "error", "empty"
    request_id: Any = None
    samples: list[Sample] = field(default_factory=list)
    rejected: list[Rejected] = field(default_factory=list)
    error_code: str = ""
    error_reason: str = ""

    def reply(self) -> bytes:
        suffix = "" if self.request_id is None else f" id={self.request_id}"
        if self.kind == "ping":
            return f"PONG{suffix}\r\n".encode()
        if self.kind == "error":
            return f"ERR {self.error_code} {self.error_reason}{suffix}\r\n".encode()
        rej = f" {len(self.rejected)}" if self.rejected else ""
        return f"ACK {len(self.samples)}{rej}{suffix}\r\n".encode()


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


def _int(value: Any, name: str) -> int:
    if isinstance(value, bool) or value is None:
        raise RowError(f"missing or invalid {name}")
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value)
    raise RowError(f"{name} is not an integer: {value!r}")


EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


def ts_datetime(us: int) -> datetime:
    """Microseconds since the epoch (``Sample.ts_us``) -> aware UTC datetime."""
    return EPOCH + timedelta(microseconds=us)


def parse_timestamp(value: Any, source_tz: ZoneInfo | timezone) -> int:
    """ISO 8601 text (naive = source zone) or epoch seconds -> microseconds since epoch."""
    if isinstance(value, bool) or value is None:
        raise RowError("missing timestamp")
    if isinstance(value, (int, float)):
        if not math.isfinite(value):
            raise RowError("timestamp is not finite")
        return int(round(value * 1_000_000))
    if not isinstance(value, str):
        raise RowError(f"timestamp is not text or a number: {value!r}")
    text = value.strip()
    try:
        dt = datetime.fromisoformat(text)
    except ValueError:
        raise RowError(f"unreadable timestamp {value!r}") from None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=source_tz)  # fold=0: the first of a repeated DST hour
    delta = dt - EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


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
    if raw is not None and not raw.is_integer():
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


def parse_line(line: bytes, source_tz: ZoneInfo | timezone = timezone.utc) -> Request:
    """Parse one request line (without its line ending)."""
    text_bytes = line.strip()
    if not text_bytes:
        return Request("empty")
    try:
        text = text_bytes.decode("utf-8")
    except UnicodeDecodeError as exc:
        return Request("error", error_code="BAD_ENCODING", error_reason=f"not UTF-8 ({exc.reason} at byte {exc.start})")
    try:
        obj = json.loads(text)
    except json.JSONDecodeError as exc:
        return Request("error", error_code="BAD_JSON", error_reason=f"not JSON: {exc.msg} at column {exc.colno}")
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
    request = Request("data", request_id)
    for row in rows:
        if not isinstance(row, dict):
            request.rejected.append(Rejected(json.dumps(row), "data row is not an object"))
            continue
        try:
            request.samples.append(_sample(kind, row, meta, source_tz))
        except RowError as exc:
            request.rejected.append(Rejected(json.dumps({"type": kind, "data": row, "metadata": meta}), str(exc)))
    return request


def too_long(max_bytes: int) -> Request:
    return Request("error", error_code="TOO_LONG", error_reason=f"line longer than {max_bytes} bytes, skipped")


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


def sample_key(s: Sample) -> str:
    """'mpp:1/3', 'temperature:<uuid>', 'irradiance:<uuid>'."""
    if s.kind == MPP:
        return f"mpp:{s.board}/{s.channel}"
    return f"{s.kind}:{s.sensor}"
