"""Report exports: JSON (everything), CSV (one row of figures per pixel), XLSX (sheets for the
figures, the ISOS checklist, cycles, excluded spans, statistics, the method) and PDF (``pdf``)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pandas as pd

from .analysis import PixelResult


def pixel_dict(p: PixelResult) -> dict:
    return {**p.metrics(), "channels": [f"board {b} channel {c}" for b, c in p.channels],
            "daily_energy_mWh": p.daily_energy, "cycles": p.cycles, "notes": p.notes, "gaps": p.gaps,
            "lit_zero_spans": [s.as_dict() for s in p.lit_zero], "moves": [m.as_dict() for m in p.moves],
            "statistics": p.statistics}


def to_json(report) -> dict:
    return {"created": report.created, "selection": report.selection.describe(), "method": report.method(),
            "isos_protocol": report.protocol, "isos_checklist": report.checklist,
            "pixels": [pixel_dict(p) for p in report.pixels]}


def _statistics_rows(report) -> list[dict]:
    return [{"device": p.device, "pixel": p.pixel, "quantity": q, **s}
            for p in report.pixels for q, s in p.statistics.items()]


def _excluded_rows(report) -> list[dict]:
    rows = [{"device": p.device, "pixel": p.pixel, "why": "lit but no power", **s.as_dict()}
            for p in report.pixels for s in p.lit_zero]
    rows += [{"device": p.device, "pixel": p.pixel, "why": "move", "start": m.as_dict()["removed"],
              "end": m.as_dict()["installed"], "minutes": None if m.installed_at is None or m.removed_at is None
              else round((m.installed_at - m.removed_at) / 60), "text": m.text}
             for p in report.pixels for m in p.moves]
    return rows


def write_xlsx(report, path: Path) -> None:
    metrics = [p.metrics() for p in report.pixels]
    sheets = {
        "figures of merit": pd.DataFrame(metrics),
        "ISOS checklist": pd.DataFrame(report.checklist),
        "light cycles": pd.DataFrame([{"device": p.device, "pixel": p.pixel, **c} for p in report.pixels
                                      for c in p.cycles]),
        "excluded spans": pd.DataFrame(_excluded_rows(report)),
        "daily energy": pd.DataFrame([{"device": p.device, "pixel": p.pixel, "day": d, "energy_mWh": e}
                                      for p in report.pixels for d, e in p.daily_energy.items()]),
        "series statistics": pd.DataFrame(_statistics_rows(report)),
        "notes": pd.DataFrame([{"device": p.device, "pixel": p.pixel, "note": n} for p in report.pixels
                               for n in p.notes]),
        "method": pd.DataFrame([{"item": k, "value": json.dumps(v, ensure_ascii=False) if isinstance(v, dict) else v}
                                for k, v in {**report.method(), "isos_protocol": report.protocol}.items()]),
    }
    with pd.ExcelWriter(path, engine="openpyxl") as xw:
        for name, frame in sheets.items():
            frame.to_excel(xw, sheet_name=name, index=False)


def export(report, path: Path) -> Path:
    path = Path(path)
    ext = path.suffix.lower()
    if ext not in (".json", ".csv", ".xlsx", ".pdf"):
        raise ValueError(f"unknown report format {ext!r}: use .pdf, .csv, .xlsx or .json")
    # written under a temporary name in the same folder and renamed when complete: an error or a
    # Ctrl-C leaves no half-written report (and an older report of that name stays as it was)
    part = path.with_name(f".{path.stem}.{os.getpid()}.partial{ext}")
    try:
        if ext == ".json":
            part.write_text(json.dumps(to_json(report), indent=1, ensure_ascii=False, default=str), encoding="utf-8")
        elif ext == ".csv":
            pd.DataFrame([p.metrics() for p in report.pixels]).to_csv(part, index=False)
        elif ext == ".xlsx":
            write_xlsx(report, part)
        else:
            from .pdf import write_pdf

            write_pdf(report, part)
        os.replace(part, path)
    finally:
        part.unlink(missing_ok=True)
    return path
