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
from perocube_desktop.values import parse_timestamp

from conftest import MANIFEST, MPP_GOOD



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
        # every bad line (content refused) is in the quarantine with file and line; blank lines and a
        # last line still being written are counted on their own, not as bad (#20)
        q = conn.execute("SELECT count(*) FROM quarantine WHERE source = 'import'").fetchone()[0]
        assert first.blank_lines == 4 + 4 and first.incomplete_lines == 3  # cut: two files + the garbage file
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
    assert first.inserted["mpp"] == 50  # the cut last line waits, counted as such (not as bad)
    assert first.bad_lines == 0 and first.incomplete_lines == first.outcomes[0].incomplete_last_line == 1
    assert first.outcomes[0].lines == 51
    assert any(p.line == 51 and "incomplete" in p.reason for p in first.problems)
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
    assert 0 < done < MPP_GOOD
    rest = run_import(db_url, sample_dir, ImportOptions(chunk_bytes=64 * 1024))
    assert not rest.cancelled
    assert per_channel(db_url) == MANIFEST["mpp_good_samples_per_channel"]
    assert part.inserted["mpp"] + rest.inserted["mpp"] == MPP_GOOD


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
    # the same instants as a live sample with the same naive time (values.localize)
    assert t[2.0] == datetime(2024, 10, 27, 1, 30, tzinfo=timezone.utc)
    assert t[4.0] == datetime(2024, 3, 31, 1, 30, tzinfo=timezone.utc)
    berlin = ZoneInfo("Europe/Berlin")
    for naive, power in (("2024-10-27T02:30:00", 2.0), ("2024-03-31T02:30:00", 4.0), ("2024-07-01T12:00:00", 5.0)):
        assert parse_timestamp(naive, berlin) == int(t[power].timestamp() * 1_000_000)


def test_dry_run_writes_nothing(db_url, sample_dir):
    res = run_import(db_url, sample_dir, ImportOptions(dry_run=True))
    assert res.inserted["mpp"] == MPP_GOOD
    assert per_channel(db_url) == {}


def test_cli_json(db_url, sample_dir):
    out = subprocess.run([sys.executable, "-m", "perocube_desktop", "import", str(sample_dir), "--db", db_url, "--json"],
                         capture_output=True, text=True, env=dict(os.environ), timeout=120)
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert data["inserted"]["mpp"] == MPP_GOOD and data["files"]["skipped"] == 5
    assert set(data["logbook"]) == {"devices", "pixels", "events", "rows_skipped"}
    assert all({"file", "line", "reason"} <= set(p) for p in data["problems"])
    missing = subprocess.run([sys.executable, "-m", "perocube_desktop", "import", str(sample_dir / "nope"),
                              "--db", db_url], capture_output=True, text=True, timeout=60)
    assert missing.returncode != 0 and "not a folder" in missing.stderr


# ---------------------------------------------------------------------------------------------
# issue #11.4: the lab's file names, folders, values and logbook rows (docs/lab-compat.md)

def _file_lines(path) -> int:
    data = path.read_bytes()
    return data.count(b"\n") + (1 if data and not data.endswith(b"\n") else 0)


def _add_quirky_files(root):
    extra = root / "data_extra"
    extra.mkdir()
    (extra / "output_board3_channel3.csv").write_text(
        "".join(f"2024-06-01T00:0{m}:00\t1.0\t2.0\t0.5\n" for m in range(5)))
    (extra / "output_board3_channel4_part2.txt").write_text(
        "2024-06-01T00:00:00\t1.0\t2.0\t0.5\nhello\n2024-02-30T00:00:00\t1\t1\t1\n2024-06-01T00:01:00\t1.0\t2.0\t0.5\n")
    (extra / "output_board03_channel05.txt").write_text(
        "2024-06-01T00:00:00\t1\t2\t3\n2024-06-01T00:00:10\t1\t2\t3\n2024-06-01T00:00:10\t1\t2\t3\n")
    (extra / "m7004_ID_ABC1.txt").write_text("2024-06-01T00:00:00\t25.5\n2024-06-01T00:01:00\t25.6\n")
    (extra / "PT-104_channel_03.txt").write_text(
        "2024-06-01T00:00:00\t40200.0\t1000.5\n2024-06-01T00:01:00\t40201\t1000.6\n\n"
        "2024-06-01T00:02:00\t40200.5\t1000.7\n2024-06-01T00:03:00\t40202.\t1000.8\n2024-06-01T00:04")


