"""GUI benchmark (offscreen): the real main window, receiver, simulator and embedded database.

Prints:
1. 256 channels live at 1 Hz with 32 selected for plotting: median and p99 time of a GUI
   refresh (overview, plots, status), and the longest the GUI thread was blocked
   (targets: median <= 16 ms, p99 <= 50 ms, blocked < 100 ms);
2. 30 days of 10-s data for 8 channels (~2 M rows): time to the first complete plot
   (target <= 1 s) and to zoom/pan to other windows (target <= 300 ms);
3. resident memory during a simulated week at 256 channels (simulator speed-up; 60-s samples),
   after the first simulated hour and at the end (target <= 600 MB, flat).
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
import time

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import numpy as np  # noqa: E402
from perocube_desktop.series_key import SeriesKey  # noqa: E402

from _common import rss_mb, scratch_database  # noqa: E402

K = SeriesKey.parse


def make_app(url: str):
    import argparse as ap

    from perocube_desktop.app import App
    from perocube_desktop.config import Settings

    app = App(ap.Namespace(db=url, port=0, demo=False, page=None, smoke_test=None, screenshot=None), Settings())
    app.start()
    return app


def timed(obj, name: str, sink: list[float], cpu: list[float]) -> None:
    """Wall time of each call, and the GUI thread's CPU time in it (less sensitive to a busy machine)."""
    orig = getattr(obj, name)

    def wrapper(*a, **k):
        t, c = time.perf_counter(), time.thread_time()
        r = orig(*a, **k)
        sink.append((time.perf_counter() - t) * 1000)
        cpu.append((time.thread_time() - c) * 1000)
        return r

    setattr(obj, name, wrapper)


