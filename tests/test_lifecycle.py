"""Life cycle as a user meets it (#12, #16): real processes, signals, sockets and databases.

A fresh clone, shutdown on signals, a server left by a crash, one instance per user, the
demo's own database, one-line user errors, a start without the database, viewer mode.
"""

from __future__ import annotations

import os
import shutil
import signal
import site
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import psutil
import psycopg
import pytest
from perocube_desktop.series_key import SeriesKey

from psycopg.conninfo import conninfo_to_dict, make_conninfo

from perocube_desktop.db import embedded

from helpers import LineClient, free_port, mpp, pump, wait_until

K = SeriesKey.parse  # "mpp:1/3" -> the key

REPO = Path(__file__).resolve().parents[1]


def cli(*args, env=None, timeout=120, cwd=None):
    return subprocess.run([sys.executable, "-m", "perocube_desktop", *args], capture_output=True, text=True,
                          env=dict(os.environ, QT_QPA_PLATFORM="offscreen", **(env or {})), timeout=timeout, cwd=cwd)


def spawn(*args, env=None, stdout=subprocess.DEVNULL):
    return subprocess.Popen([sys.executable, "-m", "perocube_desktop", *args], stdout=stdout,
                            stderr=subprocess.PIPE, text=True,
                            env=dict(os.environ, QT_QPA_PLATFORM="offscreen", PYTHONUNBUFFERED="1", **(env or {})))


def log_text() -> str:
    path = Path(os.environ["PEROCUBE_LOG_DIR"]) / "perocube-desktop.log"
    return path.read_text(encoding="utf-8") if path.exists() else ""


def postgres_on(folder: Path) -> list[psutil.Process]:
    """Server processes running on a data folder (``postgres``, on Windows ``postgres.exe``)."""
    return embedded.leftover_servers(folder)


def wait_log(text: str, proc: subprocess.Popen, timeout: float = 240) -> None:
    """Until the app's log says ``text`` (start-up on a busy 2-core machine can take a while)."""
    deadline = time.monotonic() + timeout
    while text not in log_text():
        if proc.poll() is not None:
            raise AssertionError(f"exited with {proc.returncode}: {proc.stderr.read()[-2000:]}\n{log_text()[-3000:]}")
        if time.monotonic() > deadline:
            raise AssertionError(f"no {text!r} in the log after {timeout} s:\n{log_text()[-3000:]}")
        time.sleep(0.2)


def stop_gui(proc: subprocess.Popen, sig=signal.SIGTERM) -> int:
    proc.send_signal(sig)
    return proc.wait(120)


def mpp_count(url: str) -> int:
    with psycopg.connect(url) as conn:
        return conn.execute("SELECT count(*) FROM mpp_measurement").fetchone()[0]


# --- 1. the README's two commands in a fresh clone -----------------------------------------------------


def _outer_site_packages() -> list[str]:
    """Where this interpreter's packages live: a venv made inside a venv does not see them otherwise."""
    return [p for p in [*site.getsitepackages(), site.getusersitepackages()] if Path(p).is_dir()]