def test_every_line_of_every_file_is_accounted_for(db_url, sample_dir):
    _add_quirky_files(sample_dir)
    out = subprocess.run([sys.executable, "-m", "perocube_desktop", "import", str(sample_dir), "--db", db_url, "--json"],
                         capture_output=True, text=True, env=dict(os.environ), timeout=300)
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    detail = {d["file"]: d for d in data["files_detail"]}
    matching = [f for f in scan(sample_dir).files if f.kind != "logbook"]
    assert sorted(detail) == sorted(f.rel for f in matching)  # every matching file has its line
    manifest = {f["path"]: f for f in MANIFEST["files"]}
    for f in matching:
        d = detail[f.rel]
        assert d["status"] == "imported", (f.rel, d)  # never dropped for a value in one line
        assert d["inserted"] + d["duplicates"] + d["bad_lines"] + d["blank_lines"] + d["incomplete_last_line"] \
            == d["lines"] == _file_lines(f.path), (f.rel, d)
        if "lines_total" in manifest.get(f.rel, {}):
            assert d["lines"] == manifest[f.rel]["lines_total"], f.rel
    assert detail["data_extra/output_board3_channel4_part2.txt"]["bad_lines"] == 2
    lines = {(p["file"], p["line"]) for p in data["problems"]}
    # found by the fast patterns (line 2) and refused only after cleaning (the date, line 3)
    assert {("data_extra/output_board3_channel4_part2.txt", 2), ("data_extra/output_board3_channel4_part2.txt", 3)} <= lines
    assert detail["data_extra/output_board03_channel05.txt"]["duplicates"] == 1
    pt = detail["data_extra/PT-104_channel_03.txt"]
    assert (pt["inserted"], pt["bad_lines"], pt["blank_lines"], pt["incomplete_last_line"]) == (3, 1, 1, 1)
    assert sum(d["bad_lines"] for d in detail.values()) == data["bad_lines"]
    assert sum(d["blank_lines"] for d in detail.values()) == data["blank_lines"]
    assert sum(data["inserted"].values()) + sum(data["duplicates"].values()) + data["bad_lines"] \
        + data["blank_lines"] + data["incomplete_lines"] == data["lines"]
    reasons = {(p["file"], p["reason"]) for p in data["problems"]}
    assert ("data_extra/PT-104_channel_03.txt", "raw_reading is not an integer count: '40200.5'") in reasons
    with psycopg.connect(db_url) as conn:
        chans = per_channel(db_url)
        assert chans["3/3"] == 5 and chans["3/4"] == 2 and chans["3/5"] == 2
        raw = conn.execute("SELECT raw_reading FROM irradiance_measurement m JOIN irradiance_sensor s"
                           " USING (irradiance_sensor_id) WHERE s.channel = 3 ORDER BY 1").fetchall()
        assert raw == [(40200,), (40201,), (40202,)]
        assert conn.execute("SELECT count(*) FROM temperature_sensor WHERE sensor_identifier = 'm7004_ID_ABC1'"
                            ).fetchone()[0] == 1


