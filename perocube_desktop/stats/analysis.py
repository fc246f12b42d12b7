"""The numeric core of a report: :func:`analyse` takes one pixel's series (arrays, no database)
and returns its figures of merit. Tested on synthetic series (``tests/test_isos.py``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone

import numpy as np

from . import isos
from .runs import RunChoice, pick, split_runs
from .series import MAX_GAP_S, MOVE_WINDOW_S, Move, PixelSeries, assemble, hhmm, zero_level

PROJECTION_LIMIT = 3.0  # never project T80 further than this multiple of the observed ageing time
MIN_LIT_MIN = 10  # lit minutes a smoothing window needs


@dataclass
class Span:
    start: float
    end: float
    minutes: int

    def as_dict(self) -> dict:
        return {"start": _iso(self.start), "end": _iso(self.end), "minutes": self.minutes}


@dataclass
class PixelResult:
    device: str
    pixel: str
    board: int | None
    channel: int | None
    start: float | None
    end: float | None
    samples: int = 0
    coverage_pct: float | None = None
    energy_mWh: float | None = None
    mean_power_mW: float | None = None
    max_power_mW: float | None = None
    pce_initial_pct: float | None = None
    pce_final_pct: float | None = None
    T95_h: float | None = None
    T80_h: float | None = None
    Ts_h: float | None = None
    Es_pct: float | None = None
    TS80_h: float | None = None
    TS95_h: float | None = None
    eta1000_pct: float | None = None
    pce_1000h_pct: float | None = None
    projected_T80_h: float | None = None
    projected_T80_lo_h: float | None = None
    projected_T80_hi_h: float | None = None
    projection_note: str = ""
    cycle_T80_h: float | None = None
    cycles_complete: int = 0
    cycles_partial: int = 0
    irradiance_dose_kWh_m2: float | None = None
    irradiance_lit_mean_Wm2: float | None = None
    temperature_lit_mean_C: float | None = None
    lit_zero_minutes: int = 0
    area_cm2: float | None = None
    ageing_start: float | None = None
    ageing_start_rule: str = ""
    observed_h: float | None = None
    notes: list[str] = field(default_factory=list)
    daily_energy: dict[str, float] = field(default_factory=dict)
    cycles: list[dict] = field(default_factory=list)
    gaps: list[tuple[str | None, str | None]] = field(default_factory=list)
    lit_zero: list[Span] = field(default_factory=list)
    moves: list[Move] = field(default_factory=list)
    statistics: dict[str, dict] = field(default_factory=dict)
    channels: list[tuple[int, int]] = field(default_factory=list)
    run: int | None = None  # 1-based ageing run shown (runs.split_runs), None without data
    runs: int = 0  # how many runs the pixel's data has in the selected period
    run_spans: list[tuple[float, float]] = field(default_factory=list)  # every run's data (start, end)
    # series for plots (not exported)
    t: np.ndarray | None = None
    power: np.ndarray | None = None
    irradiance: np.ndarray | None = None
    temperature: np.ndarray | None = None
    voltage: np.ndarray | None = None  # V, 1-minute means
    current: np.ndarray | None = None  # mA
    pce: np.ndarray | None = None  # % per minute: NaN in the dark and in excluded (lit but no power) minutes
    smooth_t_h: np.ndarray | None = None
    smooth_pce: np.ndarray | None = None

    @property
    def has_data(self) -> bool:
        return self.samples > 0

    @property
    def label(self) -> str:
        """The pixel's name, with the run when its data has several ("C · run 2/2")."""
        return self.pixel if self.runs <= 1 or self.run is None else f"{self.pixel} · run {self.run}/{self.runs}"

    def metrics(self) -> dict:
        out = {k: _round(getattr(self, k)) for k in METRIC_KEYS}
        out["from"] = _iso(self.start)
        out["to"] = _iso(self.end)
        out["ageing_start"] = _iso(self.ageing_start)
        return out


