"""The PDF report (matplotlib, no Qt): conditions and method, normalised PCE, power, temperature
and irradiance, the metrics table, data gaps."""

from __future__ import annotations

import textwrap
from datetime import datetime, timezone
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.dates as mdates  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.backends.backend_pdf import PdfPages  # noqa: E402

A4 = (11.69, 8.27)  # landscape


def _dt(t: np.ndarray):
    return np.array([datetime.fromtimestamp(x, timezone.utc) for x in t])


def _text_page(pdf: PdfPages, title: str, lines: list[str]) -> None:
    fig = plt.figure(figsize=A4)
    fig.text(0.05, 0.93, title, fontsize=16, weight="bold")
    y = 0.87
    for line in lines:
        for part in textwrap.wrap(line, 150) or [""]:
            fig.text(0.05, y, part, fontsize=8.5, family="monospace")
            y -= 0.022
            if y < 0.05:
                pdf.savefig(fig)
                plt.close(fig)
                fig = plt.figure(figsize=A4)
                y = 0.93
    pdf.savefig(fig)
    plt.close(fig)


def _decimate(t, v, n=4000):
    if t.size <= n:
        return t, v
    step = int(np.ceil(t.size / n))
    return t[::step], v[::step]


def write_pdf(report, path: Path) -> None:
    pixels = report.pixels
    with PdfPages(path) as pdf:
        sel = report.selection
        what = (f"device {sel.device}" + (f" pixel {sel.pixel}" if sel.pixel else "") if sel.device
                else f"board {sel.board}" if sel.board is not None
                else f"experiment {sel.experiment}" if sel.experiment
                else f"project {sel.project}" if sel.project else "all pixels")
        lines = [f"Created {report.created} · selection: {what} · {len(pixels)} pixels",
                 f"Period: {sel.start or 'each pixel’s whole connected time'} – {sel.end or ''}", "",
                 "Conditions", f"  light threshold {report.settings['light_threshold_wm2']} W/m², "
                               f"smoothing {report.settings['smoothing']}", "", "Method"]
        lines += [f"  {k}: {v}" for k, v in report.method()["definitions"].items()]
        lines += ["", f"  data: {report.method()['data']}", "", "Notes"]
        lines += [f"  {p.device} / {p.pixel}: {n}" for p in pixels for n in p.notes] or ["  none"]
        _text_page(pdf, "PeroCube stability report", lines)

        fig, ax = plt.subplots(figsize=A4)
        for p in pixels:
            if p.smooth_pce is not None and p.smooth_pce.size and p.pce_initial_pct:
                ax.plot(p.smooth_t_h, p.smooth_pce / p.pce_initial_pct, lw=1, label=f"{p.device}/{p.pixel}")
        ax.axhline(0.8, color="grey", ls="--", lw=0.8)
        ax.axhline(0.95, color="grey", ls=":", lw=0.8)
        ax.set_xlabel("time since start (h)")
        ax.set_ylabel("PCE / initial PCE")
        ax.set_title("Normalised PCE (hourly median while lit)")
        ax.grid(alpha=0.3)
        if len(pixels) <= 24:
            ax.legend(fontsize=7, ncol=2)
        pdf.savefig(fig)
        plt.close(fig)

        fig, axes = plt.subplots(3, 1, figsize=A4, sharex=True)
        for p in pixels:
            if p.t is None:
                continue
            t, v = _decimate(p.t, p.power)
            axes[0].plot(_dt(t), v, lw=0.6, label=f"{p.device}/{p.pixel}")
        seen = set()
        for p in pixels:
            if p.t is None or p.board in seen:
                continue
            seen.add(p.board)
            t, v = _decimate(p.t, p.temperature)
            axes[1].plot(_dt(t), v, lw=0.6, label=f"board {p.board}")
            t, v = _decimate(p.t, p.irradiance)
            axes[2].plot(_dt(t), v, lw=0.6, label=f"board {p.board}")
        for ax, label in zip(axes, ("power (mW)", "temperature (°C)", "irradiance (W/m²)")):
            ax.set_ylabel(label)
            ax.grid(alpha=0.3)
        axes[2].xaxis.set_major_formatter(mdates.DateFormatter("%Y-%m-%d\n%H:%M"))
        axes[1].legend(fontsize=7)
        fig.suptitle("Power, temperature and irradiance")
        pdf.savefig(fig)
        plt.close(fig)

        cols = [("device", "device"), ("pixel", "px"), ("board", "B"), ("channel", "C"), ("coverage_pct", "cov %"),
                ("energy_mWh", "E mWh"), ("pce_initial_pct", "PCE0 %"), ("pce_final_pct", "PCEend %"),
                ("T95_h", "T95 h"), ("T80_h", "T80 h"), ("Ts_h", "Ts h"), ("TS80_h", "TS80 h"),
                ("eta1000_pct", "η1000 %"), ("projected_T80_h", "T80 proj. h")]
        rows = []
        for p in pixels:
            m = p.metrics()
            rows.append([_fmt(m[k], k) for k, _ in cols])
        for start in range(0, max(len(rows), 1), 25):
            fig, ax = plt.subplots(figsize=A4)
            ax.axis("off")
            ax.set_title("Figures of merit (— = not computable; T80 not reached: see projected)")
            chunk = rows[start:start + 25] or [["—"] * len(cols)]
            table = ax.table(cellText=chunk, colLabels=[c for _, c in cols], loc="upper center", cellLoc="center")
            table.auto_set_font_size(False)
            table.set_fontsize(7)
            table.scale(1, 1.3)
            pdf.savefig(fig)
            plt.close(fig)

        gap_lines = [f"{p.device}/{p.pixel}: {a} → {b}" for p in pixels for a, b in p.gaps] or ["no gaps longer than 3 min"]
        stat_lines = [", ".join(f"{k}={v}" for k, v in s.items()) for s in report.channel_stats + report.sensor_stats]
        _text_page(pdf, "Data gaps and series statistics", gap_lines[:300] + [""] + stat_lines)


def _fmt(v, key: str) -> str:
    if v is None:
        return "not reached" if key == "T80_h" else "—"
    if isinstance(v, float):
        return f"{v:.3g}" if abs(v) < 1000 else f"{v:.0f}"
    return str(v)
