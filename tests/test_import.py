"""Historical import against the real sample folder, a real database and real files."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from datetime import datetime, timezone
from zoneinfo import ZoneInfo

import psycopg

from perocube_desktop.importer.engine import ImportOptions, run_import
from perocube_desktop.importer.scan import scan
from perocube_desktop.protocol import parse_timestamp

from conftest import MANIFEST



def per_channel(url):
    with psycopg.connect(url) as conn:
        return {f"{b}/{c}": n for b, c, n in conn.execute(
            "SELECT tracking_channel_board, tracking_channel_channel, count(*) FROM mpp_measurement GROUP BY 1, 2")}


def test_scan_classifies_and_skips(sample_dir):
    res = scan(sample_dir)
    kinds = {f.rel: f.kind for f in res.files}
    assert kinds["data_2024-05/data_2024-05-03/PT-104_channel_01.txt"] == "irradiance"
    assert kinds["data_2024-05/data_2024-05-03/m7004_ID_21CC1E77D14D5747.txt"] == "temperature"
    assert kinds["PeroCube_logbook.xlsx"] == "logbook"
    skipped = {s.rel: s.reason for s in res.skipped}
    assert "data*" in skipped["exports/output_board1_channel1.txt"]
    assert skipped["data_2024-05/data_restart_empty/output_board1_channel3.txt"] == "empty file"
    assert "pattern" in skipped["data_2024-05/data_2024-05-04/notes.txt"]


def test_sample_folder_twice_matches_manifest(db_url, sample_dir):
    first = run_import(db_url, sample_dir)
    assert per_channel(db_url) == MANIFEST["mpp_good_samples_per_channel"]
    assert first.inserted["mpp"] == sum(MANIFEST["mpp_good_samples_per_channel"].values())
    assert first.inserted["temperature"] == first.inserted["irradiance"] == 2 * (1440 + 1433)
    assert first.duplicates["mpp"] == 13 + 13 + 180  # duplicate rows in two files + 30 min overlap
    problems = {(p.file, p.line) for p in first.problems}
    assert ("data_2024-05/data_2024-05-04/output_board1_channel3.txt", 145) in problems
    assert ("data_2024-05/data_2024-05-03/output_board2_channel2.txt", 3398) in problems
    assert any(p.file.endswith("data_crash/output_board2_channel2.txt") for p in first.problems)
    assert first.logbook == {"devices": 4, "pixels": 13, "events": 22, "rows_skipped": 2}
    with psycopg.connect(db_url) as conn:
        # every line not imported is in the quarantine with file and line
        q = conn.execute("SELECT count(*) FROM quarantine WHERE source = 'import'").fetchone()[0]
        assert q == first.bad_lines > 0
        # the fractional second and zone-suffixed rows went in as their exact instants
        assert conn.execute("SELECT count(*) FROM mpp_measurement WHERE \"timestamp\" = %s",
                            (datetime(2024, 5, 4, 13, 46, 0, 379000, tzinfo=timezone.utc),)).fetchone()[0] == 1
        # rollups are there for the plots
        assert conn.execute("SELECT sum(n) FROM mpp_rollup_1h").fetchone()[0] == first.inserted["mpp"]
    second = run_import(db_url, sample_dir)
    assert second.inserted == {"mpp": 0, "temperature": 0, "irradiance": 0}
    assert second.files["imported"] == 0 and second.files["unchanged"] == first.files["imported"]
    assert second.logbook == {"devices": 0, "pixels": 0, "events": 0, "rows_skipped": 2}
    assert per_channel(db_url) == MANIFEST["mpp_good_samples_per_channel"]


def test_growing_file_imports_only_its_tail(db_url, tmp_path):
    folder = tmp_path / "lab" / "data_run"
    folder.mkdir(parents=True)
    f = folder / "output_board5_channel1.txt"
    f.write_text("".join(f"2024-06-01T00:{m:02d}:00\t1.0\t2.0\t0.5\n" for m in range(50)) + "2024-06-01T00:50:0")
    first = run_import(db_url, tmp_path / "lab")
    assert first.inserted["mpp"] == 50 and first.bad_lines == 0  # the cut last line waits
    with f.open("a") as fh:  # LabVIEW finishes the line and appends more
        fh.write("0\t1.0\t2.0\t0.5\n" + "".join(f"2024-06-01T00:{m:02d}:00\t1.0\t2.0\t0.5\n" for m in range(51, 60)))
    second = run_import(db_url, tmp_path / "lab")
    assert second.inserted["mpp"] == 10 and second.duplicates["mpp"] == 0
    assert second.outcomes[0].mode == "tail"
    assert per_channel(db_url) == {"5/1": 60}


def test_rewritten_file_is_reread_without_duplicates(db_url, tmp_path):
    folder = tmp_path / "lab" / "data"
    folder.mkdir(parents=True)
    f = folder / "m7004_ID_00000000000000AA.txt"
    f.write_text("".join(f"2024-06-01T00:{m:02d}:00\t25.0\n" for m in range(30)))
    run_import(db_url, tmp_path / "lab")
    # the operator edits the file: first line changed, more rows
    f.write_text("2024-06-01T00:00:00\t99.0\n" + "".join(f"2024-06-01T00:{m:02d}:00\t25.0\n" for m in range(1, 40)))
    again = run_import(db_url, tmp_path / "lab")
    assert again.outcomes[0].mode == "rewritten"
    assert again.inserted["temperature"] == 10 and again.duplicates["temperature"] == 30


def test_cancel_then_resume(db_url, sample_dir):
    cancel = threading.Event()
    seen = []

    def progress(p):
        seen.append(p.rows_done)
        if p.rows_done > 20000:
            cancel.set()

    opts = ImportOptions(chunk_bytes=64 * 1024)
    part = run_import(db_url, sample_dir, opts, progress=progress, cancel=cancel)
    assert part.cancelled
    done = sum(per_channel(db_url).values())
    assert 0 < done < 137942
    rest = run_import(db_url, sample_dir, ImportOptions(chunk_bytes=64 * 1024))
    assert not rest.cancelled
    assert per_channel(db_url) == MANIFEST["mpp_good_samples_per_channel"]
    assert part.inserted["mpp"] + rest.inserted["mpp"] == 137942


def test_source_time_zone_with_dst(db_url, tmp_path):
    folder = tmp_path / "lab" / "data"
    folder.mkdir(parents=True)
    (folder / "output_board7_channel1.txt").write_text(
        "2024-10-27T01:30:00\t1\t1\t1\n2024-10-27T02:30:00\t2\t1\t1\n2024-10-27T03:30:00\t3\t1\t1\n"
        "2024-03-31T02:30:00\t4\t1\t1\n2024-07-01T12:00:00\t5\t1\t1\n")
    res = run_import(db_url, tmp_path / "lab", ImportOptions(timezone="Europe/Berlin"))
    assert res.inserted["mpp"] == 5
    with psycopg.connect(db_url) as conn:
        t = dict(conn.execute("SELECT power, \"timestamp\" FROM mpp_measurement").fetchall())
    assert t[5.0] == datetime(2024, 7, 1, 10, 0, tzinfo=timezone.utc)
    assert t[1.0] == datetime(2024, 10, 26, 23, 30, tzinfo=timezone.utc)
    assert t[3.0] == datetime(2024, 10, 27, 2, 30, tzinfo=timezone.utc)
    # the repeated hour takes standard time, the skipped hour the offset from before the change:
    # the same instants as a live sample with the same naive time (protocol.localize)
    assert t[2.0] == datetime(2024, 10, 27, 1, 30, tzinfo=timezone.utc)
    assert t[4.0] == datetime(2024, 3, 31, 1, 30, tzinfo=timezone.utc)
    berlin = ZoneInfo("Europe/Berlin")
    for naive, power in (("2024-10-27T02:30:00", 2.0), ("2024-03-31T02:30:00", 4.0), ("2024-07-01T12:00:00", 5.0)):
        assert parse_timestamp(naive, berlin) == int(t[power].timestamp() * 1_000_000)


def test_dry_run_writes_nothing(db_url, sample_dir):
    res = run_import(db_url, sample_dir, ImportOptions(dry_run=True))
    assert res.inserted["mpp"] == 137942
    assert per_channel(db_url) == {}


def test_cli_json(db_url, sample_dir):
    out = subprocess.run([sys.executable, "-m", "perocube_desktop", "import", str(sample_dir), "--db", db_url, "--json"],
                         capture_output=True, text=True, env=dict(os.environ), timeout=120)
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert data["inserted"]["mpp"] == 137942 and data["files"]["skipped"] == 5
    assert set(data["logbook"]) == {"devices", "pixels", "events", "rows_skipped"}
    assert all({"file", "line", "reason"} <= set(p) for p in data["problems"])
    missing = subprocess.run([sys.executable, "-m", "perocube_desktop", "import", str(sample_dir / "nope"),
                              "--db", db_url], capture_output=True, text=True, timeout=60)
    assert missing.returncode != 0 and "not a folder" in missing.stderr
