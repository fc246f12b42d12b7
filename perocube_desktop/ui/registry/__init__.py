"""Registry page: one searchable table per kind, forms generated from the declarations,
the quick new-device flow, the wiring history and the audit log.

Every tab reads and writes through the repository and wiring service that the app
composition passes in, always in the background (``ui.worker``)."""

from __future__ import annotations

import logging

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QTabWidget

from ...registry.repository import RegistryRepository
from ...registry.schema import ENTITIES
from ...registry.wiring import WiringService
from .audit_tab import AuditTab
from .entity_tab import EntityTab
from .forms import EntityDialog, EntityForm
from .new_device import NewDeviceTab
from .wiring_tab import WiringTab

log = logging.getLogger(__name__)

__all__ = ["AuditTab", "EntityDialog", "EntityForm", "EntityTab", "NewDeviceTab", "RegistryPage", "WiringTab"]

# the tabs an operator uses daily first
ENTITY_TABS = ("device", "pixel", "channel", "temperature_sensor", "irradiance_sensor", "experiment", "project",
               "scientist")


class RegistryPage(QTabWidget):
    error = Signal(str)

    def __init__(self, repo: RegistryRepository, wiring: WiringService, parent=None) -> None:
        super().__init__(parent)
        self.repo = repo
        self.setUsesScrollButtons(True)  # never wider than the window
        self.setElideMode(Qt.TextElideMode.ElideNone)
        self.tabs: dict[str, EntityTab] = {}
        self.new_device = NewDeviceTab(repo)
        self.new_device.saved.connect(self._device_saved)
        self.addTab(self.new_device, "New device")
        self.wiring = WiringTab(repo, wiring)
        self.addTab(self.wiring, "Wiring")
        for name in ENTITY_TABS:
            tab = EntityTab(ENTITIES[name], repo)
            self.tabs[name] = tab
            self.addTab(tab, ENTITIES[name].title)
        self.audit = AuditTab(repo)
        self.addTab(self.audit, "Audit log")
        # the tabs in their order: each reports errors and reloads when shown
        self.pages: list[NewDeviceTab | WiringTab | EntityTab | AuditTab] = [
            self.new_device, self.wiring, *self.tabs.values(), self.audit]
        for page in self.pages:
            page.error.connect(self.error)
        self._shown_once = False
        self.currentChanged.connect(self._tab_changed)

    def showEvent(self, event) -> None:
        super().showEvent(event)
        if not self._shown_once:  # nothing is read before the operator opens the page
            self._shown_once = True
            self.pages[self.currentIndex()].reload()

    def _device_saved(self, _row: dict) -> None:
        for name in ("device", "pixel"):
            self.tabs[name].reload()
        self.wiring.reload()

    def _tab_changed(self, index: int) -> None:
        if self._shown_once:
            self.pages[index].reload()
