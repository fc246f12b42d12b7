"""The GUI thread never waits on the database: every page's database work runs in the
background (``ui.worker``). Checked behaviourally against a deliberately slow database (a TCP
proxy that holds every server reply for 200 ms) with a 10-ms QTimer heartbeat on the GUI thread."""

from __future__ import annotations

import socket
import threading
import time

import pytest
from psycopg.conninfo import conninfo_to_dict, make_conninfo
from psycopg_pool import ConnectionPool
from PySide6.QtCore import QThreadPool, QTimer

from perocube_desktop.config import Settings
from perocube_desktop.db.probe import server_version
from perocube_desktop.registry.repository import RegistryRepository
from perocube_desktop.registry.wiring import WiringService
from perocube_desktop.ui.registry import RegistryPage
from perocube_desktop.ui.reports import ReportsPage
from perocube_desktop.ui.settings_dialog import SettingsDialog
from perocube_desktop.db.session import POOL_KWARGS

from helpers import pump

pytestmark = pytest.mark.gui

DELAY_S = 0.2


class SlowProxy:
    """Forwards TCP clients to the PostgreSQL server; every chunk the server sends is held DELAY_S."""

    def __init__(self, conninfo: str) -> None:
        parts = conninfo_to_dict(conninfo)
        host, port = parts.get("host") or "localhost", int(parts.get("port") or 5432)
        self.upstream = (host, port)
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.url = make_conninfo(conninfo, host="127.0.0.1", port=self.listener.getsockname()[1], sslmode="disable")
        self.delayed = 0
        self.stopping = threading.Event()
        self.threads = [threading.Thread(target=self._accept, daemon=True)]
        self.threads[0].start()

    def _connect_upstream(self) -> socket.socket:
        host, port = self.upstream
        if host.startswith("/"):  # a Unix-socket directory (the embedded server)
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.connect(f"{host}/.s.PGSQL.{port}")
            return s
        return socket.create_connection((host, port))

    def _accept(self) -> None:
        self.listener.settimeout(0.2)
        while not self.stopping.is_set():
            try:
                client, _ = self.listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            server = self._connect_upstream()
            for src, dst, slow in ((client, server, False), (server, client, True)):
                t = threading.Thread(target=self._pump, args=(src, dst, slow), daemon=True)
                t.start()
                self.threads.append(t)

    def _pump(self, src: socket.socket, dst: socket.socket, slow: bool) -> None:
        pump(src, dst, DELAY_S if slow else 0.0, self._count_delayed if slow else None)

    def _count_delayed(self) -> None:
        self.delayed += 1

    def close(self) -> None:
        self.stopping.set()
        self.listener.close()


class Heartbeat:
    """A 10-ms timer on the GUI thread; the longest gap between beats is how long it was blocked."""

    def __init__(self) -> None:
        self.gaps: list[float] = []
        self.last = time.perf_counter()
        self.timer = QTimer()
        self.timer.timeout.connect(self._beat)

    def _beat(self) -> None:
        now = time.perf_counter()
        self.gaps.append((now - self.last) * 1000 - 10)
        self.last = now

    def start(self) -> None:
        self.last = time.perf_counter()
        self.timer.start(10)

    def stop(self) -> float:
        self.timer.stop()
        return max(self.gaps)


@pytest.fixture
def slow(db_url, backend):
    proxy = SlowProxy(db_url)
    yield proxy
    proxy.close()


def idle(qtbot) -> None:
    qtbot.waitUntil(lambda: QThreadPool.globalInstance().activeThreadCount() == 0, timeout=60000)


def test_pages_never_block_the_gui_thread_on_a_slow_database(qtbot, slow):
    repo_pool = ConnectionPool(slow.url, min_size=1, max_size=4, open=True, kwargs=POOL_KWARGS, timeout=30)
    try:
        repo = RegistryRepository(repo_pool)
        repo.save("device", {"name": "SLOW_01"})
        registry = RegistryPage(repo, WiringService(repo))
        reports = ReportsPage(Settings(), repo_pool, slow.url)
        dialog = SettingsDialog(Settings(), None, probe=server_version)
        for w in (registry, reports, dialog):
            qtbot.addWidget(w)
        registry.show()
        reports.show()
        dialog.show()
        idle(qtbot)
        beat = Heartbeat()
        beat.start()
        delayed_before = slow.delayed
        # every tab of the registry, the wiring actions, a new device, the reports' lists, the connection test
        for i in range(registry.count()):
            registry.setCurrentIndex(i)
            qtbot.wait(20)
        registry.setCurrentWidget(registry.new_device)
        registry.new_device.form.edits["name"].setText("SLOW_02")
        registry.new_device.save()
        reports.reload_choices()
        dialog.db_url.setText(slow.url)
        dialog.test_connection()
        w = registry.wiring
        w.reload()
        w.show_timeline()
        idle(qtbot)
        blocked = beat.stop()
        # the work was done, through the slow path
        assert slow.delayed - delayed_before > 10
        assert "Saved SLOW_02" in registry.new_device.message.text()
        assert dialog.db_result.text().startswith("✔ connected")
        assert {reports.device.itemText(i) for i in range(reports.device.count())} == set()  # no connections yet
        assert registry.tabs["device"].model.rowCount() >= 1
        assert w.device.findData("SLOW_01") >= 0
        # any database call on the GUI thread waits for at least one held reply (DELAY_S): a longest
        # stall well under it proves there was none, also on a loaded machine; the ~50 ms budget of
        # the GUI thread itself is measured by benchmarks/ui.py, not asserted here
        assert blocked < DELAY_S * 1000 * 0.75, f"the GUI thread was blocked for {blocked:.0f} ms"
    finally:
        idle(qtbot)
        repo_pool.close()
