"""The pages beyond overview and plots, built for the main window."""

from __future__ import annotations

from PySide6.QtWidgets import QWidget

from ..config import Settings


def build_pages(settings: Settings, pool, conninfo: str) -> dict[str, QWidget]:
    from .import_wizard import ImportPage
    from .registry import RegistryPage
    from .reports import ReportsPage

    return {"registry": RegistryPage(pool), "import": ImportPage(settings, conninfo),
            "reports": ReportsPage(settings, pool, conninfo)}
