"""What the board overview shows for each channel and sensor. No Qt."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .alarms import AlarmEngine
from .lifetime import LifetimeMonitor
from .live import LiveStore

LIVE, STALE, IDLE, ALARM = "live", "stale", "idle", "alarm"


@dataclass
class Tile:
    key: str  # 'mpp:1/3', 'temperature:<uuid>', 'irradiance:<uuid>'
    title: str  # 'B1 C3', sensor identifier
    label: str  # connected device/pixel, or location
    value: str  # newest value with unit
    age_s: float | None
    state: str
    trend: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=np.float32))
    group: str = ""  # 'Board 1', 'Sensors'
    lifetime: str = ""  # live projection: 'PCE 0.93 · T80 410 h [320–560]'


def fmt_age(age: float | None) -> str:
    if age is None:
        return "no data"
    if age < 120:
        return f"{age:.0f} s ago"
    if age < 7200:
        return f"{age / 60:.0f} min ago"
    if age < 172800:
        return f"{age / 3600:.0f} h ago"
    return f"{age / 86400:.0f} d ago"


def build_tiles(channels: list[tuple[int, int]], connections: dict[str, str], sensors: dict[str, str],
                store: LiveStore, alarms: AlarmEngine, stale_after_s: float, now: float,
                trend_points: int = 60, lifetime: LifetimeMonitor | None = None) -> list[Tile]:
    """``channels``: known (board, channel); ``connections``: 'mpp:b/c' -> 'DEVICE / pixel';
    ``sensors``: key -> display name."""
    keys = {f"mpp:{b}/{c}" for b, c in channels} | {k for k in store.latest if k.startswith("mpp:")}
    tiles = []

    def sort_key(k: str):
        b, c = k[4:].split("/")
        return int(b), int(c)

    for key in sorted(keys, key=sort_key):
        b, c = key[4:].split("/")
        latest = store.latest.get(key)
        age = now - latest.t if latest else None
        connected = connections.get(key)
        if alarms.for_key(key):
            state = ALARM
        elif age is not None and age <= stale_after_s:  # age is None exactly when latest is
            state = LIVE
        elif connected:
            state = STALE  # a pixel sits here but no fresh data arrives
        else:
            state = IDLE
        power = latest.values[0] if latest else None
        value = "–" if power is None or np.isnan(power) else f"{power:.3g} mW"
        trend = store.recent(key, trend_points)
        tiles.append(Tile(key, f"B{b} C{c}", connected or "nothing connected", value, age, state,
                          trend[:, 0] if trend.size else trend.reshape(0), f"Board {b}",
                          lifetime.tile_text(key) if lifetime is not None and connected else ""))
    skeys = set(sensors) | {k for k in store.latest if not k.startswith("mpp:")}
    for key in sorted(skeys, key=lambda k: (k.split(":")[0], sensors.get(k, k))):
        kind = key.split(":")[0]
        latest = store.latest.get(key)
        age = now - latest.t if latest else None
        unit = "°C" if kind == "temperature" else "W/m²"
        value = "–" if latest is None or np.isnan(latest.values[0]) else f"{latest.values[0]:.4g} {unit}"
        if alarms.for_key(key):
            state = ALARM
        elif age is None:  # no sample yet
            state = IDLE
        else:
            state = LIVE if age <= stale_after_s else STALE
        trend = store.recent(key, trend_points)
        tiles.append(Tile(key, kind.capitalize(), sensors.get(key, key.split(":")[1]), value, age, state,
                          trend[:, 0] if trend.size else trend.reshape(0), "Sensors"))
    return tiles
