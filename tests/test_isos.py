"""Figures of merit against analytic series with known answers (no database, no Qt)."""

from __future__ import annotations

import math
from datetime import datetime, timezone

import numpy as np
import pytest

from perocube_desktop.stats import isos


def hourly(fn, hours: float, per_hour: int = 60):
    t = np.arange(0, hours, 1 / per_hour)
    return isos.hourly_median(t, fn(t))


def test_exponential_decay_t80():
    tau = 400.0
    t, v = hourly(lambda t: 20 * np.exp(-t / tau), 1200)
    t80, ref = isos.crossing(t, v, 0.8)
    assert t80 == pytest.approx(tau * math.log(1.25), rel=0.005)
    t95, _ = isos.crossing(t, v, 0.95)
    assert t95 == pytest.approx(tau * math.log(1 / 0.95), rel=0.01)
    assert ref == pytest.approx(20, rel=0.01)


def test_linear_decay_and_eta1000():
    t, v = hourly(lambda t: 20 * (1 - 0.0001 * t), 1500)  # 10 % per 1000 h
    assert isos.crossing(t, v, 0.8)[0] is None  # not reached within 1500 h
    b = isos.burn_in(t, v)
    assert b.ts_h == pytest.approx(t[0], abs=1.0)  # no burn-in
    projected = (0.8 * v[0] - b.intercept_pct) / b.slope_pct_per_h
    assert projected == pytest.approx(2000, rel=0.01)
    assert isos.interp_at(t, v, 1000) / v[0] * 100 == pytest.approx(90, abs=0.1)


def test_rise_then_fall_uses_the_maximum():
    def f(t):
        return np.where(t < 20, 18 + 0.1 * t, 20 * np.exp(-(t - 20) / 300))
    t, v = hourly(f, 400)
    t80, ref = isos.crossing(t, v, 0.8)
    assert ref == pytest.approx(20, rel=0.005)
    assert t80 == pytest.approx(20 + 300 * math.log(1.25), rel=0.01)


def test_burn_in_then_linear():
    def f(t):
        return 20 * (1 - 0.15 * (1 - np.exp(-t / 10))) - 0.002 * t
    t, v = hourly(f, 2500)
    b = isos.burn_in(t, v)
    # the exponential is within 0.5 % of Es (≈17 %) after t ≈ 10·ln(3/0.085) ≈ 36 h
    assert 25 < b.ts_h < 50
    assert b.es_pct == pytest.approx(f(np.array([b.ts_h]))[0], rel=0.01)
    ts80, _ = isos.crossing(t[t >= b.ts_h] - b.ts_h, v[t >= b.ts_h], 0.8, t_start=None, reference=b.es_pct)
    expect = (0.2 * b.es_pct) / 0.002  # linear regime: 20 % of Es at 0.002 %/h
    assert ts80 == pytest.approx(expect, rel=0.02)


def test_energy_with_gaps_by_hand():
    t = np.array([0, 10, 20, 30, 1000, 1010, 1020], dtype=float)  # one 970 s gap
    p = np.array([1, 1, 2, 2, 5, 5, 5], dtype=float)  # mW
    # by hand: (1+1)/2*10 + (1+2)/2*10 + (2+2)/2*10 + (5+5)/2*10*2 = 10 + 15 + 20 + 100 = 145 mWs
    assert isos.energy_mwh(t, p) == pytest.approx(145 / 3600)
    assert isos.gaps(t) == [(30.0, 1000.0)]
    assert isos.coverage(t, 0, 1020) == pytest.approx(50 / 1020)
    p2 = p.copy()
    p2[1] = np.nan
    assert isos.energy_mwh(t, p2) == pytest.approx((20 + 100) / 3600)


def test_light_cycles_detected():
    t = np.arange(0, 4 * 86400, 60.0)
    g = np.where((t % 86400) < 43200, 1000.0, 0.0)
    g[100] = 0  # a one-minute flicker is not a cycle boundary
    runs = isos.light_cycles(t, g, 500)
    assert len(runs) == 4
    p = g / 100 * np.repeat([1.0, 0.95, 0.75, 0.7], 1440)
    cyc = isos.cycle_stats(t, p, np.full_like(t, 15.0), runs)
    assert [round(c.energy_mwh / cyc[0].energy_mwh, 2) for c in cyc] == [1.0, 0.95, 0.75, 0.7]
    assert isos.cycle_t80(cyc, 0) == pytest.approx(2 * 24, abs=0.01)


