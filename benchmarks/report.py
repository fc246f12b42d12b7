"""Report benchmark: 32 pixels over 30 days of 10-s data (~8.3 M MPP rows) -> finished PDF.

Prints the time from the request to the written PDF (target <= 10 s), and its parts.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import psycopg
from _common import scratch_database

from perocube_desktop.config import ReportSettings
from perocube_desktop.stats.report import Selection, build, export


def server_cpu(pgdata) -> float:
    """CPU seconds used so far by the PostgreSQL server of ``pgdata`` (postmaster, its live and
    finished children; Linux /proc), or NaN where that cannot be read."""
    try:
        tick = os.sysconf("SC_CLK_TCK")
        pid = int((pgdata / "postmaster.pid").read_text().split()[0])
        total = 0.0
        for stat in Path("/proc").glob("[0-9]*/stat"):
            fields = stat.read_text().rsplit(")", 1)[1].split()
            if int(fields[1]) == pid:  # a backend or a worker
                total += (int(fields[11]) + int(fields[12])) / tick
        own = (Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()
        return total + sum(int(x) for x in own[11:15]) / tick  # utime, stime, cutime, cstime
    except (OSError, ValueError, IndexError):
        return float("nan")


def make_data(url: str, pixels: int, days: int) -> int:
    """Device BENCH: ``pixels`` pixels (8 per board) with ``days`` of 10-s MPP data, light 12 h / dark 12 h,
    one irradiance and one temperature sensor; rollups refreshed and statistics analysed. Returns the MPP rows."""
    n = days * 8640
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("SET work_mem = '256MB'")
        conn.execute("SET session_replication_role = replica")  # bulk test data only
        conn.execute("INSERT INTO irradiance_sensor (irradiance_sensor_id, sensor_identifier, channel)"
                     " VALUES ('00000000-0000-4000-8000-000000000001', 'PT-104', 1)")
        conn.execute("INSERT INTO temperature_sensor (temperature_sensor_id, sensor_identifier)"
                     " VALUES ('00000000-0000-4000-8000-000000000002', 'm7004_ID_0000000000000001')")
        conn.execute("INSERT INTO solar_cell_device (name, area) VALUES ('BENCH', 1.0)")
        t0 = "2024-01-01 00:00:00+00"
        for k in range(pixels):
            b, c = k // 8 + 1, k % 8 + 1
            conn.execute("INSERT INTO mpp_tracking_channel (board, channel) VALUES (%s, %s)", (b, c))
            conn.execute("INSERT INTO solar_cell_pixel (solar_cell_id, pixel, active_area) VALUES ('BENCH', %s, 0.25)",
                         (f"P{k}",))
            conn.execute("INSERT INTO measurement_connection_event (solar_cell_id, pixel, tracking_channel_board,"
                         " tracking_channel_channel, irradiance_sensor_id, temperature_sensor_id,"
                         " connection_datetime, event_type) VALUES ('BENCH', %s, %s, %s,"
                         " '00000000-0000-4000-8000-000000000001', '00000000-0000-4000-8000-000000000002', %s,"
                         " 'CONNECTED')", (f"P{k}", b, c, t0))
        # light 12 h / dark 12 h, PCE with burn-in and slow loss; 1000 W/m2 x 0.25 cm2 x 0.1 x PCE%
        conn.execute("""
            INSERT INTO mpp_measurement ("timestamp", power, current, voltage, tracking_channel_board, tracking_channel_channel)
            SELECT ts, p, p / 0.95, 0.95, b, c FROM (
              SELECT %(t0)s::timestamptz + s * interval '10 seconds' AS ts, (k / 8) + 1 AS b, (k %% 8) + 1 AS c,
                     CASE WHEN (s / 4320) %% 2 = 0
                          THEN 250 * 0.1 * (18 + k * 0.05) / 100 * (1 - 0.1 * (1 - exp(-s / 8640.0 / 0.5)) - 0.0002 * s / 360.0)
                          ELSE 0.001 END AS p
              FROM generate_series(0, %(n)s - 1) s, generate_series(0, %(pixels)s - 1) k) x""",
                     {"t0": t0, "n": n, "pixels": pixels})
        conn.execute("""INSERT INTO irradiance_measurement ("timestamp", raw_reading, irradiance, irradiance_sensor_id)
            SELECT %(t0)s::timestamptz + s * interval '1 minute', 0,
                   CASE WHEN (s / 720) %% 2 = 0 THEN 1000 ELSE 0 END, '00000000-0000-4000-8000-000000000001'
            FROM generate_series(0, %(n)s / 6 - 1) s""", {"t0": t0, "n": n})
        conn.execute("""INSERT INTO temperature_measurement ("timestamp", temperature, temperature_sensor_id)
            SELECT %(t0)s::timestamptz + s * interval '1 minute', 40, '00000000-0000-4000-8000-000000000002'
            FROM generate_series(0, %(n)s / 6 - 1) s""", {"t0": t0, "n": n})
        for kind in ("mpp", "irradiance", "temperature"):
            conn.execute("INSERT INTO rollup_dirty (kind, t0, t1) VALUES (%s, %s, %s::timestamptz + interval '31 days')",
                         (kind, t0, t0))
        conn.execute("SELECT perocube_refresh_rollups()")
        # a database at rest has planner statistics (autovacuum); freshly bulk-loaded test data not yet
        conn.execute("ANALYZE")
        rows = conn.execute("SELECT count(*) FROM mpp_measurement").fetchone()[0]
    return rows


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--pixels", type=int, default=32)
    ap.add_argument("--days", type=int, default=30)
    args = ap.parse_args()
    with scratch_database() as (url, work, _server):
        t = time.perf_counter()
        rows = make_data(url, args.pixels, args.days)
        print(f"(test data: {rows:,} MPP rows for {args.pixels} pixels over {args.days} days, "
              f"made in {time.perf_counter() - t:.0f} s)")
        for attempt in ("first", "repeated"):
            t, cpu, db_cpu = time.perf_counter(), time.process_time(), server_cpu(work / "pgdata")
            rep = build(url, Selection(device="BENCH"), ReportSettings())
            t_build = time.perf_counter() - t
            export(rep, work / "report.pdf")
            total, cpu = time.perf_counter() - t, time.process_time() - cpu
            db_cpu = server_cpu(work / "pgdata") - db_cpu
            print(f"{attempt} report for {len(rep.pixels)} pixels x {args.days} days: finished PDF after {total:.1f} s "
                  f"(loading series {rep.timings['load']:.1f} s, analysis {rep.timings['analysis']:.1f} s, "
                  f"PDF {total - t_build:.1f} s; target <= 10 s). CPU used: this process {cpu:.1f} s, "
                  f"database server {db_cpu:.1f} s (on a busy shared machine the wall time is mostly waiting)")
        p0 = rep.pixels[0]
        print(f"  e.g. {p0.device}/{p0.pixel}: energy {p0.energy_mWh:.0f} mWh, PCE {p0.pce_initial_pct:.2f} -> "
              f"{p0.pce_final_pct:.2f} %, T95 {p0.T95_h}, T80 {p0.T80_h}, Ts {p0.Ts_h}, "
              f"{p0.cycles_complete} complete + {p0.cycles_partial} partial light cycles; {p0.projection_note}")


if __name__ == "__main__":
    main()
