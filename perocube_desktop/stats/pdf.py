"""The PDF report (matplotlib, no Qt), laid out as a document for a paper's SI:

1. summary: what was measured, the conditions and the ISOS protocol, a table of the figures
   of merit with units (continued on further pages for many pixels);
2. the ISOS reporting checklist, missing items flagged;
3. one page per device: normalised PCE, power, irradiance and temperature (gaps stay gaps,
   excluded spans shaded), the device's notes;
4. methods, then data-quality notes (moves, lit-but-no-power spans, partial cycles, gaps,
   series statistics).
"""

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

from ..units import plural  # noqa: E402
from .analysis import PROJECTION_LIMIT, describe_spans  # noqa: E402
from .pdf_layout import A4, Flow, table_pages  # noqa: E402
from .pdf_tables import figure_rows, fmt_sig, statistics_rows  # noqa: E402
from .runs import describe_choice, time_groups  # noqa: E402

EPOCH_DAYS = mdates.date2num(datetime(1970, 1, 1, tzinfo=timezone.utc))
TABLE_ROWS = 26
GREY = "#666666"


def _days(t) -> np.ndarray:
    return EPOCH_DAYS + np.asarray(t, dtype=float) / 86400.0


def binned(t: np.ndarray, v: np.ndarray, max_points: int = 1500, gap_s: float = 180.0) -> tuple[np.ndarray, np.ndarray]:
    """Means over equal time bins (at most ``max_points``) with NaN where a bin or a gap has no data,
    so that a line never bridges missing data."""
    ok = np.isfinite(v)
    t, v = t[ok], v[ok]
    if t.size < 2:
        return t, v
    width = max((t[-1] - t[0]) / max_points, 60.0)
    if width <= 60.0:  # no binning needed: only break the line at gaps
        idx = np.flatnonzero(np.diff(t) > gap_s) + 1
        return np.insert(t, idx, t[idx - 1] + 1), np.insert(v, idx, np.nan)
    k = ((t - t[0]) // width).astype(np.int64)
    n = k[-1] + 1
    sums = np.bincount(k, v, minlength=n)
    cnt = np.bincount(k, minlength=n)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = sums / cnt
    centres = t[0] + (np.arange(n) + 0.5) * width
    mean[cnt == 0] = np.nan
    return centres, mean


def _summary(pdf: PdfPages, report) -> None:
    px = report.pixels
    with_data = [p for p in px if p.has_data]
    t0 = min((p.start for p in with_data if p.start is not None), default=None)
    t1 = max((p.end for p in with_data if p.end is not None), default=None)
    period = (f"{datetime.fromtimestamp(t0, timezone.utc):%Y-%m-%d %H:%M} – "
              f"{datetime.fromtimestamp(t1, timezone.utc):%Y-%m-%d %H:%M} UTC") if t0 and t1 else "no data"
    items = {c["item"]: c["value"] for c in report.checklist}
    lead = [
        f"Selection: {report.selection.describe()} · {_count_pixels(px, with_data)} on "
        f"{plural(len({p.device for p in px}), 'device')} · data {period} · created {report.created}",
        "Measured: maximum-power-point tracked power, voltage and current of every pixel (PeroCube tracker), "
        "irradiance and temperature of each board; figures from 1-minute means, PCE only while lit "
        f"(> {report.settings['light_threshold_wm2']:g} W/m²), smoothed over {report.settings['smoothing']}.",
        f"Protocol: {report.protocol.get('protocol', '?')} ({report.protocol.get('reason', '')}).",
        f"Irradiance: {items.get('light source and irradiance', '—')}.",
        f"Temperature: {items.get('temperature', '—')}.   Cycling: {items.get('cycling', '—')}.",
        f"Ageing time: {items.get('ageing time', '—')}.",
        f"Ageing runs: {describe_choice(report.selection.run)} (a gap longer than the data before it starts a new "
        "run; figures never span such a gap; “run k/n” names the run when a pixel has several).",
    ]
    header, widths, rows = figure_rows(report)
    lead.append("Figures of merit. — : not computable; T80 “not reached” within the ageing time (projected: linear "
                f"fit after burn-in, 95 % interval, never beyond {PROJECTION_LIMIT:g}× the ageing time; “refused”: "
                "see the data-quality notes). Notes and exclusions: last pages.")
    table_pages(pdf, "PeroCube stability report", header, rows, widths, lead, TABLE_ROWS,
                below=lambda fig, y: _overview_plot(fig, y, report))


def _count_pixels(px: list, with_data: list) -> str:
    """'4 pixels (4 with data)', and the ageing runs when a row is a run rather than a pixel."""
    pixels = {(p.device, p.pixel) for p in px}
    text = f"{plural(len(pixels), 'pixel')} ({len({(p.device, p.pixel) for p in with_data})} with data"
    return text + (f"; {len(with_data)} ageing runs)" if len(with_data) > len(pixels) else ")")


def _overview_plot(fig, y: float, report) -> None:
    """Normalised PCE of every pixel, coloured by device, where the table leaves room."""
    if y < 0.3:
        return
    ax = fig.add_axes((0.08, 0.07, 0.6, y - 0.14))
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    devices = sorted({p.device for p in report.pixels if p.has_data})
    for p in report.pixels:
        if p.smooth_pce is None or not p.smooth_pce.size or not p.pce_initial_pct:
            continue
        ax.plot(*_normalised_pce(p), lw=0.9, color=colours[devices.index(p.device) % len(colours)], rasterized=True)
    for i, d in enumerate(devices):
        ax.plot([], [], color=colours[i % len(colours)], label=d)
    ax.axhline(0.8, color=GREY, ls="--", lw=0.8)
    ax.set(xlabel="ageing time (h)", ylabel="PCE / initial PCE", title="Normalised PCE of every pixel (by device)")
    ax.grid(alpha=0.3)
    ax.tick_params(labelsize=7.5)
    ax.legend(fontsize=7.5, loc="upper left", bbox_to_anchor=(1.02, 1.0), frameon=False)


def _checklist(pdf: PdfPages, report) -> None:
    """One block per ISOS item: name, value and source, and in red what to add."""
    fig = plt.figure(figsize=A4)
    fig.text(0.05, 0.94, "ISOS reporting checklist", fontsize=15, weight="bold")
    fig.text(0.05, 0.905, f"Matching protocol: {report.protocol.get('protocol', '?')}", fontsize=11, weight="bold")
    y = 0.88
    for part in textwrap.wrap(report.protocol.get("reason", "") + ". Items marked ADD could not be filled from the "
                              "registry, the configuration or the data: add them before submitting (Khenkin et al., "
                              "Nat. Energy 5, 35–49, 2020).", 170):
        fig.text(0.05, y, part, fontsize=8.5, color=GREY)
        y -= 0.022
    y -= 0.01
    for c in report.checklist:
        fig.text(0.05, y, ("✗ " if c["missing"] else "✓ ") + c["item"], fontsize=9.5, weight="bold",
                 color="#b00020" if c["missing"] else "#1b5e20")
        lines = textwrap.wrap(f"{c['value']}  [{c['source']}]", 125)
        if c["missing"]:
            lines += textwrap.wrap("ADD: " + c["to_add"], 125)
        for line in lines:
            fig.text(0.27, y, line, fontsize=8.5, color="#b00020" if line.startswith("ADD") else "black")
            y -= 0.022
        y -= 0.012
    pdf.savefig(fig)
    plt.close(fig)


def _shade(ax, spans: list[tuple[float, float]], label: str | None) -> None:
    for i, (a, b) in enumerate(spans):
        ax.axvspan(_days(a), _days(b), color="#f4a261", alpha=0.25, lw=0, label=label if i == 0 else None)


def _device_pages(pdf: PdfPages, report, device: str) -> None:
    px = [p for p in report.pixels if p.device == device]
    groups = time_groups(px)
    if groups:
        groups[-1] += [p for p in px if not p.has_data]
    for group in groups:
        title = f"Device {device}"
        if len(groups) > 1:
            t0, t1 = min(p.start for p in group if p.has_data), max(p.end for p in group if p.has_data)
            title += (f" · data {datetime.fromtimestamp(t0, timezone.utc):%Y-%m-%d} – "
                      f"{datetime.fromtimestamp(t1, timezone.utc):%Y-%m-%d}")
        _device_page(pdf, report, device, group, title)


def _normalised_pce(p) -> tuple[np.ndarray, np.ndarray]:
    """A pixel's smoothed PCE over its initial PCE against ageing hours, NaN in its gaps (no line drawn
    across a gap longer than 2.5 times the usual step)."""
    hours, normalised = p.smooth_t_h, p.smooth_pce / p.pce_initial_pct
    gaps = np.flatnonzero(np.diff(hours) > 2.5 * (np.median(np.diff(hours)) if hours.size > 1 else 1)) + 1
    return np.insert(hours, gaps, np.nan), np.insert(normalised, gaps, np.nan)


def _device_page(pdf: PdfPages, report, device: str, px: list, title: str) -> None:
    fig = plt.figure(figsize=A4)
    info = report.devices.get(device, {})
    facts = ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in info.items() if v not in (None, "") and k != "name")
    fig.text(0.05, 0.95, title, fontsize=15, weight="bold")
    fig.text(0.05, 0.925, textwrap.shorten(facts, 170) if facts else "no registry details", fontsize=8.5, color=GREY)
    ncol = 1 if len(px) <= 16 else (2 if len(px) <= 40 else 3)  # legend columns: names are never cut off
    right = 0.83 - 0.07 * (ncol - 1)
    gs = fig.add_gridspec(3, 2, left=0.07, right=right, top=0.89, bottom=0.2, hspace=0.45, wspace=0.22)
    ax_pce, ax_pow = fig.add_subplot(gs[0:2, 0]), fig.add_subplot(gs[0, 1])
    ax_irr = fig.add_subplot(gs[1, 1], sharex=ax_pow)
    ax_tmp = fig.add_subplot(gs[2, 1], sharex=ax_pow)
    ax_e = fig.add_subplot(gs[2, 0])
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    all_days = sorted({d for p in px for d in p.daily_energy})
    for i, p in enumerate(px):
        col = colours[i % len(colours)]
        name = p.label + ("" if p.has_data else " (no data)")
        if p.smooth_pce is not None and p.smooth_pce.size and p.pce_initial_pct:
            ax_pce.plot(*_normalised_pce(p), "-o" if p.smooth_t_h.size <= 150 else "-", ms=2,
                        lw=1, color=col, label=name, rasterized=len(px) > 8)
        else:
            ax_pce.plot([], [], color=col, label=name)
        if p.has_data:
            t, v = binned(p.t, p.power)
            ax_pow.plot(_days(t), v, lw=0.7, color=col, rasterized=True)
            ax_e.plot([all_days.index(d) for d in sorted(p.daily_energy)],
                      [p.daily_energy[d] for d in sorted(p.daily_energy)], "-o", ms=2.5, lw=0.8, color=col)
    excluded = [(s.start, s.end) for p in px for s in p.lit_zero]
    excluded += [(m.removed_at, m.installed_at) for p in px for m in p.moves if m.installed_at and m.removed_at]
    _shade(ax_pow, excluded, "excluded span")
    _sensor_lines(report, px, ax_irr, ax_tmp)
    _decorate(ax_pce, ax_pow, ax_irr, ax_tmp, ax_e, px)
    handles, labels = ax_pce.get_legend_handles_labels()
    h2, l2 = ax_pow.get_legend_handles_labels()
    fig.legend(handles + h2, labels + l2, loc="upper left", bbox_to_anchor=(right + 0.01, 0.89), fontsize=8,
               frameon=False, ncol=ncol, title="pixel (all panels)", columnspacing=1.0, handlelength=1.5)
    grouped: dict[str, list[str]] = {}
    for p in px:
        for n in p.notes:
            if not n.startswith("board "):
                grouped.setdefault(n, []).append(p.label)
    notes = [f"{', '.join(who)}: {n}" for n, who in grouped.items()]
    y = 0.135
    for line in notes[:5]:
        fig.text(0.05, y, textwrap.shorten(line, 190), fontsize=7.5)
        y -= 0.022
    if len(notes) > 5:
        fig.text(0.05, y, f"… {len(notes) - 5} more notes on the data-quality pages", fontsize=7.5, color=GREY)
    pdf.savefig(fig, dpi=150)
    plt.close(fig)