def test_pce_formula_and_threshold():
    p = np.array([5.0, 5.0])
    g = np.array([1000.0, 100.0])
    out = isos.pce_pct(p, g, 0.25, 500)
    assert out[0] == pytest.approx(20.0) and np.isnan(out[1])


# the pure analysis core on synthetic pixel series ---------------------------------------------

from perocube_desktop.stats.analysis import PROJECTION_LIMIT, analyse  # noqa: E402
from perocube_desktop.stats.series import PixelSeries, Segment, detect_move  # noqa: E402

T0 = 1_714_723_200.0  # 2024-05-03 08:00 UTC


def segment(t, power, g, board=1, channel=1, t0=None, t1=None, move_in=False):
    n = t.size
    return Segment(board, channel, t[0] - 30 if t0 is None else t0, t[-1] + 30 if t1 is None else t1, t,
                   np.full(n, 6.0), power, power, power, np.full(n, 0.9), power / 0.9, g, np.full(n, 40.0),
                   move_in=move_in)


def day_light(t, on_h=6, off_h=18, level=1000.0):
    hour = (t % 86400) / 3600
    return np.where((hour >= on_h) & (hour < off_h), level, 0.0)


def pixel(segs, area=0.25):
    return PixelSeries("DEV", "A", area, segs, 500.0)


def test_data_starting_in_the_dark_takes_the_reference_from_first_light():
    start = T0 + 12 * 3600  # 20:00: ten dark hours before the lamps go on
    t = start + 30 + 60 * np.arange(int(96 * 60))
    g = day_light(t)
    first_light = t[np.argmax(g > 500)] - 30
    tau = 400.0
    pce = 20 * np.exp(-np.clip(t - first_light, 0, None) / 3600 / tau)
    power = g * 0.25 * 0.1 * pce / 100
    res = analyse(pixel([segment(t, power, g)]))
    assert res.ageing_start == pytest.approx(first_light)
    assert "first lit sample" in res.ageing_start_rule and "after the first sample" in res.ageing_start_rule
    assert res.pce_initial_pct == pytest.approx(20, rel=0.01)
    assert res.T80_h is None  # 89 h of ageing never reach T80 for tau = 400 h (T80 = 89.3 h of light-on time)
    assert res.T95_h == pytest.approx(tau * math.log(1 / 0.95), rel=0.05)


def test_partial_cycles_are_reported_but_not_used():
    t = T0 + 30 + 60 * np.arange(5 * 1440)  # 08:00 day 1 (lit) -> 08:00 day 6 (lit)
    g = day_light(t)
    keep = ~((t > T0 + 2 * 86400 + 2 * 3600) & (t < T0 + 2 * 86400 + 2 * 3600 + 480))  # 8-min gap, day 3 10:00
    t, g = t[keep], g[keep]
    day = np.floor((t - T0 + 8 * 3600) / 86400)
    power = np.where(day == 2, 0.5, 1.0) * g / 1000 * 5  # the cut cycle is the weak one
    res = analyse(pixel([segment(t, power, g)]))
    reasons = [c["partial_because"] for c in res.cycles]
    assert reasons[0] and "start" in reasons[0] and reasons[-1] and "end" in reasons[-1]
    assert any(r and "gap" in r for r in reasons)
    assert res.cycles_complete == 3 and res.cycles_partial == 4  # day 3 is two pieces
    assert all(c["energy_mWh"] is None for c in res.cycles if not c["complete"])
    assert res.cycle_T80_h is None  # the weak piece is a partial cycle: no per-cycle T80 from it


