"""The soak's short form (benchmarks/soak.py): a primary and a streaming standby (TimescaleDB when
installed for PostgreSQL 15), PgBouncer in transaction mode in front of each, two real ``receive``
processes with 128 channels each at 1 Hz from the simulator (``vi`` framing), a viewer-mode GUI
and API clients on the standby; the primary stopped with ``-m immediate`` halfway and the standby
promoted. Asserts what must hold whatever the machine's speed: every ACKed row stored once on the
new primary, per channel; the figures (ACK, buffering, lag, delay, API, memory) measured for every
phase and process. The full 10-minute soak: ``python benchmarks/soak.py``."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from pgcluster import missing

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

REASON = missing("pgbouncer", "initdb", "pg_ctl", "pg_basebackup", "postgres")


@pytest.mark.slow
@pytest.mark.skipif(bool(REASON), reason=f"soak: {REASON}")
def test_short_soak_with_failover_loses_and_doubles_nothing():
    import soak

    r = soak.run(soak.SoakConfig(seconds=45, receivers=2, viewers=1, api_clients=2))
    print(soak.report(r))
    assert r["channels"] == 2 * 128
    assert r["rows_acked"] == r["rows_stored"] and r["rows_acked"] >= 2 * 128 * 30
    assert r["channels_mismatched"] == [] and r["duplicates"] == 0
    # ACKs before, during (primary dead until the buffers drained) and after the failover
    assert all(r["ack_count"][phase] > 0 for phase in ("before", "during", "after"))
    assert all(b["peak_buffered_rows"] > 0 for b in r["buffering"])  # rows waited out the failover
    assert r["replica_lag_s"]["samples"] > 0 and r["viewer_delay_s"]["samples"] > 0 and r["api"]["ok"] > 0
    assert any("standby" in text for texts in r["viewer_status_texts"] for text in texts or [])
    expected = {"receive-0", "receive-1", "serve", "viewer-0", "pgbouncer-writers", "pgbouncer-readers"}
    assert set(r["memory_mb"]) == expected and all(a > 0 and b > 0 for a, b in r["memory_mb"].values())
