"""The ISOS reporting checklist (Khenkin et al., Nat. Energy 5, 35–49, 2020) filled from the
registry, the configuration and the measured data, with the ISOS protocol the conditions
match. Every item that cannot be filled is flagged so that the scientist adds it before
submitting. Pure: works on a built report."""

from __future__ import annotations

import numpy as np

from . import isos

ITEMS = ("device", "encapsulation", "MPP tracking method", "light source and irradiance", "temperature",
         "atmosphere", "bias", "cycling", "ageing time", "measurements during ageing")
HOT_LEVELS = (65.0, 85.0)  # ISOS-x-2/3 temperatures; within ±3 °C counts as held at that level


def _item(name: str, value: str, source: str, missing: str = "") -> dict:
    return {"item": name, "value": value, "source": source, "missing": bool(missing), "to_add": missing or None}


def _join(values) -> str:
    vals = sorted({str(v) for v in values if v not in (None, "")})
    return ", ".join(vals)


def _rng(values, fmt: str = "{:.0f}") -> str:
    vals = [v for v in values if v is not None and np.isfinite(v)]
    if not vals:
        return ""
    lo, hi = min(vals), max(vals)
    return fmt.format(lo) if fmt.format(lo) == fmt.format(hi) else f"{fmt.format(lo)}–{fmt.format(hi)}"


def cycle_lengths(report) -> tuple[list[float], list[float]]:
    """Lit and dark durations (h) of the complete light/dark alternations seen in the data."""
    lit_h, dark_h = [], []
    seen = set()
    for p in report.pixels:
        if p.t is None or p.board in seen:
            continue
        seen.add(p.board)
        # dark stretches under an hour (and short data gaps) do not end a light period here
        runs = isos.light_cycles_checked(p.t, p.irradiance, report.settings["light_threshold_wm2"], 3600.0,
                                         min_dark_s=3600.0)
        lit_h += [(p.t[b] - p.t[a] + 60) / 3600 for a, b, why in runs if not why]
        for (_a0, b0, _w0), (a1, _b1, _w1) in zip(runs, runs[1:]):
            inner = np.diff(p.t[b0:a1 + 1])
            if inner.size and inner.max() <= 3600.0:
                dark_h.append((p.t[a1] - p.t[b0] - 60) / 3600)
    return lit_h, dark_h


def _device_items(report) -> list[dict]:
    devs = [report.devices.get(d, {}) for d in sorted({p.device for p in report.pixels})]
    tech = _join(d.get("technology") for d in devs)
    structure = _join(d.get("structure") for d in devs)
    form = _join(d.get("form_factor") for d in devs)
    areas = _rng([p.area_cm2 for p in report.pixels], "{:.3g}")
    value = "; ".join(x for x in (tech and f"technology {tech}", structure and f"layer stack {structure}",
                                  form and f"form factor {form}", areas and f"active area {areas} cm²") if x)
    miss = ", ".join(n for n, v in (("technology / architecture", tech), ("layer stack", structure),
                                    ("form factor", form), ("active area", areas)) if not v)
    enc = _join(d.get("encapsulation") for d in devs)
    enc_date = _join(d.get("date_encapsulated") for d in devs)
    return [_item("device", value or "—", "registry (solar_cell_device, solar_cell_pixel)", miss),
            _item("encapsulation", (enc + (f" (encapsulated {enc_date})" if enc_date else "")) or "—",
                  "registry (solar_cell_device.encapsulation)", "" if enc else "encapsulation type (or 'none')")]


