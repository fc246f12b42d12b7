"""Page layout for the PDF report: flowing text and tables drawn with few text objects.

Matplotlib's PDF backend spends most of its time per text object (a figure-of-merit table of
32 × 14 cells took seconds with ``Axes.table``), so a paragraph is one multi-line text and a
table column is one multi-line text; the line pitch is measured once per font size.
"""

from __future__ import annotations

import functools
import textwrap
from collections.abc import Callable

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.backends.backend_agg import FigureCanvasAgg  # noqa: E402
from matplotlib.backends.backend_pdf import PdfPages  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.patches import Rectangle  # noqa: E402

A4 = (11.69, 8.27)  # landscape, inches
LINESPACING = 1.35
TOP, BOTTOM = 0.89, 0.05


@functools.cache
def pitch(fontsize: float) -> float:
    """Distance between two lines of a multi-line text, as a fraction of the page height."""
    fig = Figure(figsize=A4)
    canvas = FigureCanvasAgg(fig)
    one = fig.text(0, 0, "Ag", fontsize=fontsize, linespacing=LINESPACING)
    eleven = fig.text(0, 0, "\n".join(["Ag"] * 11), fontsize=fontsize, linespacing=LINESPACING)
    r = canvas.get_renderer()
    h1, h11 = one.get_window_extent(r).height, eleven.get_window_extent(r).height
    return (h11 - h1) / 10 / fig.bbox.height


def new_page(title: str) -> Figure:
    fig = plt.figure(figsize=A4)
    fig.text(0.05, 0.94, title, fontsize=15, weight="bold")
    return fig


class Flow:
    """Headings and wrapped paragraphs flowing over pages (one text object per paragraph)."""

    def __init__(self, pdf: PdfPages, title: str) -> None:
        self.pdf, self.title = pdf, title
        self.fig: Figure | None = new_page(title)
        self.y = TOP

    def _page(self) -> Figure:
        if self.fig is None:
            raise RuntimeError("text after close()")
        return self.fig

    def _next(self) -> None:
        self.pdf.savefig(self._page())
        plt.close(self._page())
        self.fig = new_page(self.title + " (continued)")
        self.y = TOP

    def block(self, heading: str, paragraphs: list[str], indent: float = 0.02, size: float = 9) -> None:
        """A heading with its paragraphs, moved whole to the next page when it does not fit here."""
        lines = [textwrap.wrap(p, 150 - int(indent * 150)) or [""] for p in paragraphs]
        need = 0.05 + pitch(size) * sum(len(x) for x in lines)
        if self.y - need < BOTTOM and need < TOP - BOTTOM:
            self._next()
        self.heading(heading)
        self._lines([line for wrapped in lines for line in wrapped], indent, size)

    def heading(self, text: str) -> None:
        if self.y - 0.08 < BOTTOM:
            self._next()
        self.y -= 0.01
        self._page().text(0.05, self.y, text, fontsize=11.5, weight="bold", va="top")
        self.y -= 0.035

    def para(self, text: str, indent: float = 0.0, size: float = 9) -> None:
        self._lines(textwrap.wrap(text, 150 - int(indent * 150)) or [""], indent, size)

    def _lines(self, lines: list[str], indent: float, size: float) -> None:
        step = pitch(size)
        while lines:
            room = max(int((self.y - BOTTOM) / step), 0)
            if room == 0:
                self._next()
                continue
            part, lines = lines[:room], lines[room:]
            self._page().text(0.05 + indent, self.y, "\n".join(part), fontsize=size, va="top",
                              linespacing=LINESPACING)
            self.y -= step * len(part) + 0.006

    def close(self) -> None:
        if self.fig is not None:
            self.pdf.savefig(self.fig)
            plt.close(self.fig)
            self.fig = None


CHAR_EM = 0.64  # generous average character width of the sans-serif font, in font sizes
PAGE_PT = 0.92 * A4[0] * 72


def fit_columns(header: list[str], rows: list[list[str]], widths: list[float], size: float) -> tuple[list[float], float]:
    """Column widths (fractions of the table) that hold the longest text of each column at ``size``,
    and the font size reduced until the columns fit the page (not below 5 pt)."""
    chars = [max([len(line) for line in h.split("\n")] + [len(r[j]) for r in rows]) + 2 for j, h in enumerate(header)]
    total = sum(widths)
    while True:
        need = [c * CHAR_EM * size / PAGE_PT for c in chars]
        slack = 1.0 - sum(need)
        if slack >= 0 or size <= 5.0:
            return [n + max(slack, 0.0) * w / total for n, w in zip(need, widths)], size
        size = max(5.0, size * 0.95)


def table(fig: Figure, top: float, header: list[str], rows: list[list[str]], widths: list[float],
          size: float = 8) -> float:
    """Draw a table from ``top`` down (header, then rows with zebra shading); returns the bottom y.
    Columns are widened to their longest text and the font shrunk when the page is too narrow, so
    that no text is cut off or runs into its neighbour."""
    widths, size = fit_columns(header, rows, widths, size)
    step = pitch(size)
    left = 0.04
    scale = 0.92 / sum(widths)
    head_lines = max(h.count("\n") + 1 for h in header)
    head_h = step * head_lines + 0.012
    bottom = top - head_h - step * len(rows) - 0.008
    fig.patches.append(Rectangle((left, top - head_h), 0.92, head_h, transform=fig.transFigure,
                                 facecolor="#e8ecf2", edgecolor="#bbbbbb", lw=0.6))
    for i in range(1, len(rows), 2):
        y = top - head_h - 0.004 - step * (i + 1)
        fig.patches.append(Rectangle((left, y), 0.92, step, transform=fig.transFigure, facecolor="#f4f6f9",
                                     edgecolor="none"))
    fig.patches.append(Rectangle((left, bottom), 0.92, top - bottom, transform=fig.transFigure, facecolor="none",
                                 edgecolor="#bbbbbb", lw=0.6))
    x = left
    for j, (name, w) in enumerate(zip(header, widths)):
        centre = x + w * scale / 2
        fig.text(centre, top - 0.006, name, fontsize=size, weight="bold", ha="center", va="top",
                 linespacing=LINESPACING)
        if rows:
            fig.text(centre, top - head_h - 0.004, "\n".join(r[j] for r in rows), fontsize=size, ha="center",
                     va="top", linespacing=LINESPACING)
        x += w * scale
    return bottom


def table_pages(pdf: PdfPages, title: str, header: list[str], rows: list[list[str]], widths: list[float],
                lead: list[str] | None = None, per_page: int = 26,
                below: Callable[[Figure, float], None] | None = None) -> None:
    """A table over as many pages as it needs, with lead text on the first one; ``below(fig, y)``
    may draw under the table on the last page (y: the table's bottom)."""
    chunks = [rows[i:i + per_page] for i in range(0, len(rows), per_page)] or [[]]
    for k, chunk in enumerate(chunks):
        fig = new_page(title if k == 0 else title + " (continued)")
        y = TOP + 0.01
        if k == 0 and lead:
            text = "\n".join(line for para in lead for line in textwrap.wrap(para, 165))
            fig.text(0.05, y, text, fontsize=9, va="top", linespacing=LINESPACING)
            y -= pitch(9) * (text.count("\n") + 1) + 0.02
        bottom = table(fig, y, header, chunk, widths)
        if below is not None and k == len(chunks) - 1:
            below(fig, bottom)
        pdf.savefig(fig)
        plt.close(fig)
