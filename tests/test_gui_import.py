"""The import wizard driven through to its summary (pytest-qt, real files, real database)."""

from __future__ import annotations

import csv

import psycopg
import pytest

from perocube_desktop.config import Settings
from perocube_desktop.ui.import_wizard import ImportWizard
from perocube_desktop.db.session import POOL_KWARGS

from conftest import MPP_GOOD

pytestmark = pytest.mark.gui


def test_wizard_to_summary(qtbot, db_url, sample_dir, tmp_path):
    wiz = ImportWizard(Settings(), db_url)
    qtbot.addWidget(wiz)
    wiz.show()
    wiz.folder_page.path.setText(str(sample_dir))
    assert wiz.folder_page.isComplete()
    wiz.next()
    qtbot.waitUntil(lambda: wiz.scan_page.done, timeout=30000)
    kinds = {wiz.scan_page.table.item(r, 1).text() for r in range(wiz.scan_page.table.rowCount())}
    assert {"mpp", "temperature", "irradiance", "logbook", "skipped"} <= kinds
    expected = sum(r.new_rows for r in wiz.scan_page.rows)
    # lines to read: every good row plus duplicates, blank and bad lines
    assert expected >= MPP_GOOD + 4 * (1440 + 1433)
    assert f"{expected:,} new rows expected" in wiz.scan_page.status.text()
    wiz.scan_page.kind.setCurrentText("skipped")
    assert wiz.scan_page.table.rowCount() == 5
    wiz.next()
    wiz.options_page.tz.setCurrentText("Mars/Olympus")
    wiz.next()
    assert wiz.currentPage() is wiz.options_page and "unknown time zone" in wiz.options_page.error.text()
    wiz.options_page.tz.setCurrentText("UTC")
    wiz.next()
    qtbot.waitUntil(lambda: wiz.currentPage() is wiz.summary_page, timeout=60000)
    s = wiz.summary
    assert s.inserted["mpp"] == MPP_GOOD and s.logbook["events"] == 22
    assert f"Inserted: mpp {MPP_GOOD:,}" in wiz.summary_page.text.text()
    assert wiz.summary_page.table.rowCount() == len(s.problems) + len(s.skipped_files)
    out = tmp_path / "summary.csv"
    wiz.summary_page.export_csv(str(out))
    rows = list(csv.DictReader(out.open()))
    assert any(r["section"] == "problem" and r["line"] == "145" for r in rows)
    with psycopg.connect(db_url) as conn:
        assert conn.execute("SELECT count(*) FROM mpp_measurement").fetchone()[0] == MPP_GOOD


def test_wizard_cancel_then_resume(qtbot, db_url, sample_dir):
    wiz = ImportWizard(Settings(), db_url)
    qtbot.addWidget(wiz)
    wiz.show()
    wiz.folder_page.path.setText(str(sample_dir))
    wiz.next()
    qtbot.waitUntil(lambda: wiz.scan_page.done, timeout=30000)
    wiz.next()
    wiz.next()
    wiz.run_page.cancel()  # cancelled before the first file finishes
    qtbot.waitUntil(lambda: wiz.summary is not None, timeout=60000)
    assert wiz.summary.cancelled
    # a new run continues and ends with the same totals
    from perocube_desktop.importer.engine import run_import

    run_import(db_url, sample_dir)
    with psycopg.connect(db_url) as conn:
        assert conn.execute("SELECT count(*) FROM mpp_measurement").fetchone()[0] == MPP_GOOD


def test_reports_page_preview_and_export(qtbot, db_url, sample_dir, tmp_path):
    from psycopg_pool import ConnectionPool

    from perocube_desktop.importer.engine import run_import
    from perocube_desktop.ui.reports import ReportsPage

    run_import(db_url, sample_dir)
    pool = ConnectionPool(db_url, min_size=1, max_size=2, open=True, kwargs=POOL_KWARGS)
    try:
        page = ReportsPage(Settings(), pool, db_url)
        qtbot.addWidget(page)
        assert not page.results.currentIndex()  # what to do, not empty axes, before the first computation
        qtbot.waitUntil(lambda: page.device.count() > 0, timeout=15000)  # choices are read in the background
        page.device.setCurrentText("OK_240415_02")
        with qtbot.waitSignal(page.report_ready, timeout=60000):
            page.run()
        assert page.table.rowCount() == 4
        assert page.results.currentWidget() is not page.intro
        assert len(page.pce_plot.listDataItems()) == 4
        out = tmp_path / "r.pdf"
        page.export_as("pdf", str(out))
        qtbot.waitUntil(lambda: page.status.text().startswith("Saved"), timeout=60000)
        assert out.read_bytes().startswith(b"%PDF")
    finally:
        pool.close()


def test_import_page_lists_past_imports(qtbot, db_url, sample_dir):
    from psycopg_pool import ConnectionPool

    from perocube_desktop.importer.engine import run_import
    from perocube_desktop.ui.import_wizard import ImportPage

    pool = ConnectionPool(db_url, min_size=1, max_size=2, open=True, kwargs=POOL_KWARGS)
    try:
        page = ImportPage(Settings(), db_url, pool)
        qtbot.addWidget(page)
        with qtbot.waitSignal(page.history_loaded, timeout=15000):
            page.show()
        assert page.past.rowCount() == 0 and "Nothing imported yet" in page.past_summary.text()
        run_import(db_url, sample_dir)
        with qtbot.waitSignal(page.history_loaded, timeout=15000):
            page.reload()
        with psycopg.connect(db_url) as conn:
            paths = {r[0] for r in conn.execute("SELECT path FROM imported_file")}
        assert paths and page.past.rowCount() == len(paths)
        assert f"{len(paths):,} files" in page.past_summary.text()
        assert {page.past.item(r, 1).text() for r in range(page.past.rowCount())} == paths
    finally:
        pool.close()
