"""Regenerate docs/screenshots/*.png: the real app (offscreen) on a scratch database with the
sample folder imported and the simulator running.

    QT_QPA_PLATFORM=offscreen python docs/make_screenshots.py [tests/data/sample_data]
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "benchmarks"))
sys.path.insert(0, str(HERE.parent))

from _common import scratch_database  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("sample", nargs="?", default=str(HERE.parent / "tests" / "data" / "sample_data"))
    args = ap.parse_args()
    from PySide6.QtWidgets import QApplication

    from perocube_desktop.app import App
    from perocube_desktop.config import Settings
    from perocube_desktop.importer.engine import run_import
    from perocube_desktop.ingest.simulator import SimConfig, Simulator

    out = HERE / "screenshots"
    out.mkdir(exist_ok=True)
    qt = QApplication.instance() or QApplication(sys.argv[:1])

    def pump(seconds: float) -> None:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            qt.processEvents()
            time.sleep(0.01)

    with scratch_database() as (url, _work, _server):
        run_import(url, Path(args.sample))
        settings = Settings()
        settings.alarms.temperature_max_c = 60.0  # so that the screenshot shows an alarm
        app = App(argparse.Namespace(db=url, port=0, demo=False, page=None, smoke_test=None, screenshot=None),
                  settings)
        app.start()
        w = app.window
        w.resize(1500, 950)
        sim = Simulator(SimConfig(port=app.service.receiver.port, boards=2, channels=8, interval_s=1.0))
        threading.Thread(target=sim.run, daemon=True).start()
        pump(20)
        w.show_page("overview")
        pump(1)
        w.grab().save(str(out / "overview.png"))
        w.plot_keys([f"mpp:1/{c}" for c in range(1, 9)] + sorted(k for k in w.store.latest if not k.startswith("mpp:")))
        w.plots.set_window(600)
        pump(3)
        w.grab().save(str(out / "plots.png"))
        reg = w.pages["registry"]
        w.show_page("registry")
        reg.setCurrentWidget(reg.wiring)
        pump(1)
        w.grab().save(str(out / "registry-wiring.png"))
        reg.setCurrentWidget(reg.tabs["device"])
        pump(1)
        w.grab().save(str(out / "registry-devices.png"))
        w.show_page("import")
        wiz = w.pages["import"].open_wizard()
        wiz.resize(1300, 750)
        wiz.folder_page.path.setText(args.sample)
        wiz.next()
        while not wiz.scan_page.done:
            pump(0.2)
        pump(0.5)
        wiz.grab().save(str(out / "import-preview.png"))
        wiz.close()
        rep = w.pages["reports"]
        w.show_page("reports")
        rep.reload_choices()
        rep.device.setCurrentText("OK_240415_02")
        rep.run()
        while rep.report is None:
            pump(0.2)
        pump(1)
        w.grab().save(str(out / "reports.png"))
        sim.stop()
        w.close()
        app.stop()
    print(f"screenshots in {out}")


if __name__ == "__main__":
    main()