METRIC_KEYS = ("device", "pixel", "board", "channel", "samples", "coverage_pct", "energy_mWh", "mean_power_mW",
               "max_power_mW", "pce_initial_pct", "pce_final_pct", "T95_h", "T80_h", "Ts_h", "Es_pct", "TS80_h",
               "TS95_h", "eta1000_pct", "pce_1000h_pct", "projected_T80_h", "projected_T80_lo_h", "projected_T80_hi_h", "projection_note",
               "cycle_T80_h", "cycles_complete", "cycles_partial", "irradiance_dose_kWh_m2",
               "irradiance_lit_mean_Wm2", "temperature_lit_mean_C", "lit_zero_minutes", "area_cm2",
               "ageing_start_rule", "observed_h", "run", "runs")


def _iso(t: float | None) -> str | None:
    return None if t is None else datetime.fromtimestamp(t, timezone.utc).isoformat(timespec="seconds")


def _round(v):
    if isinstance(v, (float, np.floating)):
        return None if not np.isfinite(v) else round(float(v), 6)
    return v


def analyse(series: PixelSeries, smoothing_h: float = 1.0, run: RunChoice = "latest") -> PixelResult:
    """Figures of merit of one ageing run of a pixel (the latest by default). Pure: arrays in, figures out."""
    return analyse_runs(series, smoothing_h, run)[-1]


def analyse_runs(series: PixelSeries, smoothing_h: float = 1.0, run: RunChoice = "latest") -> list[PixelResult]:
    """Figures of merit per ageing run (``runs.split_runs``): never across a gap longer than the data
    before it. ``run``: "latest", "all" or a run number (1 = the oldest)."""
    cols, which = assemble(series)
    spans = split_runs(cols["t"])
    chosen = pick(len(spans), run)
    if not chosen:
        res = PixelResult(series.device, series.pixel, None, None, series.start, series.end,
                          area_cm2=series.area_cm2, moves=list(series.moves), notes=list(series.notes), runs=len(spans))
        res.channels = [(s.board, s.channel) for s in series.segments]
        if series.segments:
            res.board, res.channel = series.segments[-1].board, series.segments[-1].channel
        res.notes.append("no data in the period" if not spans else
                         f"no ageing run {run} in the period: the pixel's data has {len(spans)} run(s)")
        return [res]
    return [_analyse_run(series, cols, which, spans, k, smoothing_h) for k in chosen]


def _analyse_run(series: PixelSeries, cols: dict[str, np.ndarray], which: np.ndarray, spans: list[tuple[int, int]],
                 k: int, smoothing_h: float) -> PixelResult:
    a, b = spans[k]
    c = {key: v[a:b] for key, v in cols.items()}
    t = c["t"]
    moves = [m for m in series.moves if float(t[0]) - MOVE_WINDOW_S <= m.logged_at <= float(t[-1]) + 30]
    elsewhere = {m.text for m in series.moves if m not in moves}
    res = PixelResult(series.device, series.pixel, None, None, series.start, series.end, area_cm2=series.area_cm2,
                      moves=moves, notes=[n for n in series.notes if n not in elsewhere], run=k + 1, runs=len(spans))
    res.run_spans = [(float(cols["t"][i]) - 30, float(cols["t"][j - 1]) + 30) for i, j in spans]
    used = list(dict.fromkeys(int(i) for i in which[a:b]))
    res.channels = [(series.segments[i].board, series.segments[i].channel) for i in used]
    res.board, res.channel = res.channels[-1]
    if len(spans) > 1:
        res.notes.append(_run_note(res))
    _basics(res, c, series)
    light_wm2 = series.light_threshold_wm2
    irradiance, power = c["irradiance"], c["power"]
    lit = np.isfinite(irradiance) & (irradiance > light_wm2)
    zero = lit & ~(np.isfinite(power) & (power > zero_level(irradiance, series.area_cm2)))
    res.lit_zero = _spans(t, zero)
    res.lit_zero_minutes = int(zero.sum())
    if res.lit_zero:
        res.notes.append(f"lit but no power for {res.lit_zero_minutes} min in {len(res.lit_zero)} span(s) "
                         "(contact or wiring?): excluded from the figures of merit")
    pce = isos.pce_pct(power, irradiance, series.area_cm2, light_wm2)
    pce[zero] = np.nan
    res.pce = pce
    _figures(res, t, pce, lit & ~zero, smoothing_h)
    _cycles(res, t, c, pce, light_wm2, zero)
    return res


