"""The Reports page's "Export for NOMAD…" (pytest-qt, offscreen): the dialog runs the export and the
upload in the worker against a loopback NOMAD, shows the progress, and says what went wrong in one line."""

from __future__ import annotations

import os
import zipfile

import pytest
from nomad_server import FakeNomad

from perocube_desktop.export.nomad_upload import TOKEN_ENV

TOKEN = "secret-token"


@pytest.fixture
def page(reports_page):
    return reports_page()


def upload_dialog(page, qtbot, server, out):
    """The page's NOMAD dialog set to export to ``out`` and upload to ``server``."""
    dialog = page.export_nomad()
    qtbot.addWidget(dialog)
    dialog.out.setText(str(out))
    dialog.upload.setChecked(True)
    dialog.url.setText(server.url)
    return dialog


def test_export_for_nomad_with_upload(page, qtbot, tmp_path, monkeypatch):
    monkeypatch.setenv(TOKEN_ENV, TOKEN)
    steps = []
    with FakeNomad(TOKEN) as server:
        dialog = upload_dialog(page, qtbot, server, tmp_path / "up.zip")
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
        dialog = upload_dialog(page, qtbot, server, tmp_path / "up.zip")
        with qtbot.waitSignal(dialog.finished_job, timeout=120000) as blocker:
            dialog.start()
    assert blocker.args[0] is None
    assert "401 Unauthorized" in dialog.status.text() and "\n" not in dialog.status.text()
    page.mode.setCurrentIndex(1)  # a board is not a set of devices
    assert page.export_nomad() is None and "choose a device" in page.status.text()
