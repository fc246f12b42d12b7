"""Regenerate docs/screenshots/*.png: the real app (offscreen) on a scratch database with the
sample folder imported and the simulator running for half a minute, every page at the two
screen sizes the lab uses (1366×768 laptops, 1920×1080 desk screens).

The window is sized like a maximised window on those screens: the screen minus a 40-px
taskbar and a 30-px title bar. Files are ``<page>-<screen>.png``, e.g. ``plots-1366x768.png``.

    QT_QPA_PLATFORM=offscreen python docs/make_screenshots.py [tests/data/sample_data] [--out DIR]
"""

from __future__ import annotations

import argparse
import threading
from pathlib import Path

from _screens import CHROME_H, HERE, SCREENS, Gui

from _common import scratch_database  # benchmarks/, on the path through _screens

from perocube_desktop.series_key import SeriesKey

K = SeriesKey.parse


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("sample", nargs="?", default=str(HERE.parent / "tests" / "data" / "sample_data"))
    ap.add_argument("--out", type=Path, default=HERE / "screenshots")
    ap.add_argument("--live-seconds", type=float, default=30)
    args = ap.parse_args()
    from perocube_desktop.config import Settings
    from perocube_desktop.importer.engine import run_import
    from perocube_desktop.ingest.simulator import SimConfig, Simulator

    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    gui = Gui()
    pump, wait = gui.pump, gui.wait

    with scratch_database() as (url, _work, _server):
        run_import(url, Path(args.sample))
        settings = Settings()
        settings.alarms.temperature_max_c = 60.0  # so that the screenshots show an alarm
        app = gui.start_app(url, settings)
        w = app.window
        sim = Simulator(SimConfig(port=app.service.receiver.port, boards=2, channels=8, interval_s=1.0))
        threading.Thread(target=sim.run, daemon=True).start()
        pump(args.live_seconds)
        reg = w.pages["registry"]
        rep = w.pages["reports"]
        shots: list[tuple[str, object]] = []

        def shot(name: str, widget=None) -> None:
            pump(1.0)
            (widget or w).grab().save(str(out / f"{name}-{size}.png"))
            shots.append((name, size))

        for i, (sw, sh) in enumerate(SCREENS):
            size = f"{sw}x{sh}"
            w.resize(sw, sh - CHROME_H)
            pump(0.3)
            w.size_alarm_dock()  # as a first start at this size would: the resize squeezed the dock
            w.show_page("overview")
            shot("overview")
            w.show_page("plots")
            if i == 0:
                pump(2)  # the default selection and 1-hour window right after start
            shot("plots")
            w.show_page("registry")
            for tab_name in ("New device", "Devices", "Pixels", "Wiring", "Audit log"):
                idx = next((j for j in range(reg.count()) if reg.tabText(j) == tab_name), None)
                if idx is not None:
                    reg.setCurrentIndex(idx)
                    pump(1.5)
                    shot("registry-" + tab_name.lower().replace(" ", "-"))
            w.show_page("import")
            shot("import")
            wiz = w.pages["import"].open_wizard()
            wiz.resize(min(1300, sw - 40), min(750, sh - CHROME_H - 40))
            wiz.folder_page.path.setText(args.sample)
            wiz.next()
            wait(lambda wiz=wiz: wiz.scan_page.done)
            shot("import-preview", wiz)
            wiz.close()
            w.show_page("reports")
            if i == 0:
                shot("reports-empty")
                if hasattr(rep, "choices_loaded"):
                    wait(lambda: rep.device.count() > 0)
                rep.device.setCurrentText("OK_240415_02")
                # the imported days only: the simulator's live data lands on the same (still connected)
                # channels today, which would stretch the time axes over two years
                from PySide6.QtCore import QDateTime
                rep.whole.setChecked(False)
                rep.start.setDateTime(QDateTime.fromString("2024-05-01 00:00", "yyyy-MM-dd HH:mm"))
                rep.end.setDateTime(QDateTime.fromString("2024-05-08 00:00", "yyyy-MM-dd HH:mm"))
                rep.run()
                wait(lambda: rep.report is not None, 120)
            shot("reports")
            if w.settings_dialog_factory is not None:
                dlg = w.settings_dialog_factory(w)
                dlg.show()
                shot("settings", dlg)
                dlg.close()
        # 16 channels with the voltage panel ticked, 10 minutes, at both sizes; then one series
        # under the mouse in the list (drawn on top, the others faded)
        w.plot_keys([K(f"mpp:{b}/{c}") for b in (1, 2) for c in range(1, 9)])
        w.plots.show_panel("voltage", True)
        w.plots.set_window(600)
        for sw, sh in SCREENS:
            size = f"{sw}x{sh}"
            w.resize(sw, sh - CHROME_H)
            pump(2)
            shot("plots-16")
        w.plots.set_highlight(K("mpp:1/3"))
        shot("plots-16-highlight")
        # the whole run of board 1: the imported days of May 2024 and today's live data, with the
        # two years between them left empty (a gap, not a straight line)
        w.plots.set_highlight(None)
        w.plots.show_panel("voltage", False)
        w.plot_keys([K(f"mpp:1/{c}") for c in range(1, 5)])
        w.plots.set_window(None)
        wait(lambda: not w.plots._loading)
        shot("plots-whole-run")
        sim.stop()
        w.close()
        app.stop()
    print(f"{len(shots)} screenshots in {out}")


if __name__ == "__main__":
    main()
