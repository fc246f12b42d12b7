"""What the board overview shows for each channel and sensor. No Qt."""

from __future__ import annotations

import html
import socket
from dataclasses import dataclass, field

import numpy as np

from ..series_key import SeriesKey
from .alarms import FUTURE_TOLERANCE_S, AlarmEngine
from .lifetime import LifetimeMonitor
from .live import LiveStore

LIVE, STALE, IDLE, ALARM = "live", "stale", "idle", "alarm"
TREND_POINTS = 60  # the newest samples a tile's sparkline shows


@dataclass(frozen=True)
class Occupant:
    """The pixel connected to a channel now (``monitor.sql: connections_now``)."""

    device: str
    pixel: str

    def __str__(self) -> str:
        return f"{self.device} / {self.pixel}"


@dataclass(frozen=True)
class Known:
    """What the database says about the lab (the main window reads it every 10 s), besides the live
    samples: the known channels (board, channel), the pixel on each, each sensor's display name, and
    each series' newest stored sample (time, value), so that a tile tells its age before live data."""

    channels: list[tuple[int, int]] = field(default_factory=list)
    connections: dict[SeriesKey, Occupant] = field(default_factory=dict)
    sensors: dict[SeriesKey, str] = field(default_factory=dict)
    stored: dict[SeriesKey, tuple[float, float]] = field(default_factory=dict)


@dataclass
class Tile:
    key: SeriesKey
    title: str  # 'B1 C3', sensor identifier
    label: str  # connected device/pixel, or location
    value: str  # newest value with unit
    age_s: float | None
    state: str
    trend: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=np.float32))
    group: str = ""  # 'Board 1', 'Sensors'
    lifetime: str = ""  # live projection: 'PCE 0.93 · T80 410 h [320–560]'
    status: str = ""  # the one line about its data: 'live · 3 s ago', 'not connected', '58 min ahead'


def fmt_age(age: float | None) -> str:
    """How long ago the last sample was; never negative: a sample from the future is 'ahead'."""
    if age is None:
        return "no data"
    if age < 0:
        return "now" if -age <= FUTURE_TOLERANCE_S else f"{_span(-age)} ahead"  # of this PC's clock
    return f"{_span(age)} ago"


def _span(age: float) -> str:
    if age < 120:
        return f"{age:.0f} s"
    if age < 7200:
        return f"{age / 60:.0f} min"
    if age < 172800:
        return f"{age / 3600:.0f} h"
    return f"{age / 86400:.0f} d"


def status_text(age: float | None, connected: bool, stale_after_s: float) -> str:
    """One truth per tile: its last sample's age (from the live data or, before any arrived, the
    database), or that nothing is connected or nothing has arrived yet."""
    if age is None:
        return "no sample yet" if connected else "not connected"
    if age < -FUTURE_TOLERANCE_S:
        return fmt_age(age)  # "58 min ahead": the clock alarm says why
    if age <= stale_after_s:
        return f"{LIVE} · {fmt_age(age)}"
    return f"{STALE if connected else IDLE} · {fmt_age(age)}"


def _newest(key: SeriesKey, store: LiveStore, stored: dict[SeriesKey, tuple[float, float]]) -> tuple[float | None, float | None]:
    """(time, first value) of the newest sample: live, or stored in the database, whichever is newer."""
    latest = store.latest.get(key)
    db = stored.get(key)
    if latest is not None and (db is None or latest.t >= db[0]):
        return latest.t, float(latest.values[0])
    return (db[0], db[1]) if db is not None else (None, None)


