"""Registry page flows with pytest-qt on the real database."""

from __future__ import annotations

from datetime import timedelta

import pytest
from psycopg_pool import ConnectionPool
from PySide6.QtCore import QDateTime, QThreadPool

from perocube_desktop.registry.repository import RegistryRepository
from perocube_desktop.registry.wiring import WiringService
from perocube_desktop.ui.registry import EntityDialog, RegistryPage
from perocube_desktop.db.session import POOL_KWARGS

pytestmark = pytest.mark.gui


@pytest.fixture
def page(qtbot, db_url):
    pool = ConnectionPool(db_url, min_size=1, max_size=3, open=True, kwargs=POOL_KWARGS)
    repo = RegistryRepository(pool)
    p = RegistryPage(repo, WiringService(repo))
    qtbot.addWidget(p)
    yield p
    qtbot.waitUntil(lambda: QThreadPool.globalInstance().activeThreadCount() == 0, timeout=10000)
    pool.close()


def run(qtbot, signal, action, timeout=15000):
    """Do ``action`` and wait until the tab says it is done (everything runs in the background)."""
    qtbot.waitUntil(lambda: QThreadPool.globalInstance().activeThreadCount() == 0, timeout=timeout)
    with qtbot.waitSignal(signal, timeout=timeout):
        action()


def test_new_device_connect_move_disconnect(page, qtbot):
    nd = page.new_device
    nd.form.edits["name"].setText("OK_2411_01")
    nd.form.edits["area"].setText("-2")
    nd.save()
    qtbot.waitUntil(lambda: not nd.saving)
    assert "greater than 0" in nd.form.errors["area"].text()  # shown next to the field, nothing saved
    assert page.repo.list("device") == []
    nd.form.edits["area"].setText("1.0")
    nd.pixels.setText("A, B")
    nd.area.setText("0.25")
    with qtbot.waitSignal(nd.saved):
        nd.save()
    assert "Saved OK_2411_01" in nd.message.text()
    assert sorted(r["pixel"] for r in page.repo.list("pixel")) == ["A", "B"]
    # the next new device starts from the last entry's values
    assert nd.form.edits["area"].text() == "1.0"

    w = page.wiring
    run(qtbot, w.done, w.reload)
    w.device.setCurrentIndex(w.device.findData("OK_2411_01"))
    w.pixel.setCurrentText("A")
    w.board.setValue(1)
    w.channel.setValue(1)
    w.when.setDateTime(QDateTime.currentDateTime().addSecs(-3600))
    run(qtbot, w.done, w.connect_pixel)
    assert "connected to board 1 channel 1" in w.message.text()
    # B onto the same channel at the same time: refused with the reason
    w.pixel.setCurrentText("B")
    run(qtbot, w.done, w.connect_pixel)
    assert "holds OK_2411_01 / A" in w.message.text()
    # move A to 2/3, then B can take 1/1
    w.pixel.setCurrentText("A")
    w.board.setValue(2)
    w.channel.setValue(3)
    w.when.setDateTime(QDateTime.currentDateTime().addSecs(-1800))
    run(qtbot, w.done, w.move_pixel)
    assert "moved to board 2 channel 3" in w.message.text()
    w.pixel.setCurrentText("B")
    w.board.setValue(1)
    w.channel.setValue(1)
    run(qtbot, w.done, w.connect_pixel)
    assert "connected" in w.message.text()
    w.pixel.setCurrentText("A")
    w.when.setDateTime(QDateTime.currentDateTime().addSecs(-60))
    run(qtbot, w.done, w.disconnect_pixel)
    assert "disconnected" in w.message.text()
    w.at.setDateTime(QDateTime.currentDateTime())
    run(qtbot, w.done, w.show_wiring)
    rows = {(w.table.item(r, 0).text(), w.table.item(r, 1).text()): w.table.item(r, 4).text()
            for r in range(w.table.rowCount())}
    assert rows == {("1", "1"): "connected", ("2", "3"): "free"}
    run(qtbot, page.audit.loaded, page.audit.reload)
    assert page.audit.table.rowCount() >= 7


