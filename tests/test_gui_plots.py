"""The live plots' drawing rules, on the real widget (pytest-qt, offscreen): gaps stay gaps,
the 1-hour view right after a start shows the data, panels appear when they have something
to show, peak downsampling keeps every extreme, and a sample alone between two gaps is a dot."""

from __future__ import annotations

import time

import numpy as np
import pyqtgraph as pg
import pytest
from PySide6.QtCore import Qt

from perocube_desktop.monitor.history import Series
from perocube_desktop.monitor.live import LiveStore
from perocube_desktop.ui.plot_data import stranded_points, whole_run_span
from perocube_desktop.ui.plots import PlotsPage, visible_peaks
from perocube_desktop.series_key import SeriesKey

K = SeriesKey.parse  # "mpp:1/3" -> the key


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
    page.history = {K("mpp:1/1"): series(t)}
    page.set_window(6 * 3600)
    page.select([K("mpp:1/1")])
    x, y = page.curves[(K("mpp:1/1"), "power")].xData, page.curves[(K("mpp:1/1"), "power")].yData
    hole = (x > now - 4 * 3600) & (x < now - 3600)
    assert hole.any() and np.isnan(y[hole]).all()  # a break inside the hole, no line across it
    assert np.isfinite(y[~hole]).all()


def test_one_hour_view_right_after_start_shows_the_data(page, qtbot):
    now = time.time()
    page.history = {K("mpp:1/1"): series(np.arange(now - 40, now, 1.0))}
    page.select([K("mpp:1/1")])  # the 1-hour preset is the default
    (x0, x1), _ = page.plots["power"].viewRange()
    assert x0 > now - 120, "the view starts near the first sample, not an hour back"
    assert x1 >= now - 2


def test_panels_follow_selection_and_data(page, qtbot):
    now = time.time()
    page.history = {K("mpp:1/1"): series(np.arange(now - 600, now, 1.0)),
                    K("temperature:a"): series(np.arange(now - 600, now, 10.0), 1)}
    page.select([K("mpp:1/1"), K("temperature:a"), K("irradiance:idle")])
    assert page.visible_panels() == ["power", "temperature"]  # the idle sensor leaves no empty panel
    page.show_panel("voltage", True)
    assert page.visible_panels() == ["power", "voltage", "temperature"]
    assert page.curves[(K("mpp:1/1"), "voltage")].xData is not None
    page.select([K("temperature:a")])
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
    assert td.size <= 4 * 1000 + 200
    assert vd[:, 1].max() == 50.0 and vd[:, 2].min() == -50.0
    assert vd[:, 0].max() == v[:, 0].max() and vd[:, 0].min() == v[:, 0].min()
    # a narrow window: only its samples (and one either side), not downsampled
    td, vd = visible_peaks(t, v, 500, 600, 1000)
    assert td[0] == 499 and td[-1] == 601


def test_peak_downsampling_keeps_short_runs_beside_gaps_and_breaks_at_them():
    """Zoomed out, a pixel column holding a gap and a few samples shows the samples and still
    breaks the line at the gap (a column with a NaN used to become all NaN: the run vanished)."""
    t = np.arange(10_000, dtype=float)
    v = np.full((t.size, 1), 1.0)
    v[3_000:6_000] = np.nan  # an outage ...
    v[4_500:4_502] = 7.0  # ... with two samples in the middle of it
    td, vd = visible_peaks(t, v, 0, t[-1], 100)  # 100 samples per pixel column
    assert (vd[:, 0] == 7.0).any(), "the two samples between the gaps must show"
    # the line breaks on both sides of them: NaN right before the first 7 and right after the last one
    sevens = np.flatnonzero(vd[:, 0] == 7.0)
    assert np.isnan(vd[sevens[0] - 1, 0]) and np.isnan(vd[sevens[-1] + 1, 0])
    # and nowhere is a line drawn from the 1.0 level straight into the outage
    finite = np.isfinite(vd[:, 0])
    inside = (td > 3_100) & (td < 5_900) & finite
    assert set(vd[inside, 0]) == {7.0}
    assert np.isnan(vd[(td > 3_000) & (td < 4_400), 0]).all()


def test_sparse_history_next_to_live_data_is_drawn(page, qtbot):
    from perocube_desktop.protocol import MPP, Sample

    now = time.time()
    # the whole run: two days of hour buckets long ago, then live samples at 1 Hz now
    old = np.arange(now - 400 * 86400, now - 398 * 86400, 3600.0)
    page.history = {K("mpp:1/1"): series(old)}
    page.store.add([Sample(MPP, int((now - 60 + i) * 1e6), 4.0, 4.5, 0.9, board=1, channel=1) for i in range(60)])
    page.set_window(None)
    page.follow.setChecked(False)
    page.select([K("mpp:1/1")])
    page._set_x_range(old[0] - 86400, now)
    page._draw()
    x, y = page.curves[(K("mpp:1/1"), "power")].xData, page.curves[(K("mpp:1/1"), "power")].yData
    yp = y[x < now - 300]
    drawable = np.isfinite(yp[:-1]) & np.isfinite(yp[1:])  # segments connect='finite' draws
    assert drawable.sum() >= len(old) // 2, "the history is a line, not points cut apart by the live spacing"
    between = (x > old[-1]) & (x < now - 61)
    assert np.isnan(y[between]).all()  # and no line across the 400 days without data


