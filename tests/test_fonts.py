"""Offscreen text is drawn with real glyphs (#21: on Windows every text was an empty box)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from perocube_desktop import qt_setup


def test_windows_offscreen_reads_the_windows_fonts_folder():
    env = {"QT_QPA_PLATFORM": "offscreen", "WINDIR": r"C:\Windows"}
    assert qt_setup.offscreen_font_dir(env, "win32") == Path(r"C:\Windows") / "Fonts"
    qt_setup.prepare(env, "win32")
    assert env["QT_QPA_FONTDIR"] == str(Path(r"C:\Windows") / "Fonts")


@pytest.mark.parametrize("env, platform", [
    ({"QT_QPA_PLATFORM": "offscreen"}, "linux"),  # fontconfig finds them
    ({"QT_QPA_PLATFORM": "windows"}, "win32"),  # the real platform asks Windows
    ({}, "win32"),
    ({"QT_QPA_PLATFORM": "offscreen", "QT_QPA_FONTDIR": r"D:\fonts"}, "win32"),  # the user's choice
])
def test_font_folder_left_alone(env, platform):
    before = dict(env)
    qt_setup.prepare(env, platform)
    assert env == before


def _render(text: str):
    from PySide6.QtCore import Qt
    from PySide6.QtGui import QColor, QImage, QPainter

    image = QImage(120, 40, QImage.Format.Format_RGB32)
    image.fill(QColor("white"))
    painter = QPainter(image)
    painter.setPen(QColor("black"))
    painter.drawText(image.rect(), Qt.AlignmentFlag.AlignCenter, text)
    painter.end()
    return image


def test_offscreen_text_has_glyphs(qapp):
    """Distinct letters give distinct pictures: empty boxes ("tofu") for a missing font look alike."""
    from PySide6.QtGui import QFontDatabase

    assert QFontDatabase.families(), f"Qt found no font ({sys.platform})"
    a, b, blank = _render("Ag"), _render("Bx"), _render("")
    assert a != blank and b != blank
    assert a != b, "two different words drew the same picture: the glyphs are missing (empty boxes)"