def test_concurrent_edit_refused_in_dialog(page, qtbot):
    page.repo.save("channel", {"board": "1", "channel": "2", "com_port": "COM3"})
    row = page.repo.list("channel")[0]
    dlg = EntityDialog(page.tabs["channel"].entity, page.repo, row)
    qtbot.addWidget(dlg)
    dlg.show()
    # another operator saves first
    other = RegistryRepository(page.repo.pool)
    other.save("channel", {**row, "com_port": "COM9"}, original=row)
    dlg.form.edits["current_limit"].setText("20")
    dlg.save()
    qtbot.waitUntil(lambda: not dlg.saving)
    assert "someone else saved this row" in dlg.message.text() and "COM9" in dlg.message.text()
    assert dlg.result() == 0  # still open, still filled in
    assert dlg.form.edits["current_limit"].text() == "20"


def test_correct_past_event_with_confirmation(page, qtbot):
    import psycopg

    page.repo.save("device", {"name": "D9"})
    page.repo.save("pixel", {"solar_cell_id": "D9", "pixel": "A"})
    w = page.wiring
    run(qtbot, w.done, w.reload)
    w.device.setCurrentIndex(w.device.findData("D9"))
    w.pixel.setCurrentText("A")
    w.board.setValue(7)
    w.channel.setValue(1)
    start = QDateTime.currentDateTime().addSecs(-4 * 3600)
    w.when.setDateTime(start)
    run(qtbot, w.done, w.connect_pixel)
    w.when.setDateTime(start.addSecs(3600))
    run(qtbot, w.done, w.disconnect_pixel)
    t0 = start.toPython().astimezone()
    with psycopg.connect(page.repo.pool.conninfo) as conn:
        with conn.cursor().copy('COPY mpp_measurement ("timestamp", power, tracking_channel_board,'
                                " tracking_channel_channel) FROM STDIN") as cp:
            for m in range(0, 180):
                cp.write_row((t0 + timedelta(minutes=m), 1.0, 7, 1))
    run(qtbot, w.done, w.show_timeline)
    w.table.selectRow(1)  # the DISCONNECTED event
    w.when.setDateTime(start.addSecs(2 * 3600))
    asked = []
    run(qtbot, w.done, lambda: w.correct_event(delete=False, confirm=lambda text: asked.append(text) or False))
    assert "60 measurements of board 7 channel 1" in asked[0]
    assert [r[1] for r in w.wiring.timeline("D9", "A")][1] == "DISCONNECTED"
    run(qtbot, w.done, lambda: w.correct_event(delete=False, confirm=lambda text: True))
    assert "corrected" in w.message.text()
    moved = w.wiring.timeline("D9", "A")[1][0]
    assert abs((moved - t0).total_seconds() - 7200) < 60


def test_settings_dialog_validates_writes_and_applies(qtbot, db_url, tmp_path):
    from perocube_desktop import config
    from perocube_desktop.config import Settings
    from perocube_desktop.ui.settings_dialog import SettingsDialog

    from perocube_desktop.db.probe import server_version

    s = Settings()
    dlg = SettingsDialog(s, None, probe=server_version)
    qtbot.addWidget(dlg)
    dlg.db_url.setText(db_url)
    dlg.test_connection()
    qtbot.waitUntil(lambda: dlg.test_button.isEnabled())
    assert dlg.db_result.text().startswith("✔ connected: PostgreSQL")
    dlg.db_url.setText("postgresql://lab:secret@db/perocube")
    dlg.test_connection()
    qtbot.waitUntil(lambda: dlg.test_button.isEnabled())
    assert "password" in dlg.db_result.text()
    dlg.db_url.setText("")
    dlg.allow.setText("127.0.0.1, not-an-address")
    dlg.save()
    assert "not an IP address" in dlg.error.text() and dlg.result() == 0
    dlg.allow.setText("127.0.0.1, 10.1.2.0/24")
    dlg.port.setValue(5055)
    dlg.alarm_edits["stale_after_s"].setValue(42)
    dlg.save()
    assert s.alarms.stale_after_s == 42 and s.receiver.allow == ["127.0.0.1", "10.1.2.0/24"]
    saved = config.load()  # the YAML in the (test's own) config folder
    assert saved.receiver.port == 5055 and saved.alarms.stale_after_s == 42
