"""Table contents of the PDF report: numbers with units and sensible significant digits."""

from __future__ import annotations

import math


def fmt_sig(v, digits: int = 3, unit: str = "") -> str:
    """3 significant digits (whole numbers from 1000 on), '—' for missing values."""
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return "—"
    if isinstance(v, int):
        return f"{v}{unit}"
    if v == 0:
        return f"0{unit}"
    if abs(v) < 1e-3:
        return f"{v:.{digits - 1}e}{unit}"
    if abs(v) >= 10 ** digits:
        return f"{v:.0f}{unit}"
    decimals = max(digits - 1 - int(math.floor(math.log10(abs(v)))), 0)
    return f"{v:.{decimals}f}{unit}"


def _t80(p) -> str:
    if not p.has_data or p.smooth_pce is None or p.smooth_pce.size < 3:
        return "—"
    return fmt_sig(p.T80_h) if p.T80_h is not None else "not reached"


def _projection(p) -> str:
    if p.projected_T80_h is None:
        return "—" if p.T80_h is not None or not p.has_data else "refused"
    hi = fmt_sig(p.projected_T80_hi_h) if p.projected_T80_hi_h is not None else "…"
    return f"{fmt_sig(p.projected_T80_h)} [{fmt_sig(p.projected_T80_lo_h)}–{hi}]"


def figure_rows(report) -> tuple[list[str], list[float], list[list[str]]]:
    header = ["device", "pixel", "channel", "ageing\n(h)", "PCE₀\n(%)", "PCE end\n(%)", "end /\nstart", "T95\n(h)",
              "T80\n(h)", "Ts\n(h)", "T80 projected (h)\n[95 % interval]", "energy\n(mWh)", "light cycles\nfull / partial",
              "lit, no\npower (min)"]
    widths = [0.12, 0.045, 0.085, 0.055, 0.055, 0.06, 0.05, 0.05, 0.07, 0.05, 0.12, 0.06, 0.09, 0.08]
    rows = []
    for p in report.pixels:
        where = ", ".join(f"B{b} C{c}" for b, c in p.channels) or "—"
        if not p.has_data:
            rows.append([p.device, p.label, where, "no data"] + [""] * (len(header) - 4))
            continue
        ratio = (p.pce_final_pct / p.pce_initial_pct) if p.pce_initial_pct and p.pce_final_pct is not None else None
        rows.append([p.device, p.label, where, fmt_sig(p.observed_h), fmt_sig(p.pce_initial_pct),
                     fmt_sig(p.pce_final_pct), fmt_sig(ratio, 2), fmt_sig(p.T95_h), _t80(p), fmt_sig(p.Ts_h),
                     _projection(p), fmt_sig(p.energy_mWh), f"{p.cycles_complete} / {p.cycles_partial}",
                     str(p.lit_zero_minutes)])
    return header, widths, rows


def statistics_rows(report) -> tuple[list[str], list[float], list[list[str]]]:
    header = ["device", "pixel", "minutes", "power min\n(mW)", "power max\n(mW)", "power mean\n(mW)",
              "voltage mean\n(V)", "current mean\n(mA)", "irradiance mean\n(W/m²)", "temperature\nmin–max (°C)",
              "temperature\nmean (°C)"]
    widths = [0.13, 0.05, 0.07, 0.08, 0.08, 0.08, 0.09, 0.09, 0.1, 0.1, 0.09]
    rows = []
    for p in report.pixels:
        s = p.statistics
        if not s:
            rows.append([p.device, p.label, "no data"] + [""] * (len(header) - 3))
            continue

        def stat(quantity: str, key: str, s: dict = s) -> str:
            return fmt_sig(s[quantity][key]) if quantity in s else "—"

        temp = f"{stat('temperature', 'min')}–{stat('temperature', 'max')}" if "temperature" in s else "—"
        rows.append([p.device, p.label, str(s.get("power", {}).get("minutes", 0)), stat("power", "min"), stat("power", "max"),
                     stat("power", "mean"), stat("voltage", "mean"), stat("current", "mean"), stat("irradiance", "mean"), temp,
                     stat("temperature", "mean")])
    return header, widths, rows
