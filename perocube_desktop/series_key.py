"""Which series a sample belongs to: an MPP tracking channel (board, channel) or a sensor.

The one home for series keys: the live store, the status bar's last samples, the overview, the
plots, the alarms and the lifetime projection key their series with ``SeriesKey``. Its text form
(``str()``: ``mpp:1/3``, ``temperature:<uuid>``, ``irradiance:<uuid>``) is for the window settings
and messages; ``SeriesKey.parse`` reads it back.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

MPP_KIND = "mpp"  # = protocol.MPP (this module is below the protocol: no import)
SENSOR_KINDS = ("temperature", "irradiance")


class _SampleLike(Protocol):
    kind: str
    board: int | None
    channel: int | None
    sensor: str | None


@dataclass(frozen=True, slots=True)
class SeriesKey:
    kind: str  # "mpp" | "temperature" | "irradiance"
    board: int | None = None  # MPP only
    channel: int | None = None  # MPP only
    sensor: str | None = None  # sensors only: the sensor's UUID as text

    @classmethod
    def mpp(cls, board: int, channel: int) -> SeriesKey:
        return cls(MPP_KIND, board, channel)

    @classmethod
    def of_sensor(cls, kind: str, sensor: str) -> SeriesKey:
        if kind not in SENSOR_KINDS:
            raise ValueError(f"not a sensor kind: {kind!r}")
        return cls(kind, sensor=sensor)

    @classmethod
    def of(cls, sample: _SampleLike) -> SeriesKey:
        """The series of a sample (``protocol.Sample``)."""
        if sample.kind == MPP_KIND:
            return cls(MPP_KIND, sample.board, sample.channel)
        return cls(sample.kind, sensor=sample.sensor)

    @classmethod
    def parse(cls, text: str) -> SeriesKey:
        """``mpp:1/3`` or ``temperature:<uuid>`` -> the key; ValueError naming the text otherwise."""
        kind, sep, rest = text.partition(":")
        if sep and kind == MPP_KIND:
            board, slash, channel = rest.partition("/")
            if slash and board.strip().lstrip("-").isdigit() and channel.strip().lstrip("-").isdigit():
                return cls.mpp(int(board), int(channel))
        elif sep and kind in SENSOR_KINDS and rest:
            return cls(kind, sensor=rest)
        raise ValueError(f"not a series key: {text!r} (mpp:BOARD/CHANNEL or temperature|irradiance:SENSOR)")

    @classmethod
    def try_parse(cls, text: object) -> SeriesKey | None:
        """``parse``, or None for anything else (the window settings of an earlier session)."""
        try:
            return cls.parse(text) if isinstance(text, str) else None
        except ValueError:
            return None

    @property
    def is_mpp(self) -> bool:
        return self.kind == MPP_KIND

    @property
    def ident(self) -> str:
        """What names the series within its kind: ``1/3`` or the sensor id."""
        return f"{self.board}/{self.channel}" if self.kind == MPP_KIND else str(self.sensor)

    def sort_key(self) -> tuple[str, int, int, str]:
        """Kind, then board and channel as numbers, then sensor."""
        return (self.kind, self.board or 0, self.channel or 0, self.sensor or "")

    def __str__(self) -> str:
        return f"{self.kind}:{self.ident}"