def _sensor_lines(report, px, ax_irr, ax_tmp) -> None:
    seen = set()
    for p in px:
        if not p.has_data or p.board in seen:
            continue
        seen.add(p.board)
        for ax, v in ((ax_irr, p.irradiance), (ax_tmp, p.temperature)):
            t, y = binned(p.t, v)
            ax.plot(_days(t), y, lw=0.7, label=f"board {p.board}", rasterized=True)
    for ax in (ax_irr, ax_tmp):
        if seen:
            ax.legend(fontsize=7, loc="lower right")


def _decorate(ax_pce, ax_pow, ax_irr, ax_tmp, ax_e, px) -> None:
    ax_pce.axhline(0.8, color=GREY, ls="--", lw=0.8)
    ax_pce.axhline(0.95, color=GREY, ls=":", lw=0.8)
    ax_pce.set(xlabel="ageing time (h)", ylabel="PCE / initial PCE", title="Normalised PCE (smoothed, while lit)")
    ax_pow.set(ylabel="power (mW)", title="MPP power")
    ax_irr.set(ylabel="irradiance (W/m²)")
    ax_tmp.set(ylabel="temperature (°C)")
    ax_e.set(ylabel="energy (mWh)", title="Energy per UTC day (partial first and last days)")
    days = sorted({d for p in px for d in p.daily_energy})
    step = max(1, len(days) // 8)
    ax_e.set_xticks(range(0, len(days), step), [d[5:] for d in days[::step]])
    for ax in (ax_pce, ax_pow, ax_irr, ax_tmp, ax_e):
        ax.grid(alpha=0.3)
        ax.tick_params(labelsize=7.5)
    # minticks 3: with the default 5, spans of minutes and of years found no interval and warned
    loc = mdates.AutoDateLocator(minticks=3, maxticks=7)
    ax_tmp.xaxis.set_major_locator(loc)
    ax_tmp.xaxis.set_major_formatter(mdates.ConciseDateFormatter(loc))
    for ax in (ax_pow, ax_irr):
        plt.setp(ax.get_xticklabels(), visible=False)
        ax.xaxis.get_offset_text().set_visible(False)


def _methods(pdf: PdfPages, report) -> None:
    flow = Flow(pdf, "Methods")
    flow.para(f"Data: {report.method()['data']}. Light threshold {report.settings['light_threshold_wm2']:g} W/m²; "
              f"smoothing {report.settings['smoothing']}.")
    for key, text in report.method()["definitions"].items():
        flow.heading(key)
        flow.para(text)
    flow.close()


def _quality(pdf: PdfPages, report) -> None:
    flow = Flow(pdf, "Data-quality notes")
    shared = sorted({n for p in report.pixels for n in p.notes if n.startswith("board ")})
    if shared:
        flow.heading("Sensors")
        for note in shared:
            flow.para(note, 0.02)
    for device in sorted({p.device for p in report.pixels}):
        # the same note for several pixels is printed once, naming them
        grouped: dict[str, list[str]] = {}
        for p in report.pixels:
            if p.device == device and p.has_data:
                for note in _pixel_quality(p):
                    grouped.setdefault(note, []).append(p.label)
        if grouped:
            flow.block(f"Device {device}", [f"pixel{'s' if len(who) > 1 else ''} {', '.join(who)}: {note}"
                                            for note, who in grouped.items()])
    empty = [f"{p.device} / {p.label}" for p in report.pixels if not p.has_data]
    if empty:
        flow.block("Pixels without data in the selected period", [", ".join(empty)])
    flow.close()
    header, widths, rows = statistics_rows(report)
    table_pages(pdf, "Series statistics", header, rows, widths,
                ["Per pixel over its analysed data: count, minimum, maximum and mean of the raw samples (exact, from "
                 "the 1-minute rollups); irradiance and temperature from the board's sensors."], TABLE_ROWS)


def _pixel_quality(p) -> list[str]:
    out = [n for n in p.notes if not n.startswith("board ")]
    if p.lit_zero:
        out.append("lit but no power: " + describe_spans(p.lit_zero[:12])
                   + (f"; … {len(p.lit_zero) - 12} more" if len(p.lit_zero) > 12 else ""))
    partial = [c for c in p.cycles if not c["complete"]]
    if partial:
        out.append(f"partial light cycles ({len(partial)} of {len(p.cycles)}, not used for per-cycle figures): "
                   + "; ".join(f"{c['start'][5:16]} ({c['partial_because']})" for c in partial[:6]))
    if p.gaps:
        out.append(f"{len(p.gaps)} data gaps longer than 3 min, e.g. "
                   + "; ".join(f"{a[5:16]} – {b[5:16]}" for a, b in p.gaps[:4]))
    out.append(f"ageing time starts at the {p.ageing_start_rule}")
    out.append(p.projection_note or "T80 reached within the ageing time")
    return out


def write_pdf(report, path: Path) -> None:
    with PdfPages(path, metadata={"Title": "PeroCube stability report", "Creator": "perocube-desktop"}) as pdf:
        _summary(pdf, report)
        _checklist(pdf, report)
        for device in sorted({p.device for p in report.pixels}):
            _device_pages(pdf, report, device)
        _methods(pdf, report)
        _quality(pdf, report)


__all__ = ["write_pdf", "binned", "fmt_sig"]
