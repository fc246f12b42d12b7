"""Issue #20, the command-line half: every mistake an operator can make gets one clear line, a
non-zero exit and nothing written. Real processes, real sockets, real files, real databases."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone

import httpx
import psycopg
import pytest

import conftest
from helpers import LineClient, free_port, gui_args

DEAD_DB = "postgresql://nobody@127.0.0.1:1/never_used"


def run(*args, timeout=120, cwd=None, env=None):
    return subprocess.run([sys.executable, "-m", "perocube_desktop", *args], capture_output=True, text=True,
                          timeout=timeout, cwd=cwd, env=dict(os.environ, **(env or {})))


def one_error_line(out) -> str:
    lines = [ln for ln in out.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ") and "Traceback" not in out.stderr, out.stderr
    return lines[0]


@pytest.fixture(scope="module")
def sample_db(pg_server, tmp_path_factory):
    """The sample folder imported once per backend; OK_240415_02 pixel C also has 2 h of data today,
    two and a half years after its first 48 h (the long-gap report of #20)."""
    from perocube_desktop.importer.engine import run_import

    name = conftest._create(pg_server, conftest.TEMPLATE)
    url = pg_server.url(name)
    lab = tmp_path_factory.mktemp("lab") / "lab"
    shutil.copytree(conftest.SAMPLE, lab)
    run_import(url, lab)
    now = datetime.now(timezone.utc).replace(second=0, microsecond=0)
    with psycopg.connect(url) as conn, conn.cursor() as cur:
        cur.executemany("INSERT INTO mpp_measurement (tracking_channel_board, tracking_channel_channel, \"timestamp\", "
                        "power, current, voltage) VALUES (1, 3, %s, 1.5, 1.5, 1.0)",
                        [(now - timedelta(minutes=i),) for i in range(120)])
    yield url
    conftest._drop(pg_server, name)


# --- 1. a folder that is no lab folder ------------------------------------------------------------


def test_import_refuses_a_folder_without_lab_files(tmp_path):
    """`import /etc/ssl` exited 0 with "0 files imported ... 291 skipped"; now: one line listing what
    was expected, exit 2, before the database is touched (a dead --db proves it)."""
    folder = tmp_path / "ssl"
    (folder / "certs").mkdir(parents=True)
    (folder / "certs" / "ca.pem").write_text("-----BEGIN CERTIFICATE-----\n")
    (folder / "openssl.cnf").write_text("[req]\n")
    (folder / "output_board1_channel1.txt").write_text("2024-05-03T00:00:00\t1\t1\t1\n")  # not in a data* folder
    out = run("import", str(folder), "--db", DEAD_DB)
    assert out.returncode == 2
    line = one_error_line(out)
    assert f"no lab data files found under {folder}" in line
    for pattern in ("output_boardN_channelM", "m7004_ID_", "_channel_N.txt", "logbook .xlsx"):
        assert pattern in line
    assert "not inside a data* folder" in line  # why the one file named like lab data does not count


def test_import_refuses_an_empty_folder_argument(tmp_path):
    (tmp_path / "data_2024").mkdir()  # the working folder holds lab files: "" must still not mean "here"
    (tmp_path / "data_2024" / "output_board1_channel1.txt").write_text("2024-05-03T00:00:00\t1\t1\t1\n")
    out = run("import", "", "--db", DEAD_DB, cwd=tmp_path)
    assert out.returncode == 2 and "no folder given" in one_error_line(out)


def test_the_engine_refuses_a_folder_without_lab_files(tmp_path):
    from perocube_desktop.importer.engine import run_import
    from perocube_desktop.importer.scan import ImportFolderError

    (tmp_path / "notes.txt").write_text("nothing here")
    with pytest.raises(ImportFolderError, match="no lab data files"):
        run_import(DEAD_DB, tmp_path)


@pytest.mark.gui
def test_wizard_never_takes_empty_relative_or_empty_folders(qtbot, tmp_path, monkeypatch):
    from perocube_desktop.config import Settings
    from perocube_desktop.ui.import_wizard import ImportWizard

    monkeypatch.chdir(tmp_path)
    (tmp_path / "data_2024").mkdir()  # the launch folder holds lab-looking files: neither "" nor "." means it
    (tmp_path / "data_2024" / "output_board1_channel1.txt").write_text("2024-05-03T00:00:00\t1\t1\t1\n")
    wiz = ImportWizard(Settings(), DEAD_DB)
    qtbot.addWidget(wiz)
    wiz.resize(1000, 620)
    wiz.show()
    page = wiz.folder_page
    page.path.setText("")
    assert not page.isComplete()
    for relative in (".", "data", "tests"):
        page.path.setText(relative)
        assert not page.isComplete() and "not a full path" in page.problem.text()
    page.path.setText(str(tmp_path / "missing"))
    assert not page.isComplete() and "does not exist" in page.problem.text()
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "readme.txt").write_text("hello")
    page.path.setText(str(empty))
    assert page.isComplete() and page.problem.text() == ""
    wiz.next()
    qtbot.waitUntil(lambda: "no lab data files" in wiz.scan_page.status.text(), timeout=20000)
    assert not wiz.scan_page.isComplete()  # no Next: nothing to import
    wiz.grab().save(str(tmp_path / "wizard-no-lab-files.png"))
    assert (tmp_path / "wizard-no-lab-files.png").stat().st_size > 1000


