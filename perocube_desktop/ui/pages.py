"""The pages beyond overview and plots, built for the main window from the services the
app composition made (widgets never build repositories or open connections themselves), and the
stand-ins shown while the database does not answer yet."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel, QStackedWidget, QWidget

from ..config import Settings
from ..registry.repository import RegistryRepository
from ..registry.wiring import WiringService


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
