"""The pages beyond overview and plots, built for the main window from the services the
app composition made (widgets never build repositories or open connections themselves), and the
stand-ins shown while the database does not answer yet."""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel, QStackedWidget, QWidget

from ..config import Settings
from ..registry.repository import RegistryRepository
from ..registry.wiring import WiringService

if TYPE_CHECKING:
    from .bridge import IngestBridge
    from .main_window import MainWindow


def build_pages(settings: Settings, pool, conninfo: str, registry: RegistryRepository,
                wiring: WiringService, read_conninfo: str | None = None) -> dict[str, QWidget]:
    """The database pages; reports read ``read_conninfo`` (a read replica) when given."""
    from .import_wizard import ImportPage
    from .registry import RegistryPage
    from .reports import ReportsPage

    return {"registry": RegistryPage(registry, wiring), "import": ImportPage(settings, conninfo, pool),
            "reports": ReportsPage(settings, pool, read_conninfo or conninfo)}


def pending_page(name: str, reason: str) -> QStackedWidget:
    """A stand-in for a page that needs the database, replaced by the real one when it answers."""
    page = QStackedWidget()
    page.setObjectName(f"pending-{name}")
    label = QLabel()
    label.setObjectName("pending-message")
    label.setWordWrap(True)
    label.setAlignment(Qt.AlignmentFlag.AlignCenter)
    label.setText(f"<h3>Waiting for the database</h3><p>The {name} page needs the database, which does not "
                  f"answer yet:<br><i>{reason}</i></p><p>It opens by itself when the database is reachable. "
                  "Receiving goes on meanwhile: samples are kept in the local buffer and written later.</p>")
    page.addWidget(label)
    return page


def label_window(w: MainWindow, bridge: IngestBridge, db_description: str, demo: bool,
                 viewer_poll_s: float | None) -> None:
    """What the window says about its mode: DEMO (its own database), or viewer (``viewer_poll_s``
    set: no receiver here, the screens follow the database)."""
    if demo:
        w.setWindowTitle(f"DEMO — {w.windowTitle()}")
        label = QLabel("DEMO: simulated data, separate database")
        label.setObjectName("demo-label")
        label.setToolTip(f"--demo writes only to {db_description}, never to the real database")
        label.setStyleSheet("color: white; background: #e65100; font-weight: bold; padding: 0 6px")
        w.statusBar().insertWidget(0, label)
    if viewer_poll_s is not None:
        w.setWindowTitle(f"{w.windowTitle()} (viewer)")

        def viewer_status(_status) -> None:
            w.lbl_receiver.setText("Viewer: no receiver here, following the database")
            w.lbl_receiver.setToolTip(f"new rows read from {db_description} every {viewer_poll_s:g} s")
            w.lbl_buffer.setText("")

        bridge.status_changed.connect(viewer_status)