# --- 5 and 9: busy ports ----------------------------------------------------------------------------


@pytest.fixture
def busy_port():
    holder = socket.socket()
    holder.bind(("127.0.0.1", 0))
    holder.listen()
    yield holder.getsockname()[1]
    holder.close()


def test_serve_on_a_busy_port_names_the_holder_before_claiming_anything(busy_port):
    out = run("serve", "--port", str(busy_port), "--db", DEAD_DB, timeout=60)
    assert out.returncode == 2 and "read API on" not in out.stdout
    line = one_error_line(out)
    assert f"127.0.0.1:{busy_port}" in line and f"process {os.getpid()}" in line


def test_receive_on_a_busy_port_says_the_address_once_and_names_the_holder(busy_port, tmp_path, db_url):
    out = run("receive", "--port", str(busy_port), "--db", db_url, "--buffer", str(tmp_path / "b.sqlite3"), timeout=60)
    assert out.returncode == 2 and "Traceback" not in out.stderr
    errors = [ln for ln in out.stderr.splitlines() if ln.startswith("error:")]
    assert len(errors) == 1 and errors[0].count(str(busy_port)) == 1, errors
    assert f"process {os.getpid()}" in errors[0]


@pytest.mark.gui
def test_gui_api_switch_on_a_busy_port_says_so_in_the_status_bar(qtbot, db_url, busy_port):
    from perocube_desktop.app import App
    from perocube_desktop.config import ApiSettings, Settings

    a = App(gui_args(db=db_url), Settings())
    a.start()
    qtbot.addWidget(a.window)
    try:
        problem = a.set_api(ApiSettings(enabled=True, host="127.0.0.1", port=busy_port))
        assert problem and f"127.0.0.1:{busy_port}" in problem and f"process {os.getpid()}" in problem
        assert f"process {os.getpid()}" in a.window.lbl_error.text() and a.api is None
    finally:
        a.window.close()
        a.stop()


# --- 6. rates over the interval they describe --------------------------------------------------------


def test_rate_meter_measures_over_the_interval_it_names():
    from perocube_desktop.status import RateMeter

    every_10s = RateMeter(10.0, 0, now=0.0)
    assert every_10s.update(2400, now=10.0) == (240.0, 10.0)  # the old code said 0 rows/s here
    assert every_10s.update(4800, now=20.0) == (240.0, 10.0)
    often = RateMeter(5.0, 0, now=0.0)
    for i in range(1, 41):  # four times a second, 240 rows/s
        rate, over = often.update(i * 60, now=i * 0.25)
    assert rate == pytest.approx(240.0) and 5.0 <= over <= 5.25


def test_receive_logs_the_rate_over_its_own_interval(db_url, tmp_path):
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "perocube_desktop", "receive", "--port", str(port), "--db", db_url,
                             "--buffer", str(tmp_path / "b.sqlite3")], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        assert "receiving on" in proc.stdout.readline()
        c = LineClient(port)
        t0, sent, t = time.monotonic(), 0, 1_714_745_230.0
        while time.monotonic() - t0 < 12:  # ~100 rows/s for 12 s: one log line falls inside
            batch = {"type": "mpp", "metadata": {"board": 7},
                     "data": [{"timestamp": t + sent + i, "channel": 1, "power": 1.0} for i in range(10)]}
            assert c.request(batch).startswith("ACK 10")
            sent += 10
            time.sleep(0.1)
        c.close()
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=30)
    rates = [float(ln.split(" rows/s over the last ")[0].rsplit(" ", 1)[1]) for ln in err.splitlines()
             if "rows/s over the last 10 s" in ln]
    assert rates and 40 <= rates[0] <= 150, err[-2000:]


# --- 8. blank lines are blank, not bad ---------------------------------------------------------------