def build_tiles(known: Known, store: LiveStore, alarms: AlarmEngine, stale_after_s: float, now: float,
                lifetime: LifetimeMonitor | None = None) -> list[Tile]:
    """A tile per known or live channel and sensor, in board/channel order, then the sensors."""
    connections, sensors, stored = known.connections, known.sensors, known.stored
    keys = {SeriesKey.mpp(b, c) for b, c in known.channels} | {k for k in store.latest if k.is_mpp}
    tiles = []
    for key in sorted(keys, key=SeriesKey.sort_key):
        b, c = key.board, key.channel
        t, power = _newest(key, store, stored)
        age = None if t is None else now - t
        connected = connections.get(key)
        if alarms.for_key(key) or (age is not None and age < -FUTURE_TOLERANCE_S):
            state = ALARM
        elif age is not None and age <= stale_after_s:
            state = LIVE
        elif connected:
            state = STALE  # a pixel sits here but no fresh data arrives
        else:
            state = IDLE
        value = "–" if power is None or np.isnan(power) else f"{power:.3g} mW"
        trend = store.recent(key, TREND_POINTS)
        tiles.append(Tile(key, f"B{b} C{c}", str(connected) if connected else "nothing connected", value, age, state,
                          trend[:, 0] if trend.size else trend.reshape(0), f"Board {b}",
                          lifetime.tile_text(key) if lifetime is not None and connected else "",
                          status_text(age, bool(connected), stale_after_s)))
    skeys = set(sensors) | {k for k in store.latest if not k.is_mpp}
    for key in sorted(skeys, key=lambda k: (k.kind, sensors.get(k, k.ident))):
        kind = key.kind
        t, v = _newest(key, store, stored)
        age = None if t is None else now - t
        unit = "°C" if kind == "temperature" else "W/m²"
        value = "–" if v is None or np.isnan(v) else f"{v:.4g} {unit}"
        if alarms.for_key(key) or (age is not None and age < -FUTURE_TOLERANCE_S):
            state = ALARM
        elif age is None:  # no sample yet
            state = IDLE
        else:
            state = LIVE if age <= stale_after_s else STALE
        trend = store.recent(key, TREND_POINTS)
        tiles.append(Tile(key, kind.capitalize(), sensors.get(key, key.ident), value, age, state,
                          trend[:, 0] if trend.size else trend.reshape(0), "Sensors",
                          status=status_text(age, True, stale_after_s) if age is not None else "no sample yet"))
    return tiles


def this_pc_address() -> str | None:
    """The address other PCs reach this one at: the interface of the default route (a UDP
    ``connect`` only chooses the route, no packet is sent); None without a network."""
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.connect(("192.0.2.1", 9))  # TEST-NET-1, never routed anywhere real
            addr = s.getsockname()[0]
    except OSError:
        return None
    return None if addr.startswith("127.") or addr == "0.0.0.0" else addr


def first_start_hint(listening: str | None, host: str, pc_address: str | None, viewer: bool) -> str:
    """What an empty overview says to do (HTML): point the VIs at this PC, import history, or try the demo.
    ``listening``: the receiver's 'address:port' (None in viewer mode); ``host``: receiver.host."""
    e = html.escape
    port = listening.rsplit(":", 1)[1] if listening else "?"
    pc = e(pc_address or socket.gethostname() or "this PC's address")
    if viewer or listening is None:
        receive = ("<p><b>This window follows the database</b> (no receiver here): no channel has sent data to "
                   "it yet. Start the receiver on the lab PC (<code>perocube-desktop receive</code>) and point "
                   "the VIs at that PC.</p>")
    else:
        receive = (f"<p><b>1. Receive from the lab's VIs.</b> The receiver listens on <code>{e(listening)}</code>. "
                   f"In each VI set the host to <b>{pc}</b> and the port to <b>{e(port)}</b> "
                   "(docs/labview.md: message format, naive times and <code>receiver.source_timezone</code>).")
        if host.startswith("127.") or host in ("localhost", "::1"):
            receive += (" It accepts only programs on this PC now: for VIs on other PCs set "
                        "<code>receiver.host: 0.0.0.0</code> in the configuration file "
                        "(<code>perocube-desktop config path</code>) and add their addresses under "
                        "<i>Allowed peers</i> (File → Settings), then restart.")
        receive += "</p>"
    return ("<h2>No channel has sent data yet</h2>" + receive +
            "<p><b>2. Import the lab's history.</b> Import page → choose the data folder (the "
            "<code>data_*</code> folders with <code>output_boardN_channelM.txt</code>, sensor files, the logbook "
            ".xlsx): the channels then appear here with their last sample's age.</p>"
            "<p><b>3. Or try it first.</b> <code>perocube-desktop --demo</code> starts a simulator feeding two "
            "boards of eight channels into a demo database of its own (never this one).</p>")