def pump(qt_app, seconds: float, heartbeat: list[float] | None = None) -> None:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        qt_app.processEvents()
        time.sleep(0.002)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--live-seconds", type=float, default=60)
    ap.add_argument("--week", action="store_true", help="simulate a full week (about 3 min) instead of a day")
    ap.add_argument("--all-panels", action="store_true",
                    help="draw all five panels (voltage and current too), not only the default ones")
    ap.add_argument("--live-only", action="store_true", help="stop after part 1")
    args = ap.parse_args()
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication

    from perocube_desktop.ingest.simulator import SimConfig, Simulator

    qt_app = QApplication.instance() or QApplication(sys.argv[:1])
    with scratch_database() as (url, work, _server):
        app = make_app(url)
        w = app.window
        w.resize(1600, 1000)
        port = app.service.receiver.port
        # 1. live: 16 boards x 16 channels at 1 Hz
        sim = Simulator(SimConfig(port=port, boards=16, channels=16, interval_s=1.0))
        th = threading.Thread(target=sim.run, daemon=True)
        th.start()
        pump(qt_app, 5)
        if args.all_panels:
            for field in w.plots.panel_boxes:
                w.plots.show_panel(field, True)
        w.plot_keys([K(f"mpp:{b}/{c}") for b in (1, 2) for c in range(1, 17)])
        pump(qt_app, 2)
        parts: dict[str, list[float]] = {}
        cpus: dict[str, list[float]] = {}
        for obj, name in ((w, "refresh_overview"), (w.plots, "refresh"), (w.bridge, "poll"), (w, "_metadata"),
                          (w.overview.grid, "paintEvent"), (w.plots.glw, "paintEvent")):
            label = f"{type(obj).__name__}.{name}"
            parts[label] = []
            cpus[label] = []
            timed(obj, name, parts[label], cpus[label])
        gaps: list[float] = []
        last = [time.perf_counter()]

        def beat():
            now = time.perf_counter()
            gaps.append((now - last[0]) * 1000)
            last[0] = now

        hb = QTimer()
        hb.timeout.connect(beat)
        hb.start(10)
        pump(qt_app, args.live_seconds)
        hb.stop()
        sim.stop()
        th.join(10)
        print(f"live 256 channels at 1 Hz, 32 plotted, {args.live_seconds:.0f} s, panels drawn: "
              f"{', '.join(w.plots.visible_panels())} (targets: median 16 ms, p99 50 ms):")
        for name, vals in parts.items():
            if vals:
                r = np.array(vals)
                c = np.array(cpus[name])
                print(f"  {name:34s} {r.size:5d} calls  median {np.median(r):6.1f} ms  p99 {np.percentile(r, 99):6.1f} ms"
                      f"  max {r.max():6.1f} ms  (GUI-thread CPU median {np.median(c):5.1f}, p99 "
                      f"{np.percentile(c, 99):5.1f} ms)")
        g = np.array(gaps) - 10
        print(f"  GUI thread blocked at most {g.max():.0f} ms, p99 {np.percentile(g, 99):.0f} ms (target < 100 ms)")
        print(f"  (load average during the run: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores)")
        if args.live_only:
            w.close()
            app.stop()
            return

        # 2. history: 30 days of 10-s data for 8 channels
        import psycopg

        t_end = time.time() - 3600
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("INSERT INTO mpp_tracking_channel (board, channel) SELECT 50, c FROM generate_series(1, 8) c"
                         " ON CONFLICT DO NOTHING")
            t = time.perf_counter()
            conn.execute("""INSERT INTO mpp_measurement ("timestamp", power, current, voltage, tracking_channel_board,
                            tracking_channel_channel)
                            SELECT to_timestamp(%s) - s * interval '10 seconds', 4 + random(), 4.5, 0.93, 50, c
                            FROM generate_series(0, 259199) s, generate_series(1, 8) c""", (t_end,))
            conn.execute("INSERT INTO rollup_dirty (kind, t0, t1) VALUES ('mpp', to_timestamp(%s) - interval '31 days',"
                         " to_timestamp(%s))", (t_end, t_end))
            conn.execute("SET work_mem = '256MB'")
            conn.execute("SELECT perocube_refresh_rollups()")
            n = conn.execute("SELECT count(*) FROM mpp_measurement WHERE tracking_channel_board = 50").fetchone()[0]
            print(f"(loaded {n:,} rows of history in {time.perf_counter() - t:.1f} s)")
        keys = [K(f"mpp:50/{c}") for c in range(1, 9)]
        w.plots.select(keys)
        pump(qt_app, 1)

        def until_loaded(action) -> float:
            done = []
            w.plots.history_loaded.connect(lambda: done.append(time.perf_counter()))
            t0 = time.perf_counter()
            action()
            while not done and time.perf_counter() - t0 < 30:
                qt_app.processEvents()
                time.sleep(0.001)
            w.plots.history_loaded.disconnect()
            return (done[0] - t0) * 1000 if done else float("nan")

        first = until_loaded(lambda: w.plots.set_window(30 * 86400))
        print(f"30 days x 8 channels (~2.07 M rows): first complete plot after {first:.0f} ms (target <= 1000 ms); "
              f"source {w.plots.history[keys[0]].source}, {w.plots.history[keys[0]].t.size} points per channel")
        w.plots.follow.setChecked(False)
        rng = np.random.default_rng(1)
        zooms = []
        for width in (6 * 3600, 86400, 3600, 7 * 86400, 600, 2 * 86400):
            x0 = t_end - rng.uniform(width, 29 * 86400)
            zooms.append(until_loaded(lambda x0=x0, width=width: w.plots.load_history(x0, x0 + width)))
        print(f"zoom/pan to 6 windows (10 min to 7 d): {', '.join(f'{z:.0f}' for z in zooms)} ms "
              f"(target <= 300 ms each)")

        # 3. memory over a simulated week (or day) at 256 channels
        days = 7 if args.week else 1
        sim = Simulator(SimConfig(port=port, boards=16, channels=16, interval_s=60.0, duration_s=days * 86400,
                                  speedup=3600.0, seed=3))
        th = threading.Thread(target=sim.run, daemon=True)
        t0 = time.perf_counter()
        th.start()
        marks = {}
        while th.is_alive():
            pump(qt_app, 1)
            sim_h = sim.stats.messages / (16 * 3) / 60  # ticks -> simulated hours
            if sim_h >= 1 and "1h" not in marks:
                marks["1h"] = rss_mb()
        marks["end"] = rss_mb()
        print(f"simulated {days} day(s) at 256 channels in {time.perf_counter() - t0:.0f} s: RSS after 1 h "
              f"{marks.get('1h', float('nan')):.0f} MB, at the end {marks['end']:.0f} MB (target <= 600 MB, flat)")
        w.close()
        app.stop()


if __name__ == "__main__":
    main()