def _run_note(res: PixelResult) -> str:
    assert res.run is not None
    spans = "; ".join(f"{i + 1}: {hhmm(a)[:10]} – {hhmm(b)[:10]} ({(b - a) / 3600:.0f} h)"
                      for i, (a, b) in enumerate(res.run_spans))
    return (f"ageing run {res.run} of {res.runs} shown (runs {spans}): a gap longer than the data before it "
            "starts a new run; figures are per run, never across such a gap (report --run all shows each)")


def _basics(res: PixelResult, c: dict[str, np.ndarray], series: PixelSeries) -> None:
    t, p, g, temp = c["t"], c["power"], c["irradiance"], c["temperature"]
    start = res.start if res.start is not None and np.isfinite(res.start) else float(t[0]) - 30
    start = max(start, float(t[0]) - 30)
    end = float(t[-1]) + 30 if res.end is None else min(res.end, float(t[-1]) + 30)
    res.start, res.end = start, end
    res.t, res.power, res.irradiance, res.temperature = t, p, g, temp
    res.voltage, res.current = c["voltage"], c["current"]
    res.samples = int(np.nansum(c["n"]))
    res.coverage_pct = 100 * isos.coverage(t, start, end, MAX_GAP_S)
    res.energy_mWh = isos.energy_mwh(t, p, MAX_GAP_S)
    n = np.where(np.isfinite(p), c["n"], 0)
    res.mean_power_mW = float(np.nansum(p * n) / n.sum()) if n.sum() else None
    res.max_power_mW = float(np.nanmax(c["power_max"])) if np.isfinite(c["power_max"]).any() else None
    res.gaps = [(_iso(a), _iso(b)) for a, b in isos.gaps(t, MAX_GAP_S)][:200]
    day_no = np.floor(t / 86400).astype(np.int64)  # UTC days
    for d in np.unique(day_no):
        m = day_no == d
        day = datetime.fromtimestamp(int(d) * 86400, timezone.utc).date().isoformat()
        res.daily_energy[day] = round(isos.energy_mwh(t[m], p[m], MAX_GAP_S), 6)
    lit = np.isfinite(g) & (g > series.light_threshold_wm2)
    if np.isfinite(g).any():
        res.irradiance_dose_kWh_m2 = isos.energy_mwh(t, g, MAX_GAP_S) / 1000
        if lit.any():
            res.irradiance_lit_mean_Wm2 = float(np.mean(g[lit]))
            if np.isfinite(temp[lit]).any():
                res.temperature_lit_mean_C = float(np.nanmean(temp[lit]))
    else:
        res.notes.append("no irradiance data: PCE and its figures of merit cannot be computed")
    if not series.area_cm2:
        res.notes.append("no active area for the pixel or the device: PCE cannot be computed")
    res.statistics = series_statistics(c)