@pytest.mark.skipif(shutil.which("git") is None or not (REPO / ".git").exists(), reason="needs git and a git checkout")
def test_readme_commands_in_a_fresh_clone(tmp_path):
    clone = tmp_path / "clone" / "perocube-desktop"
    subprocess.run(["git", "clone", "-q", str(REPO), str(clone)], check=True, timeout=120)
    assert not (clone.parent / "shared").exists() and not (clone.parent.parent / "shared").exists()
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", str(venv)], check=True, timeout=120)
    py = venv / ("Scripts/python.exe" if os.name == "nt" else "bin/python")
    purelib = subprocess.run([str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                             capture_output=True, text=True, check=True).stdout.strip()
    if sys.prefix != sys.base_prefix:  # we run in a venv: its packages are the "system" ones for the test
        Path(purelib, "outer-env.pth").write_text("\n".join(_outer_site_packages()) + "\n")
    env = {k: v for k, v in os.environ.items() if k not in ("PEROCUBE_TEST_TSDB_URL", "PYTHONPATH", "VIRTUAL_ENV")}
    env["QT_QPA_PLATFORM"] = "offscreen"
    # README command 1: `pip install -e . && perocube-desktop --demo` (no dependency downloads here)
    out = subprocess.run([str(py), "-m", "pip", "install", "-q", "--no-deps", "-e", "."],
                         cwd=clone, env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    where = subprocess.run([str(py), "-c", "import perocube_desktop; print(perocube_desktop.__file__)"],
                           cwd=tmp_path, env=env, capture_output=True, text=True)
    assert Path(where.stdout.strip()).is_relative_to(clone), where.stdout + where.stderr
    exe = venv / ("Scripts/perocube-desktop.exe" if os.name == "nt" else "bin/perocube-desktop")
    shot = tmp_path / "demo.png"
    out = subprocess.run([str(exe), "--demo", "--smoke-test", "5", "--screenshot", str(shot)], cwd=tmp_path, env=env,
                         capture_output=True, text=True, timeout=180)
    assert out.returncode == 0, out.stderr[-2000:]
    assert shot.stat().st_size > 10000
    # README command 2: the test command, on a small subset (the whole suite would recurse into this test)
    out = subprocess.run([str(py), "-m", "pytest", "-q", "-n", "2", "-p", "no:cacheprovider", "-k", "protocol"], cwd=clone,
                         env=env, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0 and " passed" in out.stdout, out.stdout[-3000:] + out.stderr[-2000:]


# --- 2. signals and a server left by a crash ---------------------------------------------------------


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_gui_shuts_down_in_order_on_signal(sig, tmp_path):
    data = Path(os.environ["PEROCUBE_DATA_DIR"])
    port = free_port()
    gui = spawn("--port", str(port))
    try:
        wait_log("window open", gui)
        c = LineClient(port)
        assert c.request(mpp(1_700_000_000.0)) == "ACK 1"
        c.close()
        assert postgres_on(data / "pgdata")
    finally:
        code = stop_gui(gui, sig)
    text = log_text()
    assert code == 0, gui.stderr.read()[-2000:]
    assert f"{sig.name} received" in text and "shutdown complete" in text
    assert text.index("stopping ingest") < text.index("stopping embedded PostgreSQL") < text.index("shutdown complete")
    assert not postgres_on(data / "pgdata")
    assert "0 rows left in the local buffer" in text  # flushed


def test_server_left_by_a_crash_is_stopped_at_next_start(tmp_path):
    data = Path(os.environ["PEROCUBE_DATA_DIR"])
    gui = spawn("--port", "0")
    try:
        wait_log("window open", gui)
    finally:
        gui.send_signal(signal.SIGKILL)
        gui.wait(30)
    orphans = postgres_on(data / "pgdata")
    assert orphans, "the killed app should have left its server running"
    out = cli("db", "status")
    assert out.returncode == 0, out.stderr
    assert "left running on" in out.stderr and "stopping it" in out.stderr
    wait_until(lambda: not any(p.is_running() and p.status() != psutil.STATUS_ZOMBIE for p in orphans), timeout=30)
    assert not postgres_on(data / "pgdata")


def test_embedded_server_stays_up_while_another_process_uses_it(tmp_path):
    """`db status` next to a running `receive` (same data folder) must not stop the receiver's server."""
    data = Path(os.environ["PEROCUBE_DATA_DIR"])
    port = free_port()
    recv = spawn("receive", "--port", str(port), stdout=subprocess.PIPE)
    try:
        assert "receiving on" in recv.stdout.readline()
        out = cli("db", "status")
        assert out.returncode == 0 and "keeps running for process" in out.stderr, out.stderr
        c = LineClient(port)
        assert c.request(mpp(1_700_000_000.0)) == "ACK 1"
        c.close()
    finally:
        assert stop_gui(recv) == 143  # receive stopped in order by SIGTERM: 128 + 15 (#20)
    assert not postgres_on(data / "pgdata")


# --- 8. one instance per user ---------------------------------------------------------------------------


def test_second_start_brings_the_first_to_the_front(db_url):
    first = spawn("--db", db_url, "--port", "0")
    try:
        wait_log("window open", first)
        second = cli("--db", db_url, "--port", "0", timeout=60)
        assert second.returncode == 0 and "already running" in second.stderr, second.stderr
        wait_until(lambda: "a second start asked for this window" in log_text(), timeout=20)
        assert first.poll() is None  # the first one runs on
        assert log_text().count("window open") == 1
    finally:
        assert stop_gui(first) == 0


# --- 4. the demo's own database -------------------------------------------------------------------------


@pytest.mark.gui
def test_demo_has_its_own_database_and_says_so(db_url, gui_app, qtbot, monkeypatch):
    # the lab's database configured the usual way (environment): the demo must not touch it
    monkeypatch.setenv("PEROCUBE_DB_URL", db_url)
    data = Path(os.environ["PEROCUBE_DATA_DIR"])
    a = gui_app(demo=True)
    w = a.window
    assert a.target.embedded is not None and Path(a.target.embedded.pgdata).is_relative_to(data / "demo")
    assert w.windowTitle().startswith("DEMO")
    label = w.statusBar().findChild(type(w.lbl_db), "demo-label")
    assert label is not None and "DEMO" in label.text() and label.isVisible()
    assert Path(a.service.buffer.path).is_relative_to(data / "demo")
    wait_until(lambda: mpp_count(a.target.conninfo) > 0, timeout=30)
    assert mpp_count(db_url) == 0
    assert not (data / "pgdata").exists() and not (data / "ingest-buffer.sqlite3").exists()


# --- 5. user errors: one line, non-zero, nothing written ------------------------------------------------


def error_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith(("error", "configuration error"))]


def assert_user_error(out, *words):
    assert out.returncode != 0, out
    assert "Traceback" not in out.stderr, out.stderr
    lines = error_lines(out.stderr)
    assert len(lines) == 1, out.stderr
    for w in words:
        assert w in lines[0], lines[0]


@pytest.mark.parametrize("argv", [["--db", "mysql://lab@db.example/perocube", "db", "status"],
                                  ["report", "--all", "--out", "r.pdf", "--db", "mysql://lab@db.example/perocube"],
                                  ["receive", "--db", "mysql://lab@db.example/perocube"]])
def test_url_that_is_not_postgresql(argv, tmp_path):
    work = tmp_path / "work"
    work.mkdir()
    out = cli(*argv, cwd=work)
    assert_user_error(out, "mysql:// is not PostgreSQL", "postgresql://")
    assert list(work.iterdir()) == [] and not (tmp_path / "data").exists()


def test_config_url_that_is_not_postgresql(tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("database:\n  url: mysql://lab@db.example/perocube\n")
    assert_user_error(cli("--config", str(cfg), "db", "status"), "line 2", "database.url", "not PostgreSQL")


def test_receiver_port_in_use(db_url, tmp_path):
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        held.listen()
        port = held.getsockname()[1]
        out = cli("receive", "--db", db_url, "--port", str(port), "--buffer", str(tmp_path / "b.sqlite3"))
    assert_user_error(out, f"127.0.0.1:{port}", "--port")


def test_set_password_without_keyring():
    out = cli("config", "set-password", "--db", "postgresql://lab@db.example/perocube",
              env={"PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring"})
    assert_user_error(out, "no OS keyring", "PEROCUBE_DB_PASSWORD")


def test_smoke_test_with_a_bad_url(tmp_path):
    out = cli("--db", "mysql://lab@db.example/perocube", "--smoke-test", "5")
    assert_user_error(out, "mysql:// is not PostgreSQL")
    closed = free_port()
    out = cli("--db", f"postgresql://nobody@127.0.0.1:{closed}/none", "--port", "0", "--smoke-test", "3")
    # a smoke test also copies the log's errors to stderr (background tasks with their tracebacks); the
    # verdict is its last line
    last = out.stderr.strip().splitlines()[-1]
    assert out.returncode == 1 and last.startswith("error: smoke test failed"), out.stderr[-2000:]
    assert "database never answered" in last and str(closed) in last


def test_report_for_a_device_that_does_not_exist(db_url, tmp_path):
    out = cli("report", "--device", "NO-SUCH-DEVICE", "--out", "r.pdf", "--db", db_url, cwd=tmp_path)
    assert_user_error(out, "no device named 'NO-SUCH-DEVICE'", "r.pdf was not written")  # named (#20)
    assert not (tmp_path / "r.pdf").exists()


def test_pixel_without_device(tmp_path):
    out = cli("report", "--all", "--pixel", "3", "--out", "r.pdf", cwd=tmp_path)
    assert_user_error(out, "--pixel needs --device")
    assert not (tmp_path / "r.pdf").exists()


@pytest.mark.parametrize("argv", [["db", "status"], ["config", "show"], []])
def test_config_file_that_does_not_exist(argv, tmp_path):
    out = cli("--config", "nope.yaml", *argv, cwd=tmp_path)
    assert_user_error(out, "config file nope.yaml does not exist")


# --- 6. start without the database, then the database comes --------------------------------------------


class LateDatabase:
    """A TCP port that is closed until ``open()``; then it forwards to the test database's server."""

    def __init__(self, db_url: str) -> None:
        self.target = conninfo_to_dict(db_url)
        self.port = free_port()
        self.url = make_conninfo(db_url, host="127.0.0.1", port=str(self.port))
        self._sock: socket.socket | None = None
        self._stop = threading.Event()

    def _connect_target(self) -> socket.socket:
        host = self.target.get("host") or "/tmp"
        port = int(self.target.get("port") or 5432)
        if host.startswith("/"):
            s = socket.socket(socket.AF_UNIX)
            s.connect(os.path.join(host, f".s.PGSQL.{port}"))
            return s
        return socket.create_connection((host, port))

    def open(self) -> None:
        self._sock = socket.socket()
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind(("127.0.0.1", self.port))
        self._sock.listen(16)
        self._sock.settimeout(0.2)
        threading.Thread(target=self._accept, name="late-db", daemon=True).start()

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                client, _ = self._sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            upstream = self._connect_target()
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=pump, args=(a, b), name="late-db-pipe", daemon=True).start()

    def close(self) -> None:
        self._stop.set()
        if self._sock is not None:
            self._sock.close()


@pytest.fixture
def late_db(db_url):
    late = LateDatabase(db_url)
    yield late
    late.close()


def fast_retry_config(tmp_path, extra: str = "") -> Path:
    cfg = tmp_path / "fast.yaml"
    cfg.write_text("writer:\n  max_backoff_s: 0.5\n  flush_interval_s: 0.05\n" + extra)
    return cfg


def test_receive_starts_without_the_database_and_drains_later(late_db, db_url, tmp_path):
    port = free_port()
    recv = spawn("receive", "--config", str(fast_retry_config(tmp_path)), "--db", late_db.url, "--port", str(port),
                 "--buffer", str(tmp_path / "buf.sqlite3"), stdout=subprocess.PIPE)
    try:
        assert "database not reachable" in recv.stdout.readline()
        assert "receiving on" in recv.stdout.readline()
        c = LineClient(port)
        for i in range(50):
            assert c.request(mpp(1_700_000_000.0 + i)) == "ACK 1"  # durable in the local buffer
        assert mpp_count(db_url) == 0
        late_db.open()
        wait_until(lambda: mpp_count(db_url) == 50, timeout=60)
        assert c.request(mpp(1_700_000_100.0)) == "ACK 1"
        wait_until(lambda: mpp_count(db_url) == 51, timeout=30)
        c.close()
    finally:
        assert stop_gui(recv) == 143  # receive stopped in order by SIGTERM: 128 + 15 (#20)
    assert "database writer connected" in log_text()


@pytest.mark.gui
def test_gui_starts_without_the_database_and_opens_its_pages_later(db_url, late_db, gui_app, qtbot, tmp_path):
    from perocube_desktop import config

    settings = config.load(fast_retry_config(tmp_path))
    a = gui_app(settings, db=late_db.url)
    w = a.window
    assert not a.database_ok and a.service is not None
    for name in ("registry", "import", "reports"):
        assert w.pages[name].objectName() == f"pending-{name}"
        assert "Waiting for the database" in w.pages[name].currentWidget().text()
    c = LineClient(a.service.receiver.port)
    for i in range(20):
        assert c.request(mpp(1_700_000_000.0 + i)) == "ACK 1"
    c.close()
    qtbot.waitUntil(lambda: "Database reconnecting" in w.lbl_db.text(), timeout=10000)
    assert mpp_count(db_url) == 0
    late_db.open()
    qtbot.waitUntil(lambda: a.database_ok, timeout=30000)
    qtbot.waitUntil(lambda: mpp_count(db_url) == 20, timeout=30000)
    qtbot.waitUntil(lambda: w.lbl_db.text() == "Database connected", timeout=10000)
    for name in ("registry", "import", "reports"):
        assert w.pages[name].currentWidget() is not w.pages[name].widget(0)


# --- 9/10. a receiver service and a GUI that follows the database ---------------------------------------


@pytest.mark.gui
@pytest.mark.parametrize("how", ["receiver.enabled false", "port held by the service"])
def test_viewer_follows_what_a_receive_process_writes(how, db_url, gui_app, qtbot, tmp_path):
    from perocube_desktop import config
    from perocube_desktop.monitor.overview import LIVE

    port = free_port()
    recv = spawn("receive", "--db", db_url, "--port", str(port), "--buffer", str(tmp_path / "svc.sqlite3"),
                 stdout=subprocess.PIPE)
    try:
        assert "receiving on" in recv.stdout.readline()
        extra = "receiver:\n  viewer_poll_s: 1\n" + ("  enabled: false\n" if how.startswith("receiver") else "")
        settings = config.load(fast_retry_config(tmp_path, extra))
        a = gui_app(settings, db=db_url, port=port)
        w = a.window
        assert a.service is None and a.viewer and "(viewer)" in w.windowTitle()
        c = LineClient(port)
        now = time.time()
        for i in range(5):
            assert c.request(mpp(now - 5 + i, board=3, channel=2, power=7.5)) == "ACK 1"
        acked = time.monotonic()
        # the criterion: the new samples on screen within 5 s of their ACK
        qtbot.waitUntil(lambda: K("mpp:3/2") in w.store.latest and w.store.latest[K("mpp:3/2")].t > now - 1.5,
                        timeout=int(os.environ.get("PEROCUBE_TEST_VIEWER_MS", "5000")))
        shown_after = time.monotonic() - acked
        print(f"viewer: samples shown {shown_after:.2f} s after their ACK")
        series = w.store.series(K("mpp:3/2"))
        assert series is not None and len(series[0]) == 5
        qtbot.waitUntil(lambda: any(t.key == K("mpp:3/2") and t.state == LIVE for t in w.overview.grid.tiles),
                        timeout=10000)
        assert w.lbl_receiver.text().startswith("Viewer") and w.lbl_db.text() == "Database connected"
        c.close()
    finally:
        assert stop_gui(recv) == 143  # receive stopped in order by SIGTERM: 128 + 15 (#20)


# --- 9. a test session leaves nothing behind ------------------------------------------------------------


def test_a_test_session_with_the_embedded_server_leaves_no_temporary_folder():
    """The session folder (embedded server, tmp_paths) is removed at the end, and nothing re-creates
    it afterwards (the embedded-server wheel's exit hook used to re-create its lock file there)."""
    import tempfile

    tmp = Path(tempfile.mkdtemp(prefix="pc-"))  # short: the server's Unix socket lives below it
    try:
        env = {**os.environ, "TMPDIR": str(tmp), "PEROCUBE_TEST_BACKENDS": "plain", "QT_QPA_PLATFORM": "offscreen"}
        root = Path(__file__).resolve().parents[1]
        out = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                              "tests/test_db_schema.py::test_refuses_newer_schema"],
                             cwd=root, env=env, capture_output=True, text=True, timeout=300)
        assert out.returncode == 0 and "1 passed" in out.stdout, out.stdout[-2000:] + out.stderr[-2000:]
        assert sorted(p.name for p in tmp.iterdir() if p.name.startswith("perocube-tests-")) == []
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