def test_file_names_and_data_folders_as_the_lab_tools(tmp_path):
    from perocube_desktop.importer.scan import classify

    assert classify("output_board2_channel3.csv") == ("mpp", {"board": 2, "channel": 3})
    assert classify("output_board2_channel4_part2.txt") == ("mpp", {"board": 2, "channel": 4})
    assert classify("output_board03_channel04.txt") == ("mpp", {"board": 3, "channel": 4})
    assert classify("2024_output_board12_channel13.txt.bak") == ("mpp", {"board": 12, "channel": 13})
    assert classify("m7004_ID_37F6F9511A64FF28.txt") == ("temperature", {"sensor_identifier": "m7004_ID_37F6F9511A64FF28"})
    assert classify("m7004_ID_3F.txt") == ("temperature", {"sensor_identifier": "m7004_ID_3F"})
    assert classify("PT-104_channel_01.txt") == ("irradiance", {"sensor_identifier": "PT-104", "sensor_channel": 1})
    # the picked folder is itself a data* folder
    picked = tmp_path / "lab" / "data2023"
    (picked / "run3").mkdir(parents=True)
    (picked / "output_board1_channel1.txt").write_text("2024-06-01T00:00:00\t1\t1\t1\n")
    (picked / "run3" / "output_board1_channel2.txt").write_text("2024-06-01T00:00:00\t1\t1\t1\n")
    assert sorted(f.rel for f in scan(picked).files) == ["output_board1_channel1.txt", "run3/output_board1_channel2.txt"]
    # ... or a folder above it is
    assert [f.rel for f in scan(picked / "run3").files] == ["output_board1_channel2.txt"]
    # no data* folder anywhere in the path: listed as skipped
    other = tmp_path / "lab" / "exports"
    other.mkdir()
    (other / "output_board1_channel1.txt").write_text("2024-06-01T00:00:00\t1\t1\t1\n")
    res = scan(other)
    assert not res.files and "data*" in res.skipped[0].reason


def test_sensor_ids_as_the_lab_tools(db_url, sample_dir):
    import uuid

    ns = uuid.UUID("12345678-1234-5678-1234-567812345678")
    with psycopg.connect(db_url) as conn:  # channel 2 exists already, registered by hand under another id
        conn.execute("INSERT INTO irradiance_sensor (irradiance_sensor_id, sensor_identifier, channel)"
                     " VALUES ('0badc0de-0000-4000-8000-000000000002', 'PT-104', 2)")
    run_import(db_url, sample_dir)
    with psycopg.connect(db_url) as conn:
        irr = dict(conn.execute("SELECT channel, irradiance_sensor_id FROM irradiance_sensor").fetchall())
        assert irr == {1: uuid.uuid5(ns, "PT-104_1"), 2: uuid.UUID("0badc0de-0000-4000-8000-000000000002")}
        n = dict(conn.execute("SELECT irradiance_sensor_id, count(*) FROM irradiance_measurement GROUP BY 1").fetchall())
        assert n == {irr[1]: 1440 + 1433, irr[2]: 1440 + 1433}
        temp = dict(conn.execute("SELECT sensor_identifier, temperature_sensor_id FROM temperature_sensor").fetchall())
        assert temp == {b["temp_sensor"]: uuid.uuid5(ns, b["temp_sensor"]) for b in MANIFEST["boards"]}


def test_logbook_row_removed_without_installed_date(db_url, tmp_path):
    import openpyxl

    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "Perocube history"
    ws.append(["PeroCube history"])
    ws.append(["Cell name", "Pixel", "Board", "Channel", "Date installed", "Date removed", "Area"])
    ws.append(["OLD_01", "A", 1, 1, None, "15.03.2024", 0.25])
    ws.append(["OLD_01", "B", 1, 2, "??", "15.03.2024", 0.25])
    ws.append(["NEW_01", "A", 1, 1, "16.03.2024", None, 0.25])
    ws.append(["NEW_01", "B", 1, 2, "17.03.2024", "17.03.2024", 0.25])
    folder = tmp_path / "lab"
    folder.mkdir()
    wb.save(folder / "PeroCube_logbook.xlsx")
    res = run_import(db_url, folder)
    assert res.logbook == {"devices": 2, "pixels": 3, "events": 5, "rows_skipped": 1}
    notes = [p for p in res.problems if p.line == 3]
    assert len(notes) == 1 and "01.01.2020" in notes[0].reason
    # a same-day install and removal is imported as written, and flagged
    assert any(p.line == 6 and "same instant" in p.reason for p in res.problems)
    with psycopg.connect(db_url) as conn:
        ev = conn.execute("SELECT event_type, connection_datetime FROM measurement_connection_event"
                          " WHERE solar_cell_id = 'OLD_01' ORDER BY 2").fetchall()
        assert ev == [("CONNECTED", datetime(2020, 1, 1, tzinfo=timezone.utc)),
                      ("DISCONNECTED", datetime(2024, 3, 15, tzinfo=timezone.utc))]