def test_blank_lines_are_counted_as_blank_not_bad(db_url, tmp_path):
    data = tmp_path / "lab" / "data_2024"
    data.mkdir(parents=True)
    (data / "output_board5_channel1.txt").write_text(
        "2024-05-03T00:00:00\t1.0\t2.0\t0.5\n\n2024-05-03T00:00:10\t1.1\t2.0\t0.5\n\n"
        "2024-05-03T00:00:20\t1.2\t2.0\t0.5\nnot a sample\n")
    out = run("import", str(tmp_path / "lab"), "--db", db_url, "--json")
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    detail = data["files_detail"][0]
    assert (detail["inserted"], detail["bad_lines"], detail["blank_lines"], detail["lines"]) == (3, 1, 2, 6)
    assert [p["line"] for p in data["problems"]] == [6]  # each bad line listed with its reason
    assert data["bad_lines"] == 1 and data["blank_lines"] == 2
    assert sum(data["inserted"].values()) + sum(data["duplicates"].values()) + data["bad_lines"] \
        + data["blank_lines"] + data["incomplete_lines"] == data["lines"]


# --- 9. the smaller ones -----------------------------------------------------------------------------


def test_report_names_an_unknown_device_and_suggests_close_names(sample_db, tmp_path):
    out = run("report", "--device", "OK_240415_2", "--out", str(tmp_path / "r.pdf"), "--db", sample_db)
    assert out.returncode == 2 and not (tmp_path / "r.pdf").exists()
    line = one_error_line(out)
    assert "no device named 'OK_240415_2'" in line and "OK_240415_02" in line
    out = run("report", "--device", "OK_240415_02", "--pixel", "Z", "--out", str(tmp_path / "r.pdf"), "--db", sample_db)
    assert out.returncode == 2 and "has no pixel 'Z' (its pixels: A, B, C, D)" in one_error_line(out)


def test_report_refuses_a_missing_output_folder(tmp_path):
    target = tmp_path / "nonexistent-dir" / "r.pdf"
    out = run("report", "--all", "--out", str(target), "--db", DEAD_DB)
    assert out.returncode == 2 and "does not exist" in one_error_line(out)
    assert not target.parent.exists()  # no folder created


def test_report_names_the_option_and_the_format_of_a_bad_time(tmp_path):
    out = run("report", "--all", "--from", "yesterday", "--out", str(tmp_path / "r.pdf"), "--db", DEAD_DB)
    assert out.returncode == 2
    line = one_error_line(out)
    assert "--from 'yesterday'" in line and "ISO 8601" in line and "Invalid isoformat" not in line


def test_report_over_a_long_gap_prints_no_library_warning_and_says_1_pixel(sample_db, tmp_path):
    """matplotlib's AutoDateLocator warned on the console for a pixel with data 2.5 years apart."""
    out = run("report", "--device", "OK_240415_02", "--pixel", "C", "--out", str(tmp_path / "r.pdf"), "--db", sample_db)
    assert out.returncode == 0, out.stderr
    assert "Warning" not in out.stderr and "AutoDateLocator" not in out.stderr, out.stderr
    assert "report with 1 pixel written" in out.stdout


def test_a_db_url_without_scheme_is_one_line():
    out = run("db", "status", "--db", "localhost:5432/perocube")
    assert out.returncode == 2
    assert "postgresql://localhost:5432/perocube" in one_error_line(out)


def test_import_summary_is_a_sentence_not_a_dict(db_url, sample_dir):
    out = run("import", str(sample_dir), "--db", db_url)
    assert out.returncode == 0, out.stderr
    assert "logbook: 4 devices, 13 pixels, 22 connection events new, 2 rows left out" in out.stdout
    assert "{'" not in out.stdout


def test_simulate_with_nothing_listening_gives_up_with_an_error():
    from perocube_desktop.cli import parse_args

    assert parse_args(["simulate"]).give_up_after == 30  # bounded by default
    t0 = time.monotonic()
    out = run("simulate", "--port", str(free_port()), "--give-up-after", "2", timeout=60)
    assert out.returncode == 1 and time.monotonic() - t0 < 30
    errors = [ln for ln in out.stderr.splitlines() if ln.startswith("error:")]
    assert len(errors) == 1 and "nothing accepted a connection" in errors[0] and "Traceback" not in out.stderr
    assert "sent" not in out.stdout  # no success-looking summary


def test_api_422_for_end_before_start_has_the_message_field(db_url):
    from perocube_desktop.api.server import ApiServer
    from perocube_desktop.config import Settings

    server = ApiServer(db_url, Settings(), "127.0.0.1", free_port())
    server.start()
    try:
        params = {"start_time": "2024-05-04T00:00:00", "end_time": "2024-05-03T00:00:00"}
        r = httpx.get(server.url + "/measurements/mpp", params=params, timeout=30)
        other = httpx.get(server.url + "/measurements/mpp", params={"limit": "many"}, timeout=30)
    finally:
        server.stop()
    assert r.status_code == other.status_code == 422
    assert set(r.json()) == set(other.json()) == {"detail", "message"}
    assert "end_time" in r.json()["message"] and "before start_time" in r.json()["message"]
