"""The series the plots can show, with the names people know ('B1 C3 · OK_240415_02 / A',
a sensor's identifier). The selection is what is plotted; each plotted series' colour is its
icon, so the list is the legend."""

from __future__ import annotations

from PySide6.QtCore import QEvent, Qt, Signal
from PySide6.QtGui import QColor, QIcon, QPixmap
from PySide6.QtWidgets import QAbstractItemView, QListWidget, QListWidgetItem

from ..series_key import SeriesKey
from .plot_data import colour


class SeriesListWidget(QListWidget):
    selection_changed = Signal(list)  # keys, in list order
    hovered = Signal(object)  # the key under the mouse, None when the mouse leaves

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.setMinimumWidth(160)
        self.setMouseTracking(True)
        self.item_of: dict[SeriesKey, QListWidgetItem] = {}
        self.itemSelectionChanged.connect(
            lambda: self.selection_changed.emit([it.data(Qt.ItemDataRole.UserRole) for it in self.selectedItems()]))
        self.itemEntered.connect(lambda it: self.hovered.emit(it.data(Qt.ItemDataRole.UserRole)))
        self.viewport().installEventFilter(self)

    def eventFilter(self, obj, event) -> bool:
        if event.type() == QEvent.Type.Leave and obj is self.viewport():
            self.hovered.emit(None)
        return super().eventFilter(obj, event)

    def set_known(self, keys: list[SeriesKey], labels: dict[SeriesKey, str], selected: list[SeriesKey]) -> None:
        if any(k not in self.item_of for k in keys) and self.item_of:
            # a new series: rebuild the list in the given order, keeping the selection
            self.blockSignals(True)
            self.clear()
            self.item_of.clear()
            self.blockSignals(False)
        for key in keys:
            text = labels.get(key, str(key))
            item = self.item_of.get(key)
            if item is None:
                item = QListWidgetItem(text)
                item.setData(Qt.ItemDataRole.UserRole, key)
                item.setToolTip(text)
                self.addItem(item)
                self.item_of[key] = item
                if key in selected:
                    self.blockSignals(True)
                    item.setSelected(True)
                    self.blockSignals(False)
            elif item.text() != text:
                item.setText(text)
                item.setToolTip(text)
        self.show_colours(selected)

    def show_selection(self, keys: list[SeriesKey]) -> None:
        self.blockSignals(True)
        wanted = set(keys)
        for key, it in self.item_of.items():
            it.setSelected(key in wanted)
        self.blockSignals(False)

    def show_colours(self, selected: list[SeriesKey]) -> None:
        index = {k: i for i, k in enumerate(selected)}
        for key, item in self.item_of.items():
            i = index.get(key)
            if i is None:
                item.setIcon(QIcon())
            else:
                pix = QPixmap(12, 12)
                pix.fill(QColor(colour(i)))
                item.setIcon(QIcon(pix))
