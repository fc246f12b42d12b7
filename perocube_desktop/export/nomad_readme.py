"""The README.md inside a NOMAD upload: app version, selection, files, method, what was left out and
what the scientist must still add in NOMAD. Pure text from the report."""

from __future__ import annotations

import json


def _method_lines(report) -> list[str]:
    method = report.method()
    lines = []
    for key, value in method.items():
        if isinstance(value, dict):
            lines += [f"- **{k}**: {v}" for k, v in value.items()]
        else:
            lines.append(f"- {key}: {json.dumps(value, ensure_ascii=False, default=str)}")
    return lines


def _checklist_lines(report) -> list[str]:
    lines = [f"ISOS protocol: **{report.protocol.get('protocol', '?')}** ({report.protocol.get('reason', '')})", ""]
    for item in report.checklist:
        line = f"- {item['item']}: {item['value']} (source: {item['source']})"
        if item.get("missing"):
            line += f" — **to add:** {item['to_add']}"
        lines.append(line)
    return lines


FILES = """\
- `<device>/<device>_<pixel>_mpp_tracking.archive.json`: one pixel in HZB's MPP-tracking schema
  (`nomad_hysprint ... HySprint_SimpleMPPTracking`): 1-minute means while lit (voltage V, current and
  power density mA/cm² and mW/cm² over the pixel's active area, efficiency %), time in s from the
  pixel's ageing start, and the report's T95, Ts95, T80, Ts80 and burn-in time in `results[0]` (s).
- `<device>/<device>_solar_cell.archive.json`: the device in the perovskite solar-cell database schema
  (`perovskite_solar_cell_database.schema.PerovskiteSolarCell`): layer stack and initial PCE from the
  registry, the stability section from the report (means over the device's pixels; a time figure only
  when every pixel reached it).
- `boards/board_<n>_environment.archive.json`: the board's temperature (1-minute means) in HZB's
  environment schema (`HZB_EnvironmentMeasurement`; it has no irradiance quantity).
- `raw/<device>/<device>_<pixel>_mpp_samples.csv`: every raw MPP sample of the pixel (UTC, board,
  channel, power mW, current mA, voltage V); `raw/board_<n>_temperature_samples.csv` and
  `raw/board_<n>_irradiance_samples.csv`: the board's raw sensor samples. Named so that no Oasis
  parser reads them as measurements.
- `report/report.pdf`, `report/report.json`: the stability report these figures come from."""

TO_ADD = """\
- Link each entry's sample (`samples[0].lab_id` is the device name) to the sample entry in your Oasis.
- Add what the registry does not hold (see the checklist above): atmosphere and humidity, light source
  and spectrum, J–V parameters (Voc, Jsc, FF), the full layer stack with substrate, encapsulation details.
- HZB's MPP normalizer computes T95/T80/Ts95/Ts80 itself where a figure is missing here (not reached
  in the data): those values are NOMAD's smoothing, not this report's.
- Nothing is published: review the entries, then publish the upload in NOMAD."""


def readme(report, app_version: str, entries: list[str], left_out: list[str]) -> str:
    sel = report.selection
    period = ""
    if sel.start or sel.end:
        period = f", from {sel.start.isoformat() if sel.start else 'the start'} to " \
                 f"{sel.end.isoformat() if sel.end else 'the end'}"
    parts = [
        "# PeroCube ageing data for NOMAD", "",
        f"Exported by Perocube Desktop {app_version}; report created {report.created}.",
        f"Selection: {sel.describe()}{period}; {len(report.pixels)} pixels, {len(entries)} archive entries.", "",
        "## Files", "", FILES, "",
        "## Method (the report's definitions)", "", *_method_lines(report), "",
        "## Conditions (the report's ISOS checklist)", "", *_checklist_lines(report), "",
        "## Left out", "", *([f"- {x}" for x in left_out] or ["- nothing"]), "",
        "## To add in NOMAD", "", TO_ADD, "",
    ]
    return "\n".join(parts)