def test_whole_run_of_an_ended_run_ends_at_its_last_sample():
    day = 86400.0
    now = 1_000 * day
    # a run that ended 944 days ago (the imported sample folder): the axis ends just after its data
    t0, t1 = whole_run_span(now - 946 * day, now - 944 * day, now)
    assert t0 == now - 946 * day and now - 944 * day < t1 < now - 943.9 * day
    # a run that goes on (last sample a minute ago) or paused briefly: up to now
    assert whole_run_span(now - 30 * day, now - 60, now) == (now - 30 * day, now)
    assert whole_run_span(now - 30 * day, now - day, now) == (now - 30 * day, now)  # 1 day of 30: within 5 %
    # a short run that stopped two hours ago: its own span, not two hours of nothing
    t0, t1 = whole_run_span(now - 3 * 3600, now - 2 * 3600, now)
    assert t1 < now - 2 * 3600 + 120


def test_stranded_points_are_the_runs_no_segment_shows():
    nan = np.nan
    t = np.arange(9.0)
    v = np.array([1.0, nan, 2.0, nan, nan, 3.0, 4.0, nan, 5.0])[:, None]
    ts, vs = stranded_points(t, v)  # first and last count; a pair of samples is a segment
    assert ts.tolist() == [0.0, 2.0, 8.0] and vs[:, 0].tolist() == [1.0, 2.0, 5.0]
    assert stranded_points(t[:3], np.full((3, 1), nan))[0].size == 0
    assert stranded_points(np.array([5.0]), np.array([[7.0]]))[1].tolist() == [[7.0]]  # the only sample
    assert stranded_points(t[:2], np.ones((2, 3)))[1].shape == (0, 3)
    # a peak column with a gap on both sides: its points share one x, so they are stranded too
    ts, vs = stranded_points(np.array([0.0, 1.0, 2.0, 2.0, 2.0, 2.0, 3.0]),
                             np.array([[1.0, 1.0], [1.5, 2.0], [nan, 3.0], [6.0, 4.0], [6.5, 5.0], [nan, 6.0],
                                       [nan, 7.0]]))
    assert ts.tolist() == [2.0, 2.0] and np.array_equal(vs, [[6.0, nan], [6.5, nan]], equal_nan=True)


def dots(curve) -> list[tuple[float, float]]:
    x, y = curve.markers.getData()
    return list(zip(x.tolist(), y.tolist())) if curve.markers.isVisible() else []


def test_a_sample_alone_between_two_gaps_is_drawn_as_a_dot(page, qtbot):
    now = time.time()
    # 1-min samples, a 30-min outage, one sample, another outage, 1-min samples again
    t = np.concatenate([np.arange(now - 3 * 3600, now - 2 * 3600, 60.0), [now - 5400.0],
                        np.arange(now - 3600, now, 60.0)])
    h = series(t)
    alone = int(np.flatnonzero(t == now - 5400.0)[0])
    h.mean[alone] = [9.0, 1.1, 2.2]
    page.history = {K("mpp:1/1"): h, K("mpp:1/2"): series(np.arange(now - 3 * 3600, now, 60.0))}
    page.set_window(6 * 3600)
    page.select([K("mpp:1/1"), K("mpp:1/2")])
    power = page.curves[(K("mpp:1/1"), "power")]
    assert dots(power) == [(now - 5400.0, 9.0)]
    assert dots(page.curves[(K("mpp:1/2"), "power")]) == []  # a series without gaps has no dots
    voltage = page.curves[(K("mpp:1/1"), "voltage")]
    assert not voltage.isVisible()  # voltage panel not ticked: no dots either
    page.show_panel("voltage", True)
    assert dots(voltage) == [(now - 5400.0, 1.1)] and voltage.markers.isVisible()

    # the readout under the mouse gives the sample's value, also a little to the right of it (where
    # the gap's NaN break is the next sample)
    plot = page.plots["power"]
    scene_pos = plot.vb.mapViewToScene(pg.Point(now - 5400.0, 9.0))
    for dx in (0.0, 20.0, -20.0):
        page._mouse_moved((plot.vb.mapViewToScene(pg.Point(now - 5400.0 + dx, 9.0)),))
        assert "mpp:1/1: 9 mW" in page.readout.text()
    # a click on the dot highlights the series like a click on its line; the dot is faded like the line
    qtbot.mouseClick(page.glw.viewport(), Qt.MouseButton.LeftButton, pos=page.glw.mapFromScene(scene_pos))
    assert page.highlight == K("mpp:1/1")
    assert power.markers.opts["brush"].color().alpha() == 255
    page.set_highlight(K("mpp:1/2"))
    assert power.markers.opts["brush"].color().alpha() == 50

    # removed from the selection: the dots go with the line
    page.select([K("mpp:1/2")])
    assert power.scene() is None and power.markers.scene() is None


def test_a_dot_survives_peak_downsampling_and_counts_for_the_y_range(page, qtbot):
    now = time.time()
    # 1-s samples (far more than pixels): a 10-min outage, one sample, another outage
    t = np.concatenate([np.arange(now - 6 * 3600, now - 3 * 3600, 1.0), [now - 2.5 * 3600],
                        np.arange(now - 2 * 3600, now, 1.0)])
    h = series(t)
    alone = int(np.flatnonzero(t == now - 2.5 * 3600)[0])
    h.mean[alone, 0] = 20.0
    page.history = {K("mpp:1/1"): h}
    page.set_window(6 * 3600)
    page.select([K("mpp:1/1")])
    power = page.curves[(K("mpp:1/1"), "power")]
    assert power.xData.size < t.size // 4  # downsampled: the lone sample shares a column with a gap break
    assert dots(power) == [(now - 2.5 * 3600, 20.0)]
    (_x, (y0, y1)) = page.plots["power"].viewRange()
    assert y0 < 4.0 and y1 > 20.0