def test_lit_but_no_power_spans_are_flagged_and_excluded():
    t = T0 + 30 + 60 * np.arange(2 * 1440)
    g = day_light(t)
    power = g / 1000 * 5.0
    dead = (t >= T0 + 2 * 3600) & (t < T0 + 2 * 3600 + 45 * 60)  # 10:00-10:45 contact lost under light
    power[dead] = 2e-6
    res = analyse(pixel([segment(t, power, g)]))
    assert len(res.lit_zero) == 1 and res.lit_zero[0].minutes == 45
    assert res.lit_zero[0].start == pytest.approx(T0 + 2 * 3600)
    assert res.pce_final_pct == pytest.approx(res.pce_initial_pct, rel=1e-6)  # no artefact drop, no T80
    assert res.T80_h is None and any("lit but no power" in n for n in res.notes)


def test_move_found_in_the_data_and_ambiguous_move_excluded():
    logged = T0 + 16 * 3600  # 00:00 of day 2
    t = T0 + 30 + 60 * np.arange(2 * 1440)
    g = day_light(t)
    removed, installed = logged + 8 * 3600 + 600, logged + 8 * 3600 + 2100  # 08:10 and 08:35
    p_old = np.where(t < removed, g / 1000 * 5, 1e-6)
    p_new = np.where(t >= installed, g / 1000 * 5, 1e-6)
    old = segment(t, p_old, g, 1, 2, t1=logged)
    new = segment(t[t >= logged], p_new[t >= logged], g[t >= logged], 2, 4, t0=logged, move_in=True)
    mv = detect_move(old, new, logged, 0.25, 500.0)
    assert abs(mv.removed_at - removed) <= 60 and abs(mv.installed_at - installed) <= 60
    assert mv.removal_seen and mv.installation_seen
    res = analyse(pixel([old, new]))
    assert res.lit_zero_minutes == 0 and res.T80_h is None and res.moves[0].text.startswith("moved")
    # moved at night: the data cannot tell the moment; the dark span in between is excluded and said so
    removed = installed = logged + 3 * 3600  # 03:00
    p_old = np.where(t < removed, g / 1000 * 5, 0.0)
    p_new = np.where(t >= installed, g / 1000 * 5, 0.0)
    old = segment(t, p_old, g, 1, 2, t1=logged)
    new = segment(t[t >= logged], p_new[t >= logged], g[t >= logged], 2, 4, t0=logged, move_in=True)
    mv = detect_move(old, new, logged, 0.25, 500.0)
    assert not mv.removal_seen and not mv.installation_seen
    assert mv.removed_at <= removed <= mv.installed_at and "cannot tell" in mv.text and "excluded" in mv.text


def test_projection_has_an_interval_or_a_stated_refusal():
    rng = np.random.default_rng(1)
    t = T0 + 30 + 60 * np.arange(10 * 1440)
    g = np.full(t.size, 1000.0)
    hours = (t - t[0]) / 3600
    pce = 20 * (1 - 0.0005 * hours) + rng.normal(0, 0.3, t.size)  # T80 = 400 h; 240 h observed
    res = analyse(pixel([segment(t, g * 0.25 * 0.1 * pce / 100, g)]))
    assert res.T80_h is None and res.observed_h == pytest.approx(240, abs=0.1)
    assert res.projected_T80_h is not None, res.projection_note
    truth = (1 - 0.8 * res.pce_initial_pct / 20) / 0.0005  # the true line reaches 80 % of the reference used
    assert truth == pytest.approx(400, rel=0.02)
    assert res.projected_T80_lo_h < truth < res.projected_T80_hi_h
    assert res.projected_T80_lo_h < res.projected_T80_h < res.projected_T80_hi_h
    slow = 20 * (1 - 0.00005 * hours) + rng.normal(0, 0.05, t.size)  # T80 = 4000 h from 240 h: refused
    res = analyse(pixel([segment(t, g * 0.25 * 0.1 * slow / 100, g)]))
    assert res.projected_T80_h is None and f"{PROJECTION_LIMIT:g} ×" in res.projection_note


def test_pixel_without_data():
    res = analyse(pixel([]))
    assert not res.has_data and "no data in the period" in res.notes


