"""NOMAD archive entries (``*.archive.json``) from a built report. Pure: report objects in, dicts out.

Class and quantity names, and the units the numbers are written in, are those of the plugins the
institute's Oasis runs (``docs/nomad.md``): HZB's ``nomad_hysprint`` (MPP tracking per pixel, environment
per board) and FAIRmat's ``perovskite_solar_cell_database`` (one solar cell per device). A JSON number
in an archive is read in the quantity's unit, so every value here is converted to it: times of the
figures of merit in seconds for HZB's results, in hours for the perovskite database.
What the registry or the data do not know is left out, never invented.
"""

from __future__ import annotations

import re
from datetime import datetime, timezone

import numpy as np

from ..stats.analysis import PixelResult

MPP_CLASS = "nomad_hysprint.schema_packages.hysprint_package.HySprint_SimpleMPPTracking"
ENVIRONMENT_CLASS = "nomad_hysprint.schema_packages.hysprint_package.HZB_EnvironmentMeasurement"
SOLAR_CELL_CLASS = "perovskite_solar_cell_database.schema.PerovskiteSolarCell"
#: HZB's MPP normalizer smooths with a Savitzky-Golay window of n // 5 > 3 points: fewer points fail there
MIN_MPP_POINTS = 20
HOUR_S = 3600.0
#: HySprint's parser takes files named ``<x>.<kind>.<ext>`` (kind: eqe, jv, mppt, env, ...; ext 1-4
#: characters) and ``*.nk``: our CSV names avoid that pattern, so the Oasis never parses them again
HYSPRINT_PARSER_NAMES = re.compile(
    r"^(.+\.?.+\.((eqe|jv|jvi|pl|pli|hy|spv|env|uvvis|PL|JV|PLI|EQE|SEM|sem|xrd|mppt)\..{1,4})|.+\.nk)$")


def safe_name(text: str) -> str:
    """A file-name part: letters, digits, '-' and '_' only (no dots: no parser infix can appear)."""
    return re.sub(r"[^A-Za-z0-9_-]+", "_", text).strip("_") or "unnamed"


def iso(t: float | None) -> str | None:
    return None if t is None else datetime.fromtimestamp(t, timezone.utc).isoformat(timespec="seconds")


def clean(value):
    """Drop None (and empty sections) recursively; numpy scalars to Python numbers."""
    if isinstance(value, dict):
        out = {k: clean(v) for k, v in value.items()}
        return {k: v for k, v in out.items() if v is not None and v != {} and v != []}
    if isinstance(value, list):
        return [clean(v) for v in value]
    if isinstance(value, (np.floating, float)):
        return float(value) if np.isfinite(value) else None
    if isinstance(value, np.integer):
        return int(value)
    return value


def _array(values: np.ndarray, digits: int = 6) -> list[float]:
    return np.round(np.asarray(values, dtype=np.float64), digits).tolist()


def _seconds(hours: float | None) -> float | None:
    return None if hours is None else hours * HOUR_S


def lit_minutes(res: PixelResult) -> np.ndarray:
    """The minutes the report computed a PCE for (lit, with power; excluded spans left out)."""
    if res.t is None or res.pce is None or res.voltage is None or res.current is None or res.power is None:
        return np.zeros(0, dtype=bool)
    return (np.isfinite(res.pce) & np.isfinite(res.power) & np.isfinite(res.voltage) & np.isfinite(res.current))


def mpp_entry(res: PixelResult, description: str) -> dict | None:
    """One pixel as HZB's simple MPP tracking: 1-minute means while lit, time from the ageing start,
    the report's figures of merit as ``results[0]``. None when the pixel has fewer minutes than
    HZB's normalizer needs (the caller says so in the README)."""
    ok = lit_minutes(res)
    if int(ok.sum()) < MIN_MPP_POINTS or not res.area_cm2 or res.ageing_start is None:
        return None
    assert res.t is not None and res.voltage is not None and res.current is not None and res.power is not None
    assert res.pce is not None
    area = float(res.area_cm2)
    time_s = res.t[ok] - res.ageing_start
    voltage = res.voltage[ok]
    efficiency = res.pce[ok]
    data = {
        "m_def": MPP_CLASS,
        "name": f"{res.device} pixel {res.pixel} MPP tracking",
        "datetime": iso(res.ageing_start),
        "description": description,
        "samples": [{"lab_id": res.device, "name": res.device}],
        "time": _array(time_s, 1),
        "voltage": _array(voltage),
        "current_density": _array(res.current[ok] / area),
        "power_density": _array(res.power[ok] / area),
        "efficiency": _array(efficiency, 4),
        "properties": {"time": float(time_s[-1]), "last_pce": float(efficiency[-1]), "last_vmpp": float(voltage[-1])},
        "results": [figures_of_merit(res)],
    }
    return {"data": clean(data)}


def figures_of_merit(res: PixelResult) -> dict:
    """HZB's StabilityFiguresOfMerit from the report's figures (hours -> seconds)."""
    return {"name": "PeroCube report", "T95": _seconds(res.T95_h), "Ts95": _seconds(res.TS95_h),
            "T80": _seconds(res.T80_h), "Ts80": _seconds(res.TS80_h),
            "initial_stabilization_time": _seconds(res.Ts_h), "PCE_after_1000_h": res.pce_1000h_pct}


