"""Reports end to end on the sample folder (both backends), and the PDF rendered to pages."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from datetime import datetime, timezone

import openpyxl
import pytest
from conftest import MANIFEST
from helpers import reused_channel

from perocube_desktop.config import ReportSettings
from perocube_desktop.importer.engine import run_import
from perocube_desktop.stats.report import Selection, build, export

KEYS = {"device", "pixel", "board", "channel", "from", "to", "samples", "coverage_pct", "energy_mWh", "mean_power_mW",
        "max_power_mW", "pce_initial_pct", "pce_final_pct", "T95_h", "T80_h", "Ts_h", "TS80_h", "eta1000_pct",
        "projected_T80_h", "projected_T80_lo_h", "projected_T80_hi_h", "projection_note", "ageing_start",
        "cycles", "lit_zero_spans", "moves"}
MOVED = MANIFEST["quirks"]["logbook_moved_pixel"]


def _utc(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=timezone.utc).timestamp()


@pytest.fixture
def imported(db_url, sample_dir):
    run_import(db_url, sample_dir)
    return db_url


def test_sample_folder_report(imported, tmp_path):
    rep = build(imported, Selection(device="OK_240415_02"), ReportSettings())
    by_px = {p.pixel: p for p in rep.pixels}
    assert set(by_px) == {"A", "B", "C", "D"}
    a = by_px["A"]
    assert a.board == 1 and a.channel == 1 and a.samples == MANIFEST["mpp_good_samples_per_channel"]["1/1"]
    # 2 days at 10 s in 1-min buckets; lit ~12 h/day at ~4-5 mW: energy of the order of 100 mWh
    assert 50 < a.energy_mWh < 200
    assert a.pce_initial_pct > 5 and a.pce_final_pct > 5
    assert sum(a.daily_energy.values()) == pytest.approx(a.energy_mWh, rel=1e-6)
    data = json.loads(export(rep, tmp_path / "r.json").read_text())
    assert all(KEYS <= set(d) for d in data["pixels"])
    for ext in (".csv", ".xlsx"):
        assert export(rep, tmp_path / f"r{ext}").stat().st_size > 100


def test_moved_pixel_move_time_from_the_data(imported):
    rep = build(imported, Selection(device=MOVED["cell"]), ReportSettings())
    by_px = {p.pixel: p for p in rep.pixels}
    moved = by_px[MOVED["pixel"]]
    assert len(moved.moves) == 1
    mv = moved.moves[0]
    assert (mv.source, mv.target) == (tuple(MOVED["from"]), tuple(MOVED["to"]))
    assert abs(mv.removed_at - _utc(MOVED["removed_utc"])) <= 600
    assert abs(mv.installed_at - _utc(MOVED["installed_utc"])) <= 600
    assert mv.removal_seen and mv.installation_seen and "08:10" in mv.text
    assert any("moved from B1 C2 to B2 C4" in n for n in moved.notes)
    # no artefact: no zero-power stretch counted, and its trend matches its unmoved siblings'
    assert moved.lit_zero_minutes == 0 and moved.T80_h is None
    ratios = {p.pixel: p.pce_final_pct / p.pce_initial_pct for p in rep.pixels}
    siblings = [r for k, r in ratios.items() if k != MOVED["pixel"]]
    assert min(siblings) - 0.03 <= ratios[MOVED["pixel"]] <= max(siblings) + 0.03
    assert all(p.T80_h is None for p in rep.pixels)


def test_partial_cycles_and_projections(imported):
    rep = build(imported, Selection(all=True), ReportSettings())
    with_data = [p for p in rep.pixels if p.has_data]
    assert len(with_data) == 6
    for p in with_data:
        assert p.cycles and all(c["complete"] or c["partial_because"] for c in p.cycles)
        # the folder boundary (8-min gap) and the data's start and end cut every light period here
        assert p.cycles_complete == 0 and p.cycle_T80_h is None
        assert all(c["energy_mWh"] is None for c in p.cycles if not c["complete"])
        assert (p.projected_T80_h is not None and p.projected_T80_lo_h is not None) or \
            p.projection_note.startswith("not projected") or p.T80_h is not None
        assert p.ageing_start == pytest.approx(_utc(MANIFEST["args"]["start"]), abs=120)
    no_data = [p for p in rep.pixels if not p.has_data]
    assert no_data and all("no data in the period" in p.notes for p in no_data)


def test_data_starting_in_the_dark(imported):
    # a period chosen to start at 20:00, ten dark hours before the lamps: ageing starts at first light
    start = datetime(2024, 5, 3, 20, 0, tzinfo=timezone.utc)
    rep = build(imported, Selection(device="OK_240415_02", pixel="A", start=start), ReportSettings())
    a = rep.pixels[0]
    assert a.ageing_start == pytest.approx(datetime(2024, 5, 4, 6, 0, tzinfo=timezone.utc).timestamp(), abs=120)
    assert "after the first sample" in a.ageing_start_rule
    whole = build(imported, Selection(device="OK_240415_02", pixel="A"), ReportSettings()).pixels[0]
    assert a.T80_h is None and a.T95_h is not None and a.T95_h > 0.5
    assert a.pce_initial_pct < whole.pce_initial_pct  # the reference is the day-2 morning's, not extrapolated


def test_lit_but_no_power_is_flagged(db_url, sample_dir):
    # a contact failure: board 1 channel 3 delivers nothing 12:00-12:30 on 2024-05-04 while the lamps are on
    f = sample_dir / "data_2024-05" / "data_2024-05-04" / "output_board1_channel3.txt"
    lines = f.read_text().splitlines(keepends=True)
    out = []
    for line in lines:
        parts = line.split("\t")
        if len(parts) == 4 and "2024-05-04T12:00:00" <= parts[0] < "2024-05-04T12:30:00":
            line = f"{parts[0]}\t0.000000\t0.000000\t{parts[3]}"
        out.append(line)
    f.write_text("".join(out))
    run_import(db_url, sample_dir)
    rep = build(db_url, Selection(device="OK_240415_02", pixel="C"), ReportSettings())
    c = rep.pixels[0]
    assert len(c.lit_zero) == 1 and 29 <= c.lit_zero[0].minutes <= 31
    assert abs(c.lit_zero[0].start - _utc("2024-05-04T12:00:00")) <= 60
    assert any("lit but no power" in n for n in c.notes)
    assert c.pce_final_pct > 0.7 * c.pce_initial_pct  # the dead half hour does not enter the figures


def test_isos_checklist_in_json_xlsx_pdf(imported, tmp_path):
    rep = build(imported, Selection(all=True), ReportSettings())
    assert rep.protocol["protocol"].startswith("ISOS-LC-")
    items = {c["item"]: c for c in rep.checklist}
    assert len(items) == 10 and items["atmosphere"]["missing"] and not items["cycling"]["missing"]
    assert "12.0 h dark" in items["cycling"]["value"]
    data = json.loads(export(rep, tmp_path / "r.json").read_text())
    assert [c["item"] for c in data["isos_checklist"]] == list(items)
    assert data["isos_protocol"]["protocol"] == rep.protocol["protocol"]
    wb = openpyxl.load_workbook(export(rep, tmp_path / "r.xlsx"))
    sheet = wb["ISOS checklist"]
    assert [r[0] for r in sheet.iter_rows(min_row=2, values_only=True)] == list(items)
    pdf = export(rep, tmp_path / "r.pdf")
    if shutil.which("pdftotext"):
        text = subprocess.run(["pdftotext", "-layout", str(pdf), "-"], capture_output=True, text=True).stdout
        assert "ISOS reporting checklist" in text and "ADD: atmosphere" in text and rep.protocol["protocol"] in text
        assert "power_mW_min=" not in text and "no data" in text


def test_pdf_pages_rendered(imported, tmp_path):
    """Summary, checklist, one page per device with data (2), methods, data quality, statistics."""
    rep = build(imported, Selection(all=True), ReportSettings())
    pdf = export(rep, tmp_path / "report.pdf")
    data = pdf.read_bytes()
    assert data.startswith(b"%PDF")
    n_pages = len(re.findall(rb"/Type\s*/Page(?!s)", data))
    assert n_pages >= 7
    if not shutil.which("pdftoppm"):
        pytest.skip("pdftoppm (poppler-utils) not installed: pages not rendered to PNG")
    subprocess.run(["pdftoppm", "-png", "-r", "50", str(pdf), str(tmp_path / "page")], check=True)
    pages = sorted(tmp_path.glob("page*.png"))
    assert len(pages) == n_pages and all(p.stat().st_size > 5000 for p in pages)


def test_report_cli_json(imported, tmp_path):
    out = tmp_path / "b1.json"
    res = subprocess.run([sys.executable, "-m", "perocube_desktop", "report", "--db", imported, "--board", "1",
                          "--out", str(out)], capture_output=True, text=True, env=dict(os.environ), timeout=120)
    assert res.returncode == 0, res.stderr
    data = json.loads(out.read_text())
    assert {(d["device"], d["pixel"]) for d in data["pixels"]} >= {("OK_240415_02", "A"), ("OK_240415_02", "C")}
    assert all(KEYS <= set(d) for d in data["pixels"])


def test_selection_by_project(imported):
    # the logbook made owners members of their projects: TandemPV holds the OK_ and SC_ devices
    rep = build(imported, Selection(project="TandemPV"), ReportSettings())
    devices = {p.device for p in rep.pixels}
    assert devices == {"OK_240415_02", "OK_240309_01", "SC_240315_03"}
    assert build(imported, Selection(experiment="nope"), ReportSettings()).pixels == []


def test_long_gap_splits_the_pixel_into_ageing_runs(db_url, sample_dir, tmp_path):
    reused_channel(sample_dir)
    run_import(db_url, sample_dir)
    rep = build(db_url, Selection(device="OK_240415_02", pixel="C"), ReportSettings())
    (c,) = rep.pixels
    assert (c.run, c.runs) == (2, 2) and c.start >= _utc("2026-11-03T07:59:00")
    assert c.observed_h < 50 and (c.T80_h is None or c.T80_h < 50)  # not "22698 h" / "T80 14162 h"
    assert any("ageing run 2 of 2" in n for n in c.notes) and not any(a < "2026" for a, _ in c.gaps)
    out = tmp_path / "runs.json"
    res = subprocess.run([sys.executable, "-m", "perocube_desktop", "report", "--db", db_url, "--device",
                          "OK_240415_02", "--pixel", "C", "--run", "all", "--out", str(out)],
                         capture_output=True, text=True, env=dict(os.environ), timeout=120)
    assert res.returncode == 0, res.stderr
    runs = json.loads(out.read_text())["pixels"]
    assert [(p["run"], p["runs"]) for p in runs] == [(1, 2), (2, 2)]
    assert runs[0]["to"] < "2024-05-06" and runs[1]["from"] > "2026-11-02"
    assert all(p["observed_h"] < 50 for p in runs)
    bad = subprocess.run([sys.executable, "-m", "perocube_desktop", "report", "--db", db_url, "--device",
                          "OK_240415_02", "--run", "newest", "--out", str(tmp_path / "x.json")],
                         capture_output=True, text=True, env=dict(os.environ), timeout=120)
    assert bad.returncode == 2 and bad.stderr.startswith("error: --run 'newest'") and "Traceback" not in bad.stderr
    assert not (tmp_path / "x.json").exists()


def test_long_gap_report_pdf_pages_show_the_data_not_the_gap(db_url, sample_dir, tmp_path):
    reused_channel(sample_dir)
    run_import(db_url, sample_dir)
    rep = build(db_url, Selection(device="OK_240415_02", run="all"), ReportSettings())
    pdf = export(rep, tmp_path / "runs.pdf")
    if not shutil.which("pdftotext"):
        pytest.skip("pdftotext (poppler-utils) not installed")
    text = subprocess.run(["pdftotext", "-layout", str(pdf), "-"], capture_output=True, text=True).stdout
    # one device page per time group: the 2024 pixels (A-D, C's run 1) and the 2026 run of C
    assert "Device OK_240415_02 · data 2024-05-03 – 2024-05-05" in text
    assert "Device OK_240415_02 · data 2026-11-03 – 2026-11-05" in text
    assert "C · run 1/2" in text and "C · run 2/2" in text and "Ageing runs: every ageing run" in text
