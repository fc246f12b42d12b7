"""Screenshots of #20's operator screens, at the two screen sizes the lab uses (1366×768, 1920×1080):

* ``first-start-<size>.png``: a first start without ``--demo`` on an empty database (what to do);
* ``overview-stale-future-<size>.png``: the sample folder imported (May 2024, pixels still listed as
  connected: stale), board 1 sending live, one channel silent for 10 minutes, and board 2 sending
  samples an hour ahead of this PC's clock (a ``receiver.source_timezone`` mistake: the clock alarm);
* ``reports-long-gap-<size>.png``: the Reports page for a device whose pixel C has 2024 data and,
  2.5 years later, new data on the same channel (two ageing runs);
* ``report-long-gap-pdf-<size>.png``: that report's PDF (``--run all``), pages rendered with
  ``pdftoppm`` side by side as a PDF viewer shows them on such a screen.

    QT_QPA_PLATFORM=offscreen python docs/make_operator_screenshots.py [--out DIR]
"""

from __future__ import annotations

import argparse
import json
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

from _screens import CHROME_H, HERE, SCREENS, Gui

from _common import scratch_database  # benchmarks/, on the path through _screens
from helpers import reused_channel  # tests/: the long-gap data the report test uses, on the path through _screens

SAMPLE = HERE.parent / "tests" / "data" / "sample_data"


def send(port: int, rows: list[tuple[float, int, int, float]]) -> None:
    """MPP samples (time, board, channel, power) over the line protocol, each acknowledged."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s, s.makefile("rb") as replies:
        for t, board, channel, power in rows:
            msg = {"type": "mpp", "data": {"timestamp": t, "power": power, "current": power / 0.9, "voltage": 0.9},
                   "metadata": {"board": board, "channel": channel}}
            s.sendall(json.dumps(msg).encode() + b"\n")
            replies.readline()


def main() -> None:  # noqa: C901 - a script: one screen after the other
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", type=Path, default=HERE / "screenshots")
    args = ap.parse_args()
    from PySide6.QtCore import Qt
    from PySide6.QtGui import QColor, QImage, QPainter
    from perocube_desktop.config import ReportSettings, Settings
    from perocube_desktop.importer.engine import run_import
    from perocube_desktop.stats.report import Selection, build, export

    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    gui = Gui()
    pump, wait = gui.pump, gui.wait

    lab = Path(tempfile.mkdtemp(prefix="perocube-shots-")) / "lab"
    shutil.copytree(SAMPLE, lab)
    reused_channel(lab)
    with scratch_database() as (url, _work, _server):
        app = gui.start_app(url, Settings())
        w = app.window
        port = app.service.receiver.port
        pump(2)

        def each_size(name: str, widget=None, before=None) -> None:
            for sw, sh in SCREENS:
                w.resize(sw, sh - CHROME_H)
                w.size_alarm_dock()
                if before:
                    before()
                pump(1.5)
                (widget or w).grab().save(str(out / f"{name}-{sw}x{sh}.png"))

        w.show_page("overview")
        each_size("first-start")
        run_import(url, lab)
        rep = w.pages["reports"]
        rep.reload_choices()  # the devices the import brought
        wait(lambda: rep.device.count() > 0)
        rep.device.setCurrentText("OK_240415_02")
        rep.run()
        wait(lambda: rep.report is not None, 180)
        w.show_page("reports")
        each_size("reports-long-gap")
        w.show_page("overview")
        report = build(url, Selection(device="OK_240415_02", run="all"), ReportSettings())
        pdf = export(report, lab.parent / "long-gap.pdf")
        now = time.time()
        rows = [(now - 60 + s, 1, c, 4.0 + 0.1 * c) for s in range(0, 61, 5) for c in (1, 2, 3)]
        rows += [(now - 600 - 60 + s, 1, 4, 3.9) for s in range(0, 61, 5)]  # silent for 10 minutes
        rows += [(now + 3600 - 60 + s, 2, c, 4.2) for s in range(0, 61, 5) for c in (1, 2)]  # an hour ahead
        send(port, rows)
        w.refresh_metadata()
        wait(lambda: len(w.known.stored) >= 8 and bool(w.known.connections))
        pump(2)
        w.alarm_dock.raise_()
        each_size("overview-stale-future")
        app.stop()
    pages_png(pdf, out, QImage, QPainter, QColor, Qt)
    print(f"screenshots in {out}")


def pages_png(pdf: Path, out: Path, QImage, QPainter, QColor, Qt) -> None:
    """As a PDF viewer shows them on such a screen: the summary page filling the screen, and the
    device's two pages (one per period: 2024, and pixel C's second run) side by side."""
    tmp = Path(tempfile.mkdtemp(prefix="perocube-pdf-"))
    ratio = 11.69 / 8.27  # A4 landscape (stats/pdf_layout.A4)
    for sw, sh in SCREENS:
        for name, pages, per_row in (("report-long-gap-pdf", [1], 1), ("report-long-gap-pdf-devices", [3, 4], 2)):
            width = min((sw - 10 * (per_row + 1)) // per_row, int((sh - 20) * ratio))
            canvas = QImage(sw, sh, QImage.Format.Format_RGB32)
            canvas.fill(QColor("#525659"))
            painter = QPainter(canvas)
            x = (sw - per_row * width - (per_row - 1) * 10) // 2
            for n in pages:
                stem = tmp / f"{name}-{sw}-{n}"
                subprocess.run(["pdftoppm", "-png", "-singlefile", "-f", str(n), "-l", str(n), "-scale-to", str(width),
                                str(pdf), str(stem)], check=True)
                img = QImage(str(stem) + ".png")
                painter.drawImage(x, (sh - img.height()) // 2, img)
                x += img.width() + 10
            painter.end()
            canvas.save(str(out / f"{name}-{sw}x{sh}.png"))
    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
