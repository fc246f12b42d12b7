"""Read results for packaging/test_bundle.sh (runs with the machine's Python, not inside the bundle).

    python bundle_checks.py buffer-rows BUFFER.sqlite3
    python bundle_checks.py import-counts IMPORT.json MANIFEST.json
"""

from __future__ import annotations

import json
import sqlite3
import sys


def buffer_rows(path: str) -> int:
    """Rows still waiting in the receiver's local buffer (segment table; older layout: pending)."""
    conn = sqlite3.connect(path)
    tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    query = "SELECT coalesce(sum(rows), 0) FROM segment" if "segment" in tables else "SELECT count(*) FROM pending"
    return int(conn.execute(query).fetchone()[0])


def import_counts(import_json: str, manifest_json: str) -> bool:
    with open(import_json, encoding="utf-8") as fh:
        got = json.load(fh)["inserted"]
    with open(manifest_json, encoding="utf-8") as fh:
        m = json.load(fh)
    want = {"mpp": sum(m["mpp_good_samples_per_channel"].values()),
            "temperature": sum(f["rows"] for f in m["files"] if f["kind"] == "temperature"),
            "irradiance": sum(f["rows"] for f in m["files"] if f["kind"] == "irradiance")}
    print(f"    inserted {got}, manifest {want}")
    return all(got.get(k) == v for k, v in want.items())


if __name__ == "__main__":
    if sys.argv[1] == "buffer-rows":
        print(buffer_rows(sys.argv[2]))
    elif sys.argv[1] == "import-counts":
        sys.exit(0 if import_counts(sys.argv[2], sys.argv[3]) else 1)
    else:
        sys.exit(f"unknown check {sys.argv[1]}")
