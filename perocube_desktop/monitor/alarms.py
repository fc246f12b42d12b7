"""Alarm rules, evaluated on the live store and the ingest status. No Qt.

- stale: a series that delivered data has had none for ``stale_after_s``;
- power drop: a channel's newest power is more than ``power_drop_pct`` below the median
  of its recent samples while the lamps are on (some irradiance sensor above the light
  threshold, or no irradiance sensor at all);
- temperature: a temperature sensor above ``temperature_max_c``;
- database: the writer has not reached the database for ``db_unreachable_min``;
- lit but no power: a channel with a pixel connected delivers (almost) nothing for its last
  ``NO_POWER_SAMPLES`` samples while the lamps are on: a contact or wiring problem;
- projected T80 below ``projected_t80_min_h`` and a pixel falling ``sibling_rate_factor`` times
  faster than its siblings (the live lifetime projection, ``lifetime.LifetimeMonitor``);
- clock: a board's (or a sensor's) newest sample more than ``FUTURE_TOLERANCE_S`` ahead of this
  PC's clock, naming the offset and the likely cause (a whole-hour offset: naive LabVIEW times
  read in the wrong ``receiver.source_timezone``; otherwise a clock). The samples are stored
  all the same: nothing is dropped for it.

An alarm stays in the list until it is acknowledged and its condition has cleared.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from ..config import AlarmSettings
from ..protocol import IRRADIANCE, TEMPERATURE
from ..series_key import SeriesKey
from ..status import IngestStatus
from .lifetime import LifetimeMonitor
from .live import LiveStore

RECENT_SAMPLES = 600  # ~10 min at 1 Hz
NO_POWER_SAMPLES = 30  # consecutive newest samples
NO_POWER_MW = 1e-3  # "nothing": below 1 µW
FUTURE_TOLERANCE_S = 300.0  # samples further ahead of this PC's clock raise the clock alarm


@dataclass
class Alarm:
    key: SeriesKey | str  # a series, "database", or for the clock alarm "board N" or a sensor's name
    rule: str  # stale | power_drop | temperature | database | clock | lit_no_power | lifetime rules
    text: str
    raised_at: float
    active: bool = True
    acknowledged: bool = False

    @property
    def ident(self) -> tuple[SeriesKey | str, str]:
        return (self.key, self.rule)


class AlarmEngine:
    def __init__(self, settings: AlarmSettings, source_timezone: str = "UTC") -> None:
        self.settings = settings
        self.source_timezone = source_timezone  # receiver.source_timezone, named by the clock alarm
        self.alarms: dict[tuple[SeriesKey | str, str], Alarm] = {}

    def lamps_on(self, store: LiveStore) -> bool:
        irr = [v for k, v in store.latest.items() if k.kind == IRRADIANCE]
        return not irr or any(x.values[0] >= self.settings.light_threshold_wm2 for x in irr)

    def evaluate(self, store: LiveStore, status: IngestStatus | None, now: float | None = None,
                 labels: dict[SeriesKey, str] | None = None, connected: set[SeriesKey] | None = None,
                 lifetime: LifetimeMonitor | None = None) -> list[Alarm]:
        """Update the alarm list; returns alarms raised by this call. ``connected``: the channels
        with a pixel on them (lit-but-no-power needs it)."""
        now = time.time() if now is None else now
        s = self.settings
        labels = labels or {}
        firing: dict[tuple[SeriesKey | str, str], str] = {}
        lit = self.lamps_on(store)
        for key, latest in list(store.latest.items()):
            name = labels.get(key, key)
            age = now - latest.t
            if age > s.stale_after_s:
                firing[(key, "stale")] = f"{name}: no data for {age / 60:.1f} min"
            if key.is_mpp and lit and s.power_drop_pct > 0:
                recent = store.recent(key, RECENT_SAMPLES)
                power = recent[:, 0] if recent.size else recent
                power = power[np.isfinite(power)]
                # the median is at most the maximum: most channels are cleared without sorting (GUI thread, 1 Hz)
                if power.size >= 10 and float(power[-1]) < float(power.max()) * (1 - s.power_drop_pct / 100):
                    median = float(np.median(power))
                    last = float(power[-1])
                    if median > 0 and last < median * (1 - s.power_drop_pct / 100):
                        firing[(key, "power_drop")] = (f"{name}: power {last:.3g} mW is {100 * (1 - last / median):.0f} % "
                                                       f"below its recent median {median:.3g} mW")
            if key.kind == TEMPERATURE and latest.values[0] > s.temperature_max_c:
                firing[(key, "temperature")] = f"{name}: {latest.values[0]:.1f} °C above {s.temperature_max_c:.0f} °C"
        firing.update(self._ahead(store, now, labels))
        if connected and any(k.kind == IRRADIANCE for k in store.latest) and lit:
            # needs a measured irradiance: without a sensor, darkness would look like a contact failure
            firing.update(self._no_power(store, connected, labels))
        if lifetime is not None:
            firing.update(lifetime.alarm_texts(s.projected_t80_min_h, s.sibling_rate_factor))
        if status is not None and status.db_down_since is not None:
            down = now - status.db_down_since
            if down > s.db_unreachable_min * 60:
                firing[("database", "database")] = f"database unreachable for {down / 60:.0f} min: {status.db_error}"
        raised = []
        for ident, text in firing.items():
            alarm = self.alarms.get(ident)
            if alarm is None or (not alarm.active and alarm.acknowledged):
                alarm = Alarm(ident[0], ident[1], text, now)
                self.alarms[ident] = alarm
                raised.append(alarm)
            else:
                alarm.text = text
                alarm.active = True
        for ident, alarm in list(self.alarms.items()):
            if ident not in firing:
                alarm.active = False
                if alarm.acknowledged:
                    del self.alarms[ident]
        return raised

    @staticmethod
    def _no_power(store: LiveStore, connected: set[SeriesKey], labels: dict[SeriesKey, str]) -> dict[tuple[SeriesKey | str, str], str]:
        out: dict[tuple[SeriesKey | str, str], str] = {}
        for key in connected:
            recent = store.recent(key, NO_POWER_SAMPLES)
            if recent.shape[0] < NO_POWER_SAMPLES:
                continue
            power = recent[:, 0]
            if np.isfinite(power).all() and (np.abs(power) < NO_POWER_MW).all():
                out[(key, "lit_no_power")] = (f"{labels.get(key, key)}: lamps on but no power for the last "
                                              f"{NO_POWER_SAMPLES} samples (contact or wiring?)")
        return out

    def _ahead(self, store: LiveStore, now: float, labels: dict[SeriesKey, str]) -> dict[tuple[SeriesKey | str, str], str]:
        newest = {key: latest.t for key, latest in list(store.latest.items())}
        return {(who, "clock"): clock_text(who, offset, self.source_timezone)
                for who, offset in samples_ahead(newest, now, labels).items()}

    def acknowledge(self, ident: tuple[SeriesKey | str, str]) -> None:
        alarm = self.alarms.get(ident)
        if alarm is not None:
            alarm.acknowledged = True
            if not alarm.active:
                del self.alarms[ident]

    def for_key(self, key: SeriesKey | str) -> list[Alarm]:
        return [a for a in self.alarms.values() if a.key == key and (a.active or not a.acknowledged)]


def samples_ahead(newest: dict[SeriesKey, float], now: float,
                  labels: dict[SeriesKey, str] | None = None) -> dict[str, float]:
    """Per board (or sensor), how far its newest sample is ahead of ``now`` when that is more than
    FUTURE_TOLERANCE_S (the GUI's clock alarm and the ``receive`` service's log)."""
    labels = labels or {}
    ahead: dict[str, float] = {}
    for key, t in newest.items():
        offset = t - now
        if offset > FUTURE_TOLERANCE_S:
            who = f"board {key.board}" if key.is_mpp else labels.get(key, str(key))
            ahead[who] = max(offset, ahead.get(who, 0.0))
    return ahead


def clock_text(who: str, offset_s: float, source_timezone: str) -> str:
    """The clock alarm: who, how far ahead, the likely cause, and that the samples are kept."""
    hours = round(offset_s / 3600)
    size = f"{offset_s / 60:.0f} min" if offset_s < 5400 else f"{offset_s / 3600:.1f} h"
    if 1 <= hours <= 14 and abs(offset_s - hours * 3600) <= 600:
        cause = (f"receiver.source_timezone ({source_timezone}) is not the zone of the VI's local times "
                 "(a whole-hour offset)")
    else:
        cause = "the LabVIEW PC's or this PC's clock is wrong (or a simulator runs with --speedup)"
    return f"{who}: samples {size} ahead of this PC's clock. Likely cause: {cause}. Stored as sent"