def test_pdf_table_columns_hold_their_longest_text():
    from perocube_desktop.stats.pdf_layout import CHAR_EM, PAGE_PT, fit_columns

    header = ["device", "pixel", "T80\n(h)"]
    rows = [["A_VERY_LONG_DEVICE_NAME_FROM_A_COLLABORATOR_2024" * 3, "B", "not reached"], ["OK_1", "A", "12.5"]]
    widths, size = fit_columns(header, rows, [0.1, 0.05, 0.07], 8.0)
    assert sum(widths) <= 1.0 + 1e-9 and 5.0 <= size < 8.0
    assert widths[0] * PAGE_PT >= (len(rows[0][0]) + 2) * CHAR_EM * size - 1e-6
    widths, size = fit_columns(header, [["OK_1", "A", "12.5"]], [0.1, 0.05, 0.07], 8.0)
    assert size == 8.0 and sum(widths) == pytest.approx(1.0)


# ageing runs: a gap longer than the data before it ---------------------------------------------

from perocube_desktop.stats.analysis import analyse_runs  # noqa: E402
from perocube_desktop.stats.runs import parse_run, split_runs  # noqa: E402


def _decaying(start: float, hours: float, tau: float = 400.0, pce0: float = 20.0):
    t = start + 30 + 60 * np.arange(int(hours * 60))
    g = day_light(t)
    pce = pce0 * np.exp(-(t - t[0]) / 3600 / tau)
    return t, g * 0.25 * 0.1 * pce / 100, g


def test_a_gap_longer_than_the_data_before_it_starts_a_new_run():
    # 48 h imported in 2024, then the same channel live 2.5 years later: 36 h of a fresh device
    t1, p1, g1 = _decaying(T0, 48)
    t2, p2, g2 = _decaying(T0 + 940 * 86400, 36, tau=200.0, pce0=15.0)
    series = pixel([segment(np.r_[t1, t2], np.r_[p1, p2], np.r_[g1, g2])])
    latest = analyse(series)
    assert (latest.run, latest.runs, latest.label) == (2, 2, "A · run 2/2")
    assert latest.observed_h < 40 and latest.start >= t2[0] - 30  # never across the 940-day gap
    assert latest.pce_initial_pct == pytest.approx(15, rel=0.05)
    assert latest.gaps == [] and any("ageing run 2 of 2" in n for n in latest.notes)
    both = analyse_runs(pixel([segment(np.r_[t1, t2], np.r_[p1, p2], np.r_[g1, g2])]), run="all")
    assert [r.run for r in both] == [1, 2]
    assert both[0].observed_h < 50 and both[0].end <= t1[-1] + 30 and both[0].pce_initial_pct == pytest.approx(20, rel=0.05)
    first = analyse(pixel([segment(np.r_[t1, t2], np.r_[p1, p2], np.r_[g1, g2])]), run=1)
    assert first.run == 1 and first.samples == both[0].samples
    missing = analyse(pixel([segment(np.r_[t1, t2], np.r_[p1, p2], np.r_[g1, g2])]), run=3)
    assert not missing.has_data and any("no ageing run 3" in n for n in missing.notes)


def test_shorter_gaps_stay_inside_the_run():
    # 48 h, 30 h without data (the PC was off), 24 h more: one run, the gap listed, ageing time across it
    t1, p1, g1 = _decaying(T0, 48)
    t2 = t1[-1] + 30 * 3600 + 60 * np.arange(24 * 60)
    g2 = day_light(t2)
    p2 = g2 * 0.25 * 0.1 * 20 * np.exp(-(t2 - t1[0]) / 3600 / 400) / 100
    res = analyse(pixel([segment(np.r_[t1, t2], np.r_[p1, p2], np.r_[g1, g2])]))
    assert res.runs == 1 and res.label == "A" and res.observed_h > 100
    assert [a for a, _ in res.gaps] == [datetime.fromtimestamp(t1[-1], timezone.utc).isoformat(timespec="seconds")]
    assert split_runs(np.r_[t1, t2]) == [(0, t1.size + t2.size)]
    # a gap of a day right after ten minutes of data (a VI restarted) does not split either
    t = np.r_[T0 + 60 * np.arange(10), T0 + 20 * 3600 + 60 * np.arange(600)]
    assert len(split_runs(t)) == 1


def test_run_option_parsing():
    assert parse_run("latest") == "latest" and parse_run("ALL") == "all" and parse_run("2") == 2
    for bad in ("0", "last", "-1"):
        with pytest.raises(ValueError, match="--run"):
            parse_run(bad)
