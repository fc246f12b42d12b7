"""The bridge from the ingest service (plain threads) to the GUI: one timer, typed signals.

Never one signal per sample: every ``interval_ms`` the timer drains the service's live tap
into the LiveStore and emits which series changed, and emits the status once.
"""

from __future__ import annotations

import logging

from PySide6.QtCore import QObject, QTimer, Signal

from ..ingest.service import IngestService, IngestStatus
from ..monitor.live import DatabasePoller, LiveStore

log = logging.getLogger(__name__)


class IngestBridge(QObject):
    samples_received = Signal(set)  # keys of the series that got data
    status_changed = Signal(object)  # IngestStatus

    def __init__(self, service: IngestService | DatabasePoller | None, store: LiveStore, interval_ms: int = 250,
                 parent=None) -> None:
        """``service``: the receiver here, or the poller that follows the database (viewer mode)."""
        super().__init__(parent)
        self.service = service
        self.store = store
        self.last_status: IngestStatus | None = None
        self.timer = QTimer(self)
        self.timer.setInterval(interval_ms)
        self.timer.timeout.connect(self.poll)
        self.timer.start()

    def poll(self) -> None:
        if self.service is None:
            return
        try:
            tap = self.service.tap
            batch = []
            for _ in range(len(tap)):
                batch.append(tap.popleft())
            if batch:
                self.samples_received.emit(self.store.add(batch))
            self.last_status = self.service.status()
            self.status_changed.emit(self.last_status)
        except Exception:  # keep the display timer alive, and say what happened
            log.exception("live update failed")
