"""The live plots' drawing rules, on the real widget (pytest-qt, offscreen): gaps stay gaps,
the 1-hour view right after a start shows the data, panels appear when they have something
to show, and peak downsampling keeps every extreme."""

from __future__ import annotations

import time

import numpy as np
import pytest

from perocube_desktop.monitor.history import Series
from perocube_desktop.monitor.live import LiveStore
from perocube_desktop.ui.plots import PlotsPage, visible_peaks

pytestmark = pytest.mark.gui


def series(t: np.ndarray, columns: int = 3) -> Series:
    v = np.column_stack([np.sin(t / 600) + 4 + i for i in range(columns)])
    return Series(t, v, v, v, "raw")


@pytest.fixture
def page(qtbot):
    p = PlotsPage(LiveStore(), None)
    qtbot.addWidget(p)
    p.resize(1200, 800)
    p.show()
    return p


def test_gaps_are_not_bridged(page, qtbot):
    now = time.time()
    # 1-min samples, then 3 h without data (the app was not running), then 1-min samples again
    t = np.concatenate([np.arange(now - 6 * 3600, now - 4 * 3600, 60.0), np.arange(now - 3600, now, 60.0)])
    page.history = {"mpp:1/1": series(t)}
    page.set_window(6 * 3600)
    page.select(["mpp:1/1"])
    x, y = page.curves[("mpp:1/1", "power")].xData, page.curves[("mpp:1/1", "power")].yData
    hole = (x > now - 4 * 3600) & (x < now - 3600)
    assert hole.any() and np.isnan(y[hole]).all()  # a break inside the hole, no line across it
    assert np.isfinite(y[~hole]).all()


def test_one_hour_view_right_after_start_shows_the_data(page, qtbot):
    now = time.time()
    page.history = {"mpp:1/1": series(np.arange(now - 40, now, 1.0))}
    page.select(["mpp:1/1"])  # the 1-hour preset is the default
    (x0, x1), _ = page.plots["power"].viewRange()
    assert x0 > now - 120, "the view starts near the first sample, not an hour back"
    assert x1 >= now - 2


def test_panels_follow_selection_and_data(page, qtbot):
    now = time.time()
    page.history = {"mpp:1/1": series(np.arange(now - 600, now, 1.0)),
                    "temperature:a": series(np.arange(now - 600, now, 10.0), 1)}
    page.select(["mpp:1/1", "temperature:a", "irradiance:idle"])
    assert page.visible_panels() == ["power", "temperature"]  # the idle sensor leaves no empty panel
    page.show_panel("voltage", True)
    assert page.visible_panels() == ["power", "voltage", "temperature"]
    assert page.curves[("mpp:1/1", "voltage")].xData is not None
    page.select(["temperature:a"])
    assert page.visible_panels() == ["temperature"]
    assert not page.empty.isVisible()
    page.select([])
    assert page.empty.isVisible()


def test_peak_downsampling_keeps_extremes():
    t = np.arange(100_000, dtype=float)
    v = np.random.default_rng(1).normal(size=(t.size, 3))
    v[54_321, 1] = 50.0
    v[77_777, 2] = -50.0
    td, vd = visible_peaks(t, v, 0, t[-1], 1000)
    assert td.size <= 2 * 1000 + 200
    assert vd[:, 1].max() == 50.0 and vd[:, 2].min() == -50.0
    assert vd[:, 0].max() == v[:, 0].max() and vd[:, 0].min() == v[:, 0].min()
    # a narrow window: only its samples (and one either side), not downsampled
    td, vd = visible_peaks(t, v, 500, 600, 1000)
    assert td[0] == 499 and td[-1] == 601


def test_sparse_history_next_to_live_data_is_drawn(page, qtbot):
    from perocube_desktop.protocol import MPP, Sample

    now = time.time()
    # the whole run: two days of hour buckets long ago, then live samples at 1 Hz now
    old = np.arange(now - 400 * 86400, now - 398 * 86400, 3600.0)
    page.history = {"mpp:1/1": series(old)}
    page.store.add([Sample(MPP, int((now - 60 + i) * 1e6), 4.0, 4.5, 0.9, board=1, channel=1) for i in range(60)])
    page.set_window(None)
    page.follow.setChecked(False)
    page.select(["mpp:1/1"])
    page._set_x_range(old[0] - 86400, now)
    page._draw()
    x, y = page.curves[("mpp:1/1", "power")].xData, page.curves[("mpp:1/1", "power")].yData
    yp = y[x < now - 300]
    drawable = np.isfinite(yp[:-1]) & np.isfinite(yp[1:])  # segments connect='finite' draws
    assert drawable.sum() >= len(old) // 2, "the history is a line, not points cut apart by the live spacing"
    between = (x > old[-1]) & (x < now - 61)
    assert np.isnan(y[between]).all()  # and no line across the 400 days without data
