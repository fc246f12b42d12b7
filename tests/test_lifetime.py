"""Live lifetime projection and the alarms that go with it: pure logic on synthetic trends and the
live store, and the hourly trends from the sample folder (both backends)."""

from __future__ import annotations

import numpy as np
import psycopg
import pytest

from perocube_desktop.config import AlarmSettings
from perocube_desktop.importer.engine import run_import
from perocube_desktop.monitor.alarms import AlarmEngine
from perocube_desktop.monitor.lifetime import HourlyPce, LifetimeMonitor, Trend, estimate, sibling_outliers
from perocube_desktop.monitor.live import LiveStore
from perocube_desktop.monitor.overview import Known, Occupant, build_tiles
from perocube_desktop.protocol import Sample
from perocube_desktop.series_key import SeriesKey

K = SeriesKey.parse  # "mpp:1/3" -> the key


T = 1_714_723_200.0


def trend(rate_per_h: float, hours: int = 120, key: SeriesKey = K("mpp:1/1"), pixel: str = "A", noise: float = 0.05,
          seed: int = 0) -> Trend:
    rng = np.random.default_rng(seed)
    h = np.arange(hours, dtype=float)
    pce = 20 * (1 - rate_per_h * (h + 0.5)) + rng.normal(0, noise, hours)
    return Trend(key, "DEV", pixel, T + 3600 * h, pce)


def test_estimate_projects_with_an_interval_and_refuses_far_projections():
    est = estimate(trend(0.0007))  # 80 % of 20 after 286 h; 120 h observed
    assert est.normalised == pytest.approx(1 - 0.0007 * 120, abs=0.01)
    assert est.t80_h is not None, est.note
    assert est.lo_h < 286 < est.hi_h and est.hi_h <= 3 * est.observed_h
    assert est.tile_text().startswith("PCE 0.9") and f"{est.t80_h:.0f} h [" in est.tile_text()
    far = estimate(trend(0.0001))  # 2000 h from 120 h: beyond 3 x observed
    assert far.t80_h is None and "beyond 3" in far.note and "not projected" in far.tile_text()
    short = estimate(trend(0.001, hours=4))
    assert short.t80_h is None and "fewer than" in short.note
    assert estimate(trend(0.003)).reached  # 80 % crossed within the data


def test_pixel_falling_faster_than_its_siblings():
    ests = [estimate(trend(0.0005, key=K(f"mpp:1/{i}"), pixel=p, seed=i)) for i, p in enumerate("ABC", 1)]
    ests.append(estimate(trend(0.002, key=K("mpp:1/4"), pixel="D", seed=9)))
    out = sibling_outliers(ests, 2.0)
    assert list(out) == [K("mpp:1/4")] and "DEV / D" in out[K("mpp:1/4")]
    assert sibling_outliers(ests, 0) == {}


def feed(store, kind, value, n=40, board=1, channel=1, sensor=None):
    if kind == "mpp":
        store.add([Sample("mpp", int((T + i) * 1e6), value, 0.0, 0.9, board=board, channel=channel) for i in range(n)])
    else:
        store.add([Sample(kind, int((T + i) * 1e6), value, sensor=sensor) for i in range(n)])


def test_lit_but_no_power_alarm_only_for_connected_channels_under_light():
    store = LiveStore(capacity=100)
    feed(store, "irradiance", 1000.0, sensor="g")
    feed(store, "mpp", 2e-6, channel=1)  # connected, nothing delivered: contact
    feed(store, "mpp", 0.0, channel=2)  # nothing connected there
    feed(store, "mpp", 4.5, channel=3)
    eng = AlarmEngine(AlarmSettings())
    raised = eng.evaluate(store, None, now=T + 40, connected={K("mpp:1/1"), K("mpp:1/3")})
    assert [(a.key, a.rule) for a in raised] == [(K("mpp:1/1"), "lit_no_power")]
    dark = LiveStore(capacity=100)
    feed(dark, "irradiance", 0.0, sensor="g")
    feed(dark, "mpp", 0.0, channel=1)
    assert AlarmEngine(AlarmSettings()).evaluate(dark, None, now=T + 40, connected={K("mpp:1/1")}) == []


def test_projection_alarms_and_tile_text():
    mon = LifetimeMonitor()
    rows = []
    for i, (p, rate) in enumerate(zip("ABCD", (0.0005, 0.0005, 0.0006, 0.0025)), 1):
        tr = trend(rate, hours=60, seed=i)
        rows += [HourlyPce(1, i, "DEV", p, t, v) for t, v in zip(tr.t, tr.pce)]
    mon.apply(rows)
    assert mon.trends[("DEV", "D")].t.size == 60
    mon.apply(rows[-3:])  # the newest hour again (incremental refresh): replaced, not duplicated
    assert mon.trends[("DEV", "D")].t.size == 60
    eng = AlarmEngine(AlarmSettings(projected_t80_min_h=150, sibling_rate_factor=2))
    store = LiveStore(capacity=10)
    raised = {(a.key, a.rule) for a in eng.evaluate(store, None, now=T, lifetime=mon)}
    assert (K("mpp:1/4"), "projected_t80") in raised and (K("mpp:1/4"), "faster_than_siblings") in raised
    assert not any(k == K("mpp:1/1") for k, _ in raised)
    known = Known([(1, 1), (1, 4)], {K("mpp:1/1"): Occupant("DEV", "A"), K("mpp:1/4"): Occupant("DEV", "D")})
    tiles = build_tiles(known, store, eng, 120, T, lifetime=mon)
    assert tiles[0].lifetime.startswith("PCE ") and "T80" in tiles[1].lifetime
    assert tiles[1].state == "alarm"


def test_hourly_trends_from_the_sample_folder(db_url, sample_dir):
    run_import(db_url, sample_dir)
    mon = LifetimeMonitor()
    with psycopg.connect(db_url) as conn:
        mon.refresh(conn)
        moved = mon.trends[("OK_240415_02", "B")]
        assert moved.key == K("mpp:2/4")  # where it sits now; its history includes the old channel
        assert 20 <= moved.t.size <= 26  # ~12 lit hours a day over two days
        assert moved.t.min() < 1_714_780_800  # 2024-05-04 00:00: hours on board 1 channel 2
        assert np.all((moved.pce > 10) & (moved.pce < 25))
        n = sum(t.t.size for t in mon.trends.values())
        mon.refresh(conn)  # incremental: only the newest hour is read again
        assert sum(t.t.size for t in mon.trends.values()) == n
    est = mon.estimates[K("mpp:1/1")]
    assert est.normalised is not None and 0.7 < est.normalised < 1.0
    assert mon.tile_text(K("mpp:1/1")).startswith("PCE ")


def test_tile_shows_the_projection(qtbot):
    from perocube_desktop.monitor.overview import Tile
    from perocube_desktop.ui.overview import TileGridWidget

    grid = TileGridWidget()
    qtbot.addWidget(grid)
    grid.resize(600, 150)
    text = estimate(trend(0.0007)).tile_text()
    grid.set_tiles([Tile(K("mpp:1/1"), "B1 C1", "DEV / A", "4.41 mW", 3.0, "live",
                         np.linspace(4, 4.4, 60).astype(np.float32), "Board 1", text)])
    image = grid.grab().toImage()
    assert not image.isNull() and image.width() >= 600
    assert len(text.splitlines()) == 2 and text.startswith("PCE 0.9")