def series_statistics(c: dict[str, np.ndarray]) -> dict[str, dict]:
    """count / min / max / mean of the raw samples (exact from the minute rollups) and the standard
    deviation of the 1-minute means, per quantity."""
    out = {}
    n = c["n"]
    for name, mean, lo, hi, unit in (("power", c["power"], c["power_min"], c["power_max"], "mW"),
                                     ("voltage", c["voltage"], None, None, "V"),
                                     ("current", c["current"], None, None, "mA"),
                                     ("irradiance", c["irradiance"], None, None, "W/m²"),
                                     ("temperature", c["temperature"], None, None, "°C")):
        ok = np.isfinite(mean)
        if not ok.any():
            continue
        w = n[ok] if name in ("power", "voltage", "current") else np.ones(int(ok.sum()))
        out[name] = {"unit": unit, "minutes": int(ok.sum()),
                     "min": float(np.nanmin(lo[ok]) if lo is not None else mean[ok].min()),
                     "max": float(np.nanmax(hi[ok]) if hi is not None else mean[ok].max()),
                     "mean": float(np.average(mean[ok], weights=w)),
                     "std_of_minute_means": float(np.std(mean[ok]))}
    return out


def _spans(t: np.ndarray, mask: np.ndarray) -> list[Span]:
    """Runs of True (1-minute samples; gaps up to MAX_GAP_S do not split a run)."""
    idx = np.flatnonzero(mask)
    if idx.size == 0:
        return []
    cut = np.flatnonzero(np.diff(t[idx]) > MAX_GAP_S)
    starts = np.r_[idx[0], idx[cut + 1]]
    ends = np.r_[idx[cut], idx[-1]]
    return [Span(float(t[a]) - 30, float(t[b]) + 30, int(mask[a:b + 1].sum())) for a, b in zip(starts, ends)]


def _figures(res: PixelResult, t: np.ndarray, pce: np.ndarray, good_lit: np.ndarray, smoothing_h: float) -> None:
    """Ageing start, reference, T95/T80, burn-in, eta1000 and the projection."""
    if good_lit.any():
        res.ageing_start = float(t[np.argmax(good_lit)]) - 30
        first = float(t[0]) - 30
        res.ageing_start_rule = ("first lit sample with power (= first sample)" if res.ageing_start <= first + 60 else
                                 f"first lit sample with power, {(res.ageing_start - first) / 3600:.1f} h after the "
                                 "first sample")
    else:
        res.ageing_start, res.ageing_start_rule = float(t[0]) - 30, "first sample (no lit sample with power)"
    t_h = (t - res.ageing_start) / 3600
    res.observed_h = float(t_h[-1])
    smooth_t, smooth_pce = isos.hourly_median(t_h, pce, min_points=MIN_LIT_MIN, width_h=smoothing_h)
    res.smooth_t_h, res.smooth_pce = smooth_t, smooth_pce
    if smooth_pce.size < 3:
        if smooth_pce.size:
            res.pce_initial_pct, res.pce_final_pct = float(smooth_pce[0]), float(smooth_pce[-1])
        res.notes.append("less than 3 lit smoothing windows: no figures of merit")
        return
    # extrapolate the reference back to the ageing start only within the first lit period
    t_start = 0.0 if smooth_t[2] - smooth_t[0] <= 2.5 * smoothing_h else None
    res.T95_h, ref = isos.crossing(smooth_t, smooth_pce, 0.95, t_start=t_start)
    res.T80_h, ref = isos.crossing(smooth_t, smooth_pce, 0.80, t_start=t_start)
    if t_start is not None:
        m, c = np.polyfit(smooth_t[:3], smooth_pce[:3], 1)
        res.pce_initial_pct = float(c)
    else:
        res.pce_initial_pct = float(smooth_pce[0])
    res.pce_final_pct = float(smooth_pce[-1])
    if smooth_t[-1] >= 1000:
        at = isos.interp_at(smooth_t, smooth_pce, 1000.0)
        res.pce_1000h_pct = at
        res.eta1000_pct = 100 * at / ref if at is not None and ref else None
    burn_in = isos.burn_in(smooth_t, smooth_pce)
    after = smooth_t >= smooth_t[0] + (smooth_t[-1] - smooth_t[0]) / 2
    if burn_in is not None:
        res.Ts_h, res.Es_pct = burn_in.ts_h, burn_in.es_pct
        after = smooth_t >= burn_in.ts_h
        res.TS80_h, _ = isos.crossing(smooth_t[after] - burn_in.ts_h, smooth_pce[after], 0.8, t_start=None, reference=burn_in.es_pct)
        res.TS95_h, _ = isos.crossing(smooth_t[after] - burn_in.ts_h, smooth_pce[after], 0.95, t_start=None, reference=burn_in.es_pct)
    if res.T80_h is None and ref:
        _project(res, smooth_t[after], smooth_pce[after], 0.8 * ref)


