"""NOMAD export benchmark: the report benchmark's device (32 pixels x 30 days of 10-s data, ~8.3 M MPP
rows) -> the finished upload zip (report, archive entries, raw samples by COPY, PDF).

Prints the wall time, the CPU of this process and of the database server, the zip's size and what it holds.
"""

from __future__ import annotations

import argparse
import time
import zipfile

from _common import scratch_database
from report import make_data, server_cpu

from perocube_desktop.config import ReportSettings
from perocube_desktop.export.nomad_zip import export_nomad
from perocube_desktop.stats.report import Selection


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
            out = work / f"upload-{attempt}.zip"
            t, cpu, db_cpu = time.perf_counter(), time.process_time(), server_cpu(work / "pgdata")
            result = export_nomad(url, Selection(device="BENCH"), ReportSettings(), out)
            total, cpu = time.perf_counter() - t, time.process_time() - cpu
            db_cpu = server_cpu(work / "pgdata") - db_cpu
            with zipfile.ZipFile(out) as zf:
                raw = sum(i.file_size for i in zf.infolist())
            print(f"{attempt} NOMAD export of {result.pixels} pixels x {args.days} days: {total:.1f} s; "
                  f"{len(result.entries)} archive entries + {len(result.files)} files, zip {out.stat().st_size / 1e6:.0f} MB "
                  f"({raw / 1e6:.0f} MB uncompressed). CPU used: this process {cpu:.1f} s, database server "
                  f"{db_cpu:.1f} s (on a busy shared machine the wall time is mostly waiting)")


if __name__ == "__main__":
    main()
