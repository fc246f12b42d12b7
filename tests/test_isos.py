"""Figures of merit against analytic series with known answers (no database, no Qt)."""

from __future__ import annotations

import math

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
