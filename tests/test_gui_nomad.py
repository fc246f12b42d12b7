"""The Reports page's "Export for NOMAD…" (pytest-qt, offscreen): the dialog runs the export and the
upload in the worker against a loopback NOMAD, shows the progress, and says what went wrong in one line."""

from __future__ import annotations

import os
import zipfile

import pytest
from nomad_server import FakeNomad

from perocube_desktop.config import Settings
from perocube_desktop.export.nomad_upload import TOKEN_ENV

TOKEN = "secret-token"


@pytest.fixture
def page(qtbot, db_url, sample_dir):
    from psycopg_pool import ConnectionPool

    from perocube_desktop.importer.engine import run_import
    from perocube_desktop.ui.reports import ReportsPage

    run_import(db_url, sample_dir)
    pool = ConnectionPool(db_url, min_size=1, max_size=2, open=True)
    try:
        page = ReportsPage(Settings(), pool, db_url)
        qtbot.addWidget(page)
        qtbot.waitUntil(lambda: page.device.count() > 0, timeout=15000)
        page.device.setCurrentText("OK_240415_02")
        yield page
    finally:
        pool.close()


def test_export_for_nomad_with_upload(page, qtbot, tmp_path, monkeypatch):
    monkeypatch.setenv(TOKEN_ENV, TOKEN)
    steps = []
    with FakeNomad(TOKEN) as server:
        dialog = page.export_nomad()
        qtbot.addWidget(dialog)
        dialog.out.setText(str(tmp_path / "up.zip"))
        dialog.upload.setChecked(True)
        dialog.url.setText(server.url)
        dialog.progress.valueChanged.connect(lambda v: steps.append((v, dialog.progress.maximum())))
        with qtbot.waitSignal(dialog.finished_job, timeout=120000) as blocker:
            dialog.start()
        result = blocker.args[0]
        assert result is not None and result.upload is not None and not result.upload.failed
        assert len(server.uploads) == 1
    names = zipfile.ZipFile(tmp_path / "up.zip").namelist()
    assert "OK_240415_02/OK_240415_02_A_mpp_tracking.archive.json" in names
    assert "Uploaded and processed, not published" in dialog.status.text() and result.upload.url in dialog.status.text()
    assert len({m for _v, m in steps}) >= 2  # the export's and the upload's progress
    dialog.grab().save(str(tmp_path / "nomad-dialog.png"))
    shots = os.environ.get("PEROCUBE_SCREENSHOT_DIR")
    if shots:
        dialog.grab().save(os.path.join(shots, "nomad-dialog.png"))
        page.resize(1366, 768)
        page.grab().save(os.path.join(shots, "reports-page.png"))


def test_export_for_nomad_errors_in_one_line(page, qtbot, tmp_path, monkeypatch):
    monkeypatch.setenv(TOKEN_ENV, "expired")
    with FakeNomad(TOKEN) as server:
        dialog = page.export_nomad()
        qtbot.addWidget(dialog)
        dialog.out.setText(str(tmp_path / "up.zip"))
        dialog.upload.setChecked(True)
        dialog.url.setText(server.url)
        with qtbot.waitSignal(dialog.finished_job, timeout=120000) as blocker:
            dialog.start()
    assert blocker.args[0] is None
    assert "401 Unauthorized" in dialog.status.text() and "\n" not in dialog.status.text()
    page.mode.setCurrentIndex(1)  # a board is not a set of devices
    assert page.export_nomad() is None and "choose a device" in page.status.text()
