"""The pages beyond overview and plots, built for the main window from the services the
app composition made (widgets never build repositories or open connections themselves)."""

from __future__ import annotations

from PySide6.QtWidgets import QWidget

from ..config import Settings
from ..registry.repository import RegistryRepository
from ..registry.wiring import WiringService


def build_pages(settings: Settings, pool, conninfo: str, registry: RegistryRepository,
                wiring: WiringService) -> dict[str, QWidget]:
    from .import_wizard import ImportPage
    from .registry import RegistryPage
    from .reports import ReportsPage

    return {"registry": RegistryPage(registry, wiring), "import": ImportPage(settings, conninfo, pool),
            "reports": ReportsPage(settings, pool, conninfo)}