def _condition_items(report) -> list[dict]:
    periods = [per for plist in report.periods.values() for per in plist]
    modes = _join(per.mppt_mode for per in periods)
    pol = _join(per.mppt_polarity for per in periods)
    irr = [p.irradiance_lit_mean_Wm2 for p in report.pixels if p.has_data]
    temps = [p.temperature_lit_mean_C for p in report.pixels if p.has_data]
    irr_sensors = _join(s["label"] for s in report.sensors.values() if s["kind"] == "irradiance")
    temp_where = _join(s["location"] for s in report.sensors.values() if s["kind"] == "temperature")
    items = [
        _item("MPP tracking method", f"PeroCube MPP tracker (LabVIEW), mode {modes or 'not recorded'}"
              + (f", polarity {pol}" if pol else ""), "connection events (mppt_mode, mppt_polarity)",
              "" if modes else "tracking algorithm (e.g. perturb & observe, step, period) in the connection events"),
        _item("light source and irradiance",
              f"lamp type not recorded; {_rng(irr)} W/m² while lit (mean), sensor {irr_sensors or '—'}",
              "measured irradiance", "light source (lamp type, spectrum class)" + ("" if irr else ", irradiance data")),
        _item("temperature", f"{_rng(temps, '{:.1f}')} °C while lit (mean)" + (f", sensor at {temp_where}"
              if temp_where else "") if _rng(temps) else "—", "measured temperature",
              "" if _rng(temps) else "temperature sensor for the boards (report.default_temperature_sensor)"),
        _item("atmosphere", "not recorded", "—", "atmosphere (ambient air / N₂) and relative humidity"),
        _item("bias", "maximum power point (MPP tracking)" if not modes or "mpp" in modes.lower() else modes,
              "tracker mode", ""),
    ]
    return items


def _time_items(report) -> list[dict]:
    lit_h, dark_h = cycle_lengths(report)
    if dark_h:
        cyc = f"light/dark cycling: {np.median(lit_h):.1f} h light / {np.median(dark_h):.1f} h dark (median of " \
              f"{len(lit_h)} complete light and {len(dark_h)} dark periods)" if lit_h else \
              f"light/dark cycling, dark periods {np.median(dark_h):.1f} h (no complete light period)"
    else:
        cyc = "continuous light (no dark period longer than 5 min seen)"
    data = [p for p in report.pixels if p.has_data]
    obs = _rng([p.observed_h for p in data], "{:.1f}")
    rules = _join(p.ageing_start_rule.split(",")[0] for p in data)
    minutes = np.median([p.samples / max(len(p.t), 1) for p in data]) if data else 0
    meas = (f"MPP power, voltage and current ~every {60 / minutes:.0f} s (analysed as 1-minute means); irradiance "
            "and temperature per minute" if minutes else "—")
    return [_item("cycling", cyc, "detected from the irradiance", ""),
            _item("ageing time", f"{obs} h per pixel; ageing starts at the {rules}" if obs else "—",
                  "measured data", "" if obs else "data"),
            _item("measurements during ageing", meas, "measured data",
                  "periodic J–V scans (if done: their schedule and results are not in the database)")]


def match_protocol(report, lit_h: list[float], dark_h: list[float]) -> dict:
    """The ISOS protocol the measured conditions match (ISOS-L-1/2/3 or ISOS-LC-1/2/3)."""
    family = "ISOS-LC" if dark_h else "ISOS-L"
    temps = [p.temperature_lit_mean_C for p in report.pixels if p.temperature_lit_mean_C is not None]
    level, why = 1, "temperature not controlled at 65 or 85 °C (ambient)"
    if not temps:
        why = "no temperature data: level 1 assumed"
    else:
        med = float(np.median(temps))
        near = min(HOT_LEVELS, key=lambda hot: abs(med - hot))
        if abs(med - near) <= 3:
            level, why = 2, f"temperature held at {med:.0f} °C; humidity not recorded, so not level 3"
        elif med >= 45:
            level, why = 2, (f"elevated temperature {med:.0f} °C (ISOS-x-2 asks for 65 or 85 °C: state the deviation); "
                             "humidity not recorded, so not level 3")
    name = f"{family}-{level}"
    cyc = "with light/dark cycling" if dark_h else "under continuous light"
    return {"protocol": name, "reason": f"{cyc}; {why}; atmosphere not recorded (an inert atmosphere would make it "
            f"{name}I)"}


def fill_checklist(report) -> None:
    report.checklist = _device_items(report) + _condition_items(report) + _time_items(report)
    lit_h, dark_h = cycle_lengths(report)
    report.protocol = match_protocol(report, lit_h, dark_h)
    order = {name: i for i, name in enumerate(ITEMS)}
    report.checklist.sort(key=lambda d: order.get(d["item"], 99))
