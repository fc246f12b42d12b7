"""A one-line label that shortens its text with "…" instead of claiming its full width: the
status bar's message gives way so that the permanent labels beside it are never cut."""

from __future__ import annotations

from PySide6.QtCore import QSize, Qt
from PySide6.QtGui import QPainter
from PySide6.QtWidgets import QLabel


class ElidedLabel(QLabel):
    def minimumSizeHint(self) -> QSize:
        return QSize(40, super().minimumSizeHint().height())

    def paintEvent(self, event) -> None:
        p = QPainter(self)
        rect = self.contentsRect()
        shown = self.fontMetrics().elidedText(self.text(), Qt.TextElideMode.ElideRight, rect.width())
        p.setPen(self.palette().color(self.foregroundRole()))
        p.drawText(rect, int(self.alignment()), shown)
        p.end()

    def setText(self, text: str) -> None:  # noqa: N802 - Qt's name
        super().setText(text)
        self.setToolTip(text)  # the whole text where it is shortened
