"""The margin-less box several pages build around their parts (the main window's navigation and
pages, the overview's hint and tiles, the plots' bars and graphs), written once."""

from __future__ import annotations

from PySide6.QtWidgets import QHBoxLayout, QLayout, QVBoxLayout, QWidget


def box(*parts: QWidget | QLayout, horizontal: bool = False) -> QWidget:
    """A widget holding ``parts`` in a column (or a row, ``horizontal``) without margins; the last
    part takes the room left."""
    holder = QWidget()
    lay = QHBoxLayout(holder) if horizontal else QVBoxLayout(holder)
    lay.setContentsMargins(0, 0, 0, 0)
    for i, part in enumerate(parts):
        stretch = 1 if i == len(parts) - 1 else 0
        if isinstance(part, QLayout):
            lay.addLayout(part, stretch)
        else:
            lay.addWidget(part, stretch)
    return holder