def environment_entry(board: int, t: np.ndarray, temperature: np.ndarray, sensor: str | None,
                      description: str) -> dict | None:
    """One board's temperature (1-minute means) as HZB's environment measurement; None without any.
    The schema has no irradiance quantity: the irradiance is in the board's CSV (``description`` says so)."""
    ok = np.isfinite(t) & np.isfinite(temperature)
    if not ok.any():
        return None
    t, temperature = t[ok], temperature[ok]
    stamps = [datetime.fromtimestamp(float(x), timezone.utc).isoformat(timespec="seconds") for x in t]
    data = {
        "m_def": ENVIRONMENT_CLASS,
        "name": f"board {board} environment",
        "datetime": iso(float(t[0])),
        "description": description,
        "data": {"time": _array(t - t[0], 1), "datetime": stamps, "temperature": _array(temperature, 3),
                 "temperature_sensors": [{"name": sensor, "temperature": _array(temperature, 3)}] if sensor else None},
    }
    return {"data": clean(data)}


def _mean(values: list[float | None], require_all: bool = True) -> float | None:
    """Mean over the device's pixels; with ``require_all`` only when every pixel has the figure (a T80
    that some pixels never reached has no honest device mean)."""
    have = [v for v in values if v is not None]
    if not have or (require_all and len(have) < len(values)):
        return None
    return float(np.mean(have))


def _range_text(values: list[float | None]) -> str | None:
    have = [v for v in values if v is not None]
    if not have:
        return None
    lo, hi = f"{min(have):.0f}", f"{max(have):.0f}"
    return lo if lo == hi else f"{lo}; {hi}"


def stack_sequence(structure: str | None) -> str | None:
    """The registry's layer stack ('FTO/SnO2/.../Au') in the database's notation ('FTO | SnO2 | ... | Au')."""
    if not structure or not structure.strip():
        return None
    layers = [part.strip() for part in re.split(r"\s*[/|]\s*", structure) if part.strip()]
    return " | ".join(layers) or None


def architecture(technology: str | None) -> str | None:
    key = re.sub(r"[^a-z]", "", (technology or "").lower())
    return key if key in ("nip", "pin") else None


def encapsulated(text: str | None) -> bool | None:
    if not text or not text.strip():
        return None
    return text.strip().lower() not in ("none", "no", "-", "unencapsulated", "not encapsulated")


def stability_section(pixels: list[PixelResult], conditions: dict) -> dict:
    """The perovskite database's stability section of one device: conditions from the report's checklist
    (``conditions``: protocol, light_load, cycling, bias), figures as the mean over the device's pixels."""
    irr = _mean([p.irradiance_lit_mean_Wm2 for p in pixels], require_all=False)
    return {
        "measured": True,
        "protocol": conditions.get("protocol"),
        "average_over_n_number_of_cells": len(pixels),
        "light_intensity": None if irr is None else irr / 10.0,  # W/m² -> mW/cm²
        "light_load_condition": conditions.get("light_load"),
        "light_cycling_times": conditions.get("cycling"),
        "potential_bias_load_condition": conditions.get("bias"),
        "temperature_range": _range_text([p.temperature_lit_mean_C for p in pixels]),
        "time_total_exposure": max((p.observed_h for p in pixels if p.observed_h is not None), default=None),
        "PCE_initial_value": _mean([p.pce_initial_pct for p in pixels]),
        "PCE_end_of_experiment": _mean([p.pce_final_pct for p in pixels]),
        "PCE_T95": _mean([p.T95_h for p in pixels]),
        "PCE_Ts95": _mean([p.TS95_h for p in pixels]),
        "PCE_T80": _mean([p.T80_h for p in pixels]),
        "PCE_Ts80": _mean([p.TS80_h for p in pixels]),
        "PCE_after_1000_h": _mean([p.pce_1000h_pct for p in pixels]),
        "link_raw_data_for_stability_trace": conditions.get("raw_link"),
    }


def solar_cell_entry(device: str, info: dict, pixels: list[PixelResult], initial_pces: list[float | None],
                     conditions: dict) -> dict:
    """One device in the FAIRmat perovskite solar-cell database schema (``cell`` and ``jv`` from the
    registry, ``stability`` from the report)."""
    areas = {p.area_cm2 for p in pixels if p.area_cm2}
    data = {
        "m_def": SOLAR_CELL_CLASS,
        "cell": {"stack_sequence": stack_sequence(info.get("structure")),
                 "area_measured": areas.pop() if len(areas) == 1 else None,
                 "number_of_cells_per_substrate": len(pixels) or None,
                 "architecture": architecture(info.get("technology"))},
        "encapsulation": {"Encapsulation": encapsulated(info.get("encapsulation"))},
        "jv": {"default_PCE": _mean(initial_pces, require_all=False)},
        "stability": stability_section([p for p in pixels if p.has_data], conditions),
    }
    return {"data": clean(data)}
