"""Registry page flows with pytest-qt on the real database."""

from __future__ import annotations

from datetime import timedelta

import pytest
from psycopg_pool import ConnectionPool
from PySide6.QtCore import QDateTime

from perocube_desktop.registry.repository import RegistryRepository
from perocube_desktop.ui.registry import EntityDialog, RegistryPage

pytestmark = pytest.mark.gui


@pytest.fixture
def page(qtbot, db_url):
    pool = ConnectionPool(db_url, min_size=1, max_size=3, open=True)
    p = RegistryPage(pool)
    qtbot.addWidget(p)
    yield p
    pool.close()


def test_new_device_connect_move_disconnect(page, qtbot):
    nd = page.new_device
    nd.form.edits["name"].setText("OK_2411_01")
    nd.form.edits["area"].setText("-2")
    nd.save()
    assert "greater than 0" in nd.form.errors["area"].text()  # shown next to the field, nothing saved
    assert page.repo.list("device") == []
    nd.form.edits["area"].setText("1.0")
    nd.pixels.setText("A, B")
    nd.area.setText("0.25")
    nd.save()
    assert "Saved OK_2411_01" in nd.message.text()
    assert sorted(r["pixel"] for r in page.repo.list("pixel")) == ["A", "B"]
    # the next new device starts from the last entry's values
    assert nd.form.edits["area"].text() == "1.0"

    w = page.wiring
    w.reload()
    w.device.setCurrentIndex(w.device.findData("OK_2411_01"))
    w.pixel.setCurrentText("A")
    w.board.setValue(1)
    w.channel.setValue(1)
    w.when.setDateTime(QDateTime.currentDateTime().addSecs(-3600))
    w.connect_pixel()
    assert "connected to board 1 channel 1" in w.message.text()
    # B onto the same channel at the same time: refused with the reason
    w.pixel.setCurrentText("B")
    w.connect_pixel()
    assert "holds OK_2411_01 / A" in w.message.text()
    # move A to 2/3, then B can take 1/1
    w.pixel.setCurrentText("A")
    w.board.setValue(2)
    w.channel.setValue(3)
    w.when.setDateTime(QDateTime.currentDateTime().addSecs(-1800))
    w.move_pixel()
    assert "moved to board 2 channel 3" in w.message.text()
    w.pixel.setCurrentText("B")
    w.board.setValue(1)
    w.channel.setValue(1)
    w.connect_pixel()
    assert "connected" in w.message.text()
    w.pixel.setCurrentText("A")
    w.when.setDateTime(QDateTime.currentDateTime().addSecs(-60))
    w.disconnect_pixel()
    assert "disconnected" in w.message.text()
    w.at.setDateTime(QDateTime.currentDateTime())
    w.show_wiring()
    rows = {(w.table.item(r, 0).text(), w.table.item(r, 1).text()): w.table.item(r, 4).text()
            for r in range(w.table.rowCount())}
    assert rows == {("1", "1"): "connected", ("2", "3"): "free"}
    page.audit.reload()
    assert page.audit.table.rowCount() >= 7


def test_concurrent_edit_refused_in_dialog(page, qtbot):
    page.repo.save("channel", {"board": "1", "channel": "2", "com_port": "COM3"})
    row = page.repo.list("channel")[0]
    dlg = EntityDialog(page.tabs["channel"].entity, page.repo, row)
    qtbot.addWidget(dlg)
    # another operator saves first
    other = RegistryRepository(page.repo.pool)
    other.save("channel", {**row, "com_port": "COM9"}, original=row)
    dlg.form.edits["current_limit"].setText("20")
    dlg.save()
    assert "someone else saved this row" in dlg.message.text() and "COM9" in dlg.message.text()
    assert dlg.result() == 0  # still open, still filled in
    assert dlg.form.edits["current_limit"].text() == "20"
