"""The main window with the real receiver, simulator and database (pytest-qt, offscreen)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone

import psycopg
import pytest
from PySide6.QtCore import Qt

from perocube_desktop.config import Settings
from perocube_desktop.monitor.overview import LIVE, STALE
from perocube_desktop.series_key import SeriesKey


from helpers import LineClient, mpp

K = SeriesKey.parse  # "mpp:1/3" -> the key

pytestmark = pytest.mark.gui


@pytest.fixture
def app(gui_app, db_url):
    """``start(demo=False, **alarm_settings)``: the App on this test's database (conftest's ``gui_app``)."""

    def start(demo=False, **alarm_settings):
        settings = Settings()
        for k, v in alarm_settings.items():
            setattr(settings.alarms, k, v)
        return gui_app(settings, db=db_url, demo=demo)

    return start


def npoints(curve) -> int:
    return 0 if curve.xData is None else len(curve.xData)


def tile(window, key):
    return next((t for t in window.overview.grid.tiles if t.key == key), None)


def test_channels_appear_and_plot(app, qtbot, backend):
    a = app(demo=True)
    w = a.window
    qtbot.waitUntil(lambda: tile(w, K("mpp:2/8")) is not None and tile(w, K("mpp:2/8")).state == LIVE, timeout=15000)
    assert tile(w, K("mpp:1/1")).value.endswith("mW")
    # click a tile: the channel is plotted
    w.plot_channel(K("mpp:1/3"), False)
    assert w.plots.selected == [K("mpp:1/3")] and w.stack.currentWidget() is w.plots
    qtbot.waitUntil(lambda: npoints(w.plots.curves[(K("mpp:1/3"), "power")]) >= 2, timeout=10000)
    # a whole board at once
    w.plot_keys([K(f"mpp:1/{c}") for c in range(1, 9)])
    assert len([k for k in w.plots.curves if k[1] == "power"]) == 8
    # the status bar reports the receiver and the database
    qtbot.waitUntil(lambda: "1 client" in w.lbl_receiver.text(), timeout=5000)
    assert w.lbl_db.text() == "Database connected"
    assert w.lbl_backend.text() == ("TimescaleDB" if backend == "timescaledb" else "plain PostgreSQL")


def test_stale_channel_and_alarm_acknowledged(app, qtbot, db_url):
    with psycopg.connect(db_url) as conn:
        conn.execute("INSERT INTO solar_cell_device (name) VALUES ('DEV1')")
        conn.execute("INSERT INTO solar_cell_pixel (solar_cell_id, pixel) VALUES ('DEV1', 'A')")
        conn.execute("INSERT INTO mpp_tracking_channel (board, channel) VALUES (4, 1)")
        conn.execute("INSERT INTO measurement_connection_event (solar_cell_id, pixel, tracking_channel_board,"
                     " tracking_channel_channel, connection_datetime, event_type) VALUES ('DEV1', 'A', 4, 1, now(), 'CONNECTED')")
    a = app(stale_after_s=2.0, temperature_max_c=40.0)
    w = a.window
    c = LineClient(a.service.receiver.port)
    now = time.time()
    assert c.request({"type": "mpp", "data": {"timestamp": now, "power": 3.0, "current": 3.0, "voltage": 1.0},
                      "metadata": {"board": 4, "channel": 1}}) == "ACK 1"
    assert c.request({"type": "temperature", "data": {"timestamp": now, "temperature": 55.0},
                      "metadata": {"sensor_identifier": "m7004_ID_00000000000000AB"}}) == "ACK 1"
    # the sample arrived (on a busy machine the 2-s 'live' state may already have turned stale)
    qtbot.waitUntil(lambda: tile(w, K("mpp:4/1")) is not None and tile(w, K("mpp:4/1")).value.endswith("mW"), timeout=10000)
    qtbot.waitUntil(lambda: "DEV1 / A" in tile(w, K("mpp:4/1")).label, timeout=15000)
    # a device's pixels as one selection
    idx = w.plots.device_pick.findText("DEV1")
    w.plots._device_picked(idx)
    assert w.plots.selected == [K("mpp:4/1")]
    # nothing more arrives: the connected channel turns stale and raises an alarm
    qtbot.waitUntil(lambda: (K("mpp:4/1"), "stale") in w.alarms.alarms, timeout=10000)
    assert tile(w, K("mpp:4/1")).state in ("alarm", STALE)
    temp = [al for al in w.alarms.alarms.values() if al.rule == "temperature"]
    assert temp and "55.0 °C" in temp[0].text
    w.alarm_widget.refresh()
    row = w.alarm_widget._idents.index(temp[0].ident)
    w.alarm_widget.table.selectRow(row)
    w.alarm_widget.acknowledge_selected()
    assert w.alarms.alarms[temp[0].ident].acknowledged
    c.close()


def test_time_window_presets_load_history(app, qtbot, db_url):
    t0 = datetime.now(timezone.utc) - timedelta(days=3)
    with psycopg.connect(db_url) as conn:
        conn.execute("INSERT INTO mpp_tracking_channel (board, channel) VALUES (9, 1)")
        with conn.cursor().copy("COPY mpp_measurement (\"timestamp\", power, current, voltage, tracking_channel_board,"
                                " tracking_channel_channel) FROM STDIN") as cp:
            for i in range(0, 3 * 8640):
                cp.write_row((t0 + timedelta(seconds=10 * i), 1.0 + (i % 100) / 100, 1.0, 1.0, 9, 1))
        conn.execute("INSERT INTO rollup_dirty (kind, t0, t1) VALUES ('mpp', %s, now())", (t0,))
        conn.execute("SELECT perocube_refresh_rollups()")
    a = app()
    w = a.window
    w.plots.select([K("mpp:9/1")])
    for _name, seconds in [("1 h", 3600), ("24 h", 86400), ("Whole run", None)]:
        with qtbot.waitSignal(w.plots.history_loaded, timeout=10000):
            w.plots.set_window(seconds)
        series = w.plots.history[K("mpp:9/1")]
        x = w.plots.curves[(K("mpp:9/1"), "power")].xData
        assert x is not None and len(x) > 10
        if seconds == 3600:
            assert series.source == "raw" and len(x) >= 300
        if seconds is None:
            assert series.source in ("1m", "binned raw") and x[0] <= t0.timestamp() + 120


def test_smoke_test_exits_zero(db_url, tmp_path):
    shot = tmp_path / "shot.png"
    out = subprocess.run([sys.executable, "-m", "perocube_desktop", "--db", db_url, "--demo", "--port", "0",
                          "--smoke-test", "4", "--screenshot", str(shot), "--page", "overview"],
                         env=dict(os.environ, QT_QPA_PLATFORM="offscreen"), capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert shot.exists() and shot.stat().st_size > 10000


def test_quarantine_panel_shows_rejected_input(app, qtbot):
    a = app()
    w = a.window
    c = LineClient(a.service.receiver.port)
    assert c.request("this is not json").startswith("ERR BAD_JSON")
    c.close()
    panel = w.log_panel

    def shown():
        panel.refresh_quarantine()
        qtbot.wait(200)
        return any("BAD_JSON" in (panel.table.item(r, 3).text() if panel.table.item(r, 3) else "")
                   for r in range(panel.table.rowCount()))

    qtbot.waitUntil(shown, timeout=15000)
    panel.drain()
    assert "BAD_JSON" in panel.text.toPlainText()


def test_alarm_dock_starts_with_room_for_six_alarms_and_keeps_a_saved_height(app, qtbot):
    from perocube_desktop.ui.alarms_widget import ALARM_ROWS

    w = app().window
    table = w.alarm_widget.table
    six = w.alarm_widget.rows_height(ALARM_ROWS)
    # sized once the window is laid out: six rows without scrolling (a 950-px window has room)
    qtbot.waitUntil(lambda: w._docks_sized, timeout=5000)
    qtbot.waitUntil(lambda: table.viewport().height() >= ALARM_ROWS * table.verticalHeader().defaultSectionSize(),
                    timeout=5000)
    assert six <= w.alarm_widget.height() <= w.height() // 3
    # the operator makes it smaller; the next start restores that height instead of the default
    w.resizeDocks([w.alarm_dock], [140], Qt.Orientation.Vertical)
    qtbot.waitUntil(lambda: w.alarm_dock.height() < 160, timeout=5000)
    saved = w.alarm_dock.height()
    w.close()  # saves the layout
    w2 = app().window
    qtbot.wait(300)  # past the first show's layout, where Qt applies a restored state
    assert w2._docks_sized and abs(w2.alarm_dock.height() - saved) <= 2


def test_status_bar_shows_a_failed_buffer_commit(app, qtbot):
    """A failed commit of the local disk buffer reached only the log; its clients just got no ACK."""
    a = app()
    w = a.window
    buffer = a.service.buffer
    c = LineClient(a.service.receiver.port)
    assert c.request(mpp(1714745000, board=3)) == "ACK 1"  # the commit thread has its SQLite connection
    for conn in list(buffer._all):  # a full disk, for real: SQLite may not grow the file any more
        pages = conn.execute("PRAGMA page_count").fetchone()[0]
        conn.execute(f"PRAGMA max_page_count = {pages}")
    batch = {"type": "mpp", "metadata": {"board": 3, "channel": 1}, "data": [
        {"timestamp": 1714745230 + i, "power": 1.0, "current": 2.0, "voltage": 0.5} for i in range(5000)]}
    with pytest.raises((ConnectionError, OSError)):  # no ACK: the connection is dropped, the client re-sends
        c.request(batch)
    c.close()
    st = a.service.status()
    assert "full" in (st.buffer_error or "") and time.time() - (st.buffer_error_at or 0) < 60
    qtbot.waitUntil(lambda: "buffer commit failed" in w.lbl_buffer.text(), timeout=10000)
    assert "full" in w.lbl_buffer.toolTip()
    for conn in list(buffer._all):
        conn.execute("PRAGMA max_page_count = 1073741823")
