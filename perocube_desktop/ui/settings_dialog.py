"""Settings: database connection (with a test button), receiver port and allow-list, alarm thresholds.

Alarm thresholds and the allow-list apply at once; a new port or database applies at the
next start (said in the dialog). Everything is written to the YAML config.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

from PySide6.QtWidgets import (QCheckBox, QDialog, QDialogButtonBox, QDoubleSpinBox, QFormLayout, QGroupBox, QHBoxLayout,
                               QLabel, QLineEdit, QMessageBox, QPushButton, QSpinBox, QVBoxLayout)

from .. import config
from ..config import ConfigError, Settings
from . import worker

ALARM_FIELDS = [("stale_after_s", "Stale after (s)", 1, 86400), ("power_drop_pct", "Power drop alarm (%)", 0, 100),
                ("light_threshold_wm2", "Lamps on above (W/m²)", 0, 2000),
                ("temperature_max_c", "Temperature limit (°C)", -50, 200),
                ("db_unreachable_min", "Database unreachable alarm (min)", 0, 1440)]


class SettingsDialog(QDialog):
    def __init__(self, settings: Settings, service, parent=None,
                 probe: Callable[[str], str] | None = None, api_control: Callable | None = None) -> None:
        """``probe(url) -> 'PostgreSQL 16.4'`` (raising when unreachable) runs in the background for
        "Test connection"; the app composition passes ``db.probe.server_version``."""
        super().__init__(parent)
        self.probe = probe
        self.setWindowTitle("Settings")
        self.settings = settings
        self.service = service
        # the read API (docs/api.md): api_control(ApiSettings) -> error or None starts/stops it at once
        self.api_control = api_control
        lay = QVBoxLayout(self)
        for box in (self._build_database_box(), self._build_receiver_box(), self._build_api_box(),
                    self._build_alarm_box()):
            lay.addWidget(box)
        self.error = QLabel("")
        self.error.setStyleSheet("color: #b00020")
        lay.addWidget(self.error)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Save | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.save)
        buttons.rejected.connect(self.reject)
        lay.addWidget(buttons)

    def _build_database_box(self) -> QGroupBox:
        settings = self.settings
        db = QGroupBox("Database")
        f = QFormLayout(db)
        self.db_url = QLineEdit(settings.database.url or "")
        self.db_url.setPlaceholderText("empty = embedded database;  e.g. postgresql://lab@dbhost/perocube")
        # the placeholder and a real URL readable in full (frame and text margins on top of the text)
        self.db_url.setMinimumWidth(self.db_url.fontMetrics().horizontalAdvance(self.db_url.placeholderText()) + 24)
        self.test_button = QPushButton("Test connection")
        self.test_button.clicked.connect(self.test_connection)
        self.test_button.setVisible(self.probe is not None)
        row = QHBoxLayout()
        row.addWidget(self.db_url, 1)
        row.addWidget(self.test_button)
        f.addRow("URL (no password)", row)
        self.db_result = QLabel("")
        self.db_result.setWordWrap(True)
        f.addRow("", self.db_result)
        return db

    def _build_receiver_box(self) -> QGroupBox:
        receiver_box = QGroupBox("Receiver")
        f = QFormLayout(receiver_box)
        self.port = QSpinBox(minimum=1, maximum=65535, value=self.settings.receiver.port)
        self.allow = QLineEdit(", ".join(self.settings.receiver.allow))
        f.addRow("Port (applies at next start)", self.port)
        f.addRow("Allowed peers", self.allow)
        return receiver_box

    def _build_api_box(self) -> QGroupBox:
        settings = self.settings
        api = QGroupBox("Read API (HTTP, for notebooks and dashboards)")
        f = QFormLayout(api)
        self.api_enabled = QCheckBox("Serve the read API beside the receiver (docs at /docs)")
        self.api_enabled.setChecked(settings.api.enabled)
        self.api_host = QLineEdit(settings.api.host)
        self.api_host.setToolTip("127.0.0.1 = this PC only; any other address needs a token "
                                 "(PEROCUBE_API_TOKEN or 'perocube-desktop serve --new-token')")
        self.api_port = QSpinBox(minimum=1, maximum=65535, value=settings.api.port)
        f.addRow(self.api_enabled)
        f.addRow("Listen address", self.api_host)
        f.addRow("Port", self.api_port)
        return api

    def _build_alarm_box(self) -> QGroupBox:
        alarms_box = QGroupBox("Alarms")
        f = QFormLayout(alarms_box)
        self.alarm_edits = {}
        for name, label, lo, hi in ALARM_FIELDS:
            w = QDoubleSpinBox(minimum=lo, maximum=hi, decimals=1, value=getattr(self.settings.alarms, name))
            self.alarm_edits[name] = w
            f.addRow(label, w)
        return alarms_box

    def test_connection(self) -> None:
        url = self.db_url.text().strip()
        if not url:
            self.db_result.setText("embedded database (always available)")
            return
        if self.probe is None:
            return
        self.test_button.setEnabled(False)
        self.db_result.setText(f"connecting to {url}…")
        worker.start(self.probe, url, on_done=self._tested, on_exception=self._test_failed, expected=(Exception,))

    def _tested(self, version: str) -> None:
        self.test_button.setEnabled(True)
        self.db_result.setText(f"✔ connected: {version}")

    def _test_failed(self, exc: Exception) -> None:
        self.test_button.setEnabled(True)
        self.db_result.setText(f"✘ {(str(exc).splitlines() or [type(exc).__name__])[0]}")

    def save(self) -> None:
        new = dataclasses.replace(self.settings)
        try:
            url = self.db_url.text().strip() or None
            if url:
                config.check_no_password(url, "database URL")
            allow = [a.strip() for a in self.allow.text().split(",") if a.strip()]
            receiver = dataclasses.replace(self.settings.receiver, port=self.port.value(), allow=allow)
            config._validate(receiver, lambda k: f"receiver {k}")
            alarms = dataclasses.replace(self.settings.alarms,
                                         **{k: w.value() for k, w in self.alarm_edits.items()})
            api = dataclasses.replace(self.settings.api, enabled=self.api_enabled.isChecked(),
                                      host=self.api_host.text().strip() or "127.0.0.1", port=self.api_port.value())
            config._validate(api, lambda k: f"api {k}")
        except ConfigError as exc:
            self.error.setText(str(exc))
            return
        new.database = dataclasses.replace(self.settings.database, url=url)
        new.receiver, new.alarms = receiver, alarms
        api_changed, new.api = api != self.settings.api, api
        try:
            path = config.save(new)
        except OSError as exc:
            QMessageBox.critical(self, "Settings", f"Cannot write the config: {exc}")
            return
        # apply in place where possible
        self.settings.database, self.settings.receiver = new.database, new.receiver
        for k in self.alarm_edits:
            setattr(self.settings.alarms, k, getattr(alarms, k))
        self.settings.source = str(path)
        if self.service is not None:
            self.service.receiver.set_allow(allow)
        self.settings.api = api
        if api_changed and self.api_control is not None and (problem := self.api_control(api)):
            QMessageBox.warning(self, "Read API", problem)
        self.accept()
