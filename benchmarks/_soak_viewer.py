"""One viewer-mode GUI for the soak (benchmarks/soak.py): the real App, offscreen, following the
database through the read replica; prints one JSON line at the end.

Sample-to-screen delay: each time the window's bridge delivers new samples into the live store
the plots and tiles draw from, ``now - newest sample time`` of the series that got data (the
simulator stamps samples with the real clock; the 1 s screen timers add at most a second).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import warnings
from pathlib import Path

warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR.*")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


def main() -> int:
    import psutil
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication

    from perocube_desktop.app import App
    from perocube_desktop.config import Settings

    ap = argparse.ArgumentParser()
    ap.add_argument("--db", required=True)
    ap.add_argument("--read", required=True)
    ap.add_argument("--seconds", type=float, required=True)
    ap.add_argument("--screenshot")
    args = ap.parse_args()
    qapp = QApplication([])
    settings = Settings()
    settings.receiver.enabled = False
    settings.receiver.viewer_poll_s = 1.0
    settings.database.read_url = args.read
    settings.api.enabled = False
    app = App(argparse.Namespace(db=args.db, port=0, demo=False, page=None, smoke_test=None, screenshot=None), settings)
    app.start()
    proc = psutil.Process()
    rss_start = proc.memory_info().rss
    delays: list[tuple[float, float]] = []
    states: list[str] = []

    def delivered(keys: set) -> None:
        now = time.time()
        newest = 0.0
        for key in list(keys)[:32]:
            series = app.bridge.store.series(key)
            if series is not None and len(series[0]):
                newest = max(newest, float(series[0][-1]))
        if newest:
            delays.append((now, now - newest))

    app.bridge.samples_received.connect(delivered)

    def status() -> None:
        states.append(app.window.lbl_db.text())

    timer = QTimer()
    timer.timeout.connect(status)
    timer.start(5000)

    def finish() -> None:
        if args.screenshot:
            app.window.resize(1366, 768)
            app.window.grab().save(args.screenshot)
        rss_end = proc.memory_info().rss
        app.window.close()
        app.stop()
        print(json.dumps({"pid": os.getpid(), "rss_start": rss_start, "rss_end": rss_end, "delays": delays,
                          "status_texts": sorted(set(states))}), flush=True)
        qapp.quit()

    QTimer.singleShot(int(args.seconds * 1000), finish)
    qapp.exec()
    return 0


if __name__ == "__main__":
    sys.exit(main())