def _project(res: PixelResult, st: np.ndarray, sv: np.ndarray, level: float) -> None:
    limit = PROJECTION_LIMIT * (res.observed_h or 0.0)
    pr = isos.project_crossing(st, sv, level)
    if pr is None:
        res.projection_note = "not projected: fewer than 6 smoothed points after the burn-in"
    elif pr.slope >= 0 or pr.t_h is None:
        res.projection_note = "not projected: the PCE after the burn-in does not decrease"
    elif pr.lo_h is None or pr.hi_h is None:
        res.projection_note = (f"not projected: the fitted line would reach 80 % at {pr.t_h:.0f} h, but its 95 % "
                               f"interval is unbounded (too few independent points: n_eff = {pr.n_eff:.1f})")
    elif pr.t_h > limit:
        res.projection_note = (f"not projected: the fitted line reaches 80 % at {pr.t_h:.0f} h, beyond "
                               f"{PROJECTION_LIMIT:g} × the {res.observed_h:.0f} h observed")
    else:
        res.projected_T80_h = pr.t_h
        res.projected_T80_lo_h = pr.lo_h
        res.projected_T80_hi_h = pr.hi_h if pr.hi_h <= limit else None
        hi = (f"{pr.hi_h:.0f} h" if res.projected_T80_hi_h is not None
              else f"beyond {limit:.0f} h ({PROJECTION_LIMIT:g} × observed)")
        res.projection_note = f"projected {pr.t_h:.0f} h, 95 % interval {pr.lo_h:.0f} h – {hi} (linear fit after burn-in)"


def _cycles(res: PixelResult, t: np.ndarray, c: dict[str, np.ndarray], pce: np.ndarray, thr: float,
            zero: np.ndarray) -> None:
    runs = isos.light_cycles_checked(t, c["irradiance"], thr, MAX_GAP_S, excluded=zero)
    cycles = []
    for a, b, why in runs:
        vals = pce[a:b + 1]
        vals = vals[np.isfinite(vals)]
        cycles.append(isos.Cycle(float(t[a]) - 30, float(t[b]) + 30, isos.energy_mwh(t[a:b + 1], c["power"][a:b + 1],
                                 MAX_GAP_S), float(vals.mean()) if vals.size else None, why))
    res.cycles = [{"start": _iso(cy.start_s), "end": _iso(cy.end_s), "hours": round((cy.end_s - cy.start_s) / 3600, 3),
                   "complete": not cy.partial, "partial_because": cy.partial or None,
                   "energy_mWh": round(cy.energy_mwh, 6) if not cy.partial else None,
                   "mean_pce_pct": None if cy.mean_pce_pct is None or cy.partial else round(cy.mean_pce_pct, 4)}
                  for cy in cycles]
    res.cycles_complete = sum(1 for cy in cycles if not cy.partial)
    res.cycles_partial = len(cycles) - res.cycles_complete
    res.cycle_T80_h = isos.cycle_t80(cycles, res.ageing_start or float(t[0]))
    if cycles and res.cycles_complete < 2:
        res.notes.append(f"{res.cycles_partial} of {len(cycles)} light cycles are partial (cut by a gap, the start "
                         "or end of the data, or excluded spans): no per-cycle figures from them")


def describe_spans(spans: list[Span]) -> str:
    return "; ".join(f"{hhmm(s.start)} – {hhmm(s.end)[11:]} ({s.minutes} min)" for s in spans)
