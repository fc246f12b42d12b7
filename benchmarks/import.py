"""Import benchmark: 32 channels x 14 days at 10 s (~3.9 M MPP rows) in the lab's file format.

Prints: first import rows/s (and the rollup refresh separately), re-import of the unchanged
folder (s), import after appending 1 % new rows to every file (s).
Targets: >= 500,000 rows/s; unchanged <= 1 s; appended 1 % <= 2 s.
"""

from __future__ import annotations

import argparse
import time
from datetime import datetime
from pathlib import Path

import numpy as np
from _common import scratch_database

from perocube_desktop.importer.engine import run_import


def write_channel(path: Path, start: datetime, n: int, interval: int, seed: int, offset: int = 0) -> None:
    rng = np.random.default_rng(seed)
    t0 = np.datetime64(start) + np.timedelta64(offset * interval, "s")
    ts = (t0 + np.arange(n) * np.timedelta64(interval, "s")).astype("datetime64[s]").astype(str)
    p = 4.5 + rng.normal(0, 0.05, n)
    v = 0.93 + rng.normal(0, 0.003, n)
    i = p / v
    lines = np.char.add(np.char.add(np.char.add(np.char.add(np.char.add(np.char.add(ts, "\t"),
                                                                         np.char.mod("%.6f", p)), "\t"),
                                                 np.char.mod("%.6f", i)), "\t"), np.char.mod("%.6f", v))
    with path.open("a", encoding="ascii") as fh:
        fh.write("\n".join(lines.tolist()) + "\n")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--channels", type=int, default=32)
    ap.add_argument("--days", type=float, default=14)
    ap.add_argument("--interval", type=int, default=10)
    args = ap.parse_args()
    n = int(args.days * 86400 / args.interval)
    start = datetime(2024, 1, 1)
    with scratch_database() as (url, work, _server):
        root = work / "lab" / "data_bench"
        root.mkdir(parents=True)
        t = time.perf_counter()
        files = []
        for k in range(args.channels):
            f = root / f"output_board{k // 8 + 1}_channel{k % 8 + 1}.txt"
            write_channel(f, start, n, args.interval, k)
            files.append(f)
        total = n * args.channels
        size = sum(f.stat().st_size for f in files) / 1e6
        print(f"generated {args.channels} files, {total:,} rows, {size:.0f} MB in {time.perf_counter() - t:.1f} s")

        t = time.perf_counter()
        first = run_import(url, work / "lab")
        el = time.perf_counter() - t
        assert first.inserted["mpp"] == total, first.inserted
        print(f"first import:      {total:,} rows in {el:.2f} s = {total / el:,.0f} rows/s "
              f"(target >= 500,000); of which rollup refresh {first.rollup_seconds:.2f} s; "
              f"loading alone {total / (el - first.rollup_seconds):,.0f} rows/s")

        t = time.perf_counter()
        again = run_import(url, work / "lab")
        el = time.perf_counter() - t
        assert again.inserted["mpp"] == 0
        print(f"unchanged re-import: {el:.3f} s (target <= 1 s), {again.files['unchanged']} files unchanged")

        extra = max(n // 100, 1)
        for k, f in enumerate(files):
            write_channel(f, start, extra, args.interval, 1000 + k, offset=n)
        t = time.perf_counter()
        tail = run_import(url, work / "lab")
        el = time.perf_counter() - t
        assert tail.inserted["mpp"] == extra * args.channels, tail.inserted
        print(f"appended 1 %:       {extra * args.channels:,} new rows in {el:.3f} s (target <= 2 s)")


if __name__ == "__main__":
    main()
