"""Reports end to end on the sample folder, and the PDF rendered to pages."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys

import pytest

from perocube_desktop.config import ReportSettings
from perocube_desktop.importer.engine import run_import
from perocube_desktop.stats.report import Selection, build, export

KEYS = {"device", "pixel", "board", "channel", "from", "to", "samples", "coverage_pct", "energy_mWh", "mean_power_mW",
        "max_power_mW", "pce_initial_pct", "pce_final_pct", "T95_h", "T80_h", "Ts_h", "TS80_h", "eta1000_pct",
        "projected_T80_h", "method"}


@pytest.fixture
def imported(db_url, sample_dir):
    run_import(db_url, sample_dir)
    return db_url


def test_sample_folder_report(imported, tmp_path):
    rep = build(imported, Selection(device="OK_240415_02"), ReportSettings())
    by_px = {p.pixel: p for p in rep.pixels}
    assert set(by_px) == {"A", "B", "C", "D"}
    a = by_px["A"]
    assert a.board == 1 and a.channel == 1 and a.samples > 2800
    # 2 days at 10 s in 1-min buckets; lit ~12 h/day at ~4-5 mW: energy of the order of 100 mWh
    assert 50 < a.energy_mWh < 200
    assert len(a.cycles) >= 2 and a.pce_initial_pct > 5 and a.pce_final_pct > 5
    assert sum(a.daily_energy.values()) == pytest.approx(a.energy_mWh, rel=1e-6)
    # the moved pixel: data from both channels, attributed by the wiring history
    assert by_px["B"].samples > 2800
    out = export(rep, tmp_path / "r.json")
    data = json.loads(out.read_text())
    assert all(KEYS <= set(d) for d in data)
    for ext in (".csv", ".xlsx"):
        assert export(rep, tmp_path / f"r{ext}").stat().st_size > 100


def test_pdf_has_expected_pages(imported, tmp_path):
    rep = build(imported, Selection(all=True), ReportSettings())
    pdf = export(rep, tmp_path / "report.pdf")
    data = pdf.read_bytes()
    assert data.startswith(b"%PDF")
    # title + method, normalised PCE, power/temperature/irradiance, metrics table, gaps and statistics
    assert len(re.findall(rb"/Type\s*/Page(?!s)", data)) >= 5
    if shutil.which("pdftoppm"):
        subprocess.run(["pdftoppm", "-png", "-r", "40", str(pdf), str(tmp_path / "page")], check=True)
        pages = sorted(tmp_path.glob("page*.png"))
        assert len(pages) >= 5  # title+method, normalised PCE, power/T/G, metrics, gaps


def test_report_cli_json(imported, tmp_path):
    out = tmp_path / "b1.json"
    res = subprocess.run([sys.executable, "-m", "perocube_desktop", "report", "--db", imported, "--board", "1",
                          "--out", str(out)], capture_output=True, text=True, env=dict(os.environ), timeout=120)
    assert res.returncode == 0, res.stderr
    data = json.loads(out.read_text())
    assert {(d["device"], d["pixel"]) for d in data} >= {("OK_240415_02", "A"), ("OK_240415_02", "C")}
    assert all(KEYS <= set(d) for d in data)


def test_selection_by_project(imported):
    # the logbook made owners members of their projects: TandemPV holds the OK_ and SC_ devices
    rep = build(imported, Selection(project="TandemPV"), ReportSettings())
    devices = {p.device for p in rep.pixels}
    assert devices == {"OK_240415_02", "OK_240309_01", "SC_240315_03"}
    assert build(imported, Selection(experiment="nope"), ReportSettings()).pixels == []
