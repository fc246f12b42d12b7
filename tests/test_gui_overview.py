"""The overview's tile layout (pytest-qt, offscreen): a board's channels on balanced rows, and
sensor tiles that can be told apart."""

from __future__ import annotations

import numpy as np
import pytest

from perocube_desktop.monitor.overview import LIVE, Tile
from perocube_desktop.ui.overview import TileGridWidget
from perocube_desktop.series_key import SeriesKey

K = SeriesKey.parse  # "mpp:1/3" -> the key


pytestmark = pytest.mark.gui


def tiles(boards: int, channels: int) -> list[Tile]:
    return [Tile(K(f"mpp:{b}/{c}"), f"B{b} C{c}", "nothing connected", "4 mW", 1.0, LIVE,
                 np.zeros(0, dtype=np.float32), f"Board {b}") for b in range(1, boards + 1)
            for c in range(1, channels + 1)]


def rows(grid: TileGridWidget) -> list[int]:
    """Tiles per row, top to bottom."""
    ys: dict[float, int] = {}
    for rect, _key in grid._rects:
        ys[rect.top()] = ys.get(rect.top(), 0) + 1
    return [ys[y] for y in sorted(ys)]


@pytest.mark.parametrize("width", [1230, 1780])  # the overview at 1366 and at 1920 px
def test_a_board_of_eight_sits_on_one_row(qtbot, width):
    grid = TileGridWidget()
    qtbot.addWidget(grid)
    grid.resize(width, 600)
    grid.set_tiles(tiles(2, 8))
    assert rows(grid) == [8, 8]


def test_sixteen_channels_wrap_into_equal_rows(qtbot):
    grid = TileGridWidget()
    qtbot.addWidget(grid)
    grid.resize(1230, 600)
    grid.set_tiles(tiles(1, 16))
    assert rows(grid) == [8, 8]
    grid.resize(1000, 600)
    grid.set_tiles(tiles(1, 16))
    r = rows(grid)
    assert sum(r) == 16 and 2 * r[-1] >= r[0]  # no lonely tile on the last row (6, 6, 4 rather than 7, 7, 2)


def test_sensor_tiles_keep_the_end_of_their_identifier(qtbot):
    grid = TileGridWidget()
    qtbot.addWidget(grid)
    grid.resize(1230, 600)
    sensors = [Tile(K(f"temperature:{i}"), "Temperature", f"m7004_ID_94C6D5390E4C480{i}", "25 °C", 1.0, LIVE,
                    np.zeros(0, dtype=np.float32), "Sensors") for i in (1, 2)]
    grid.set_tiles(sensors)
    grid.show()
    fm = grid.fontMetrics()
    from PySide6.QtCore import Qt

    shown = [fm.elidedText(t.label, Qt.TextElideMode.ElideMiddle, int(rect.width()) - 14)
             for (rect, _k), t in zip(grid._rects, sensors)]
    assert shown[0] != shown[1] and shown[0].endswith("1") and shown[1].endswith("2")
