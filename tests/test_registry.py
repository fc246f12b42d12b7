"""Registry: validation rules (no DB), repository and wiring against the real database."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import psycopg
import pytest
from psycopg_pool import ConnectionPool

from perocube_desktop.registry.repository import (ConflictError, ReferencedError, RegistryRepository, ValidationError,
                                                  coerce)
from perocube_desktop.registry.schema import ENTITIES
from perocube_desktop.registry.wiring import Event, WiringError, WiringService
from perocube_desktop.db.session import POOL_KWARGS

NOW = datetime.now(timezone.utc).replace(microsecond=0)


def test_validation_rules():
    dev = ENTITIES["device"]
    with pytest.raises(ValidationError) as e:
        coerce(dev, {"name": "", "area": "-1", "initial_pce": "120", "nomad_id": "nope",
                     "date_produced": "2024-05-03", "date_encapsulated": "2024-05-01"})
    errs = e.value.errors
    assert errs["name"] == "required" and "greater than 0" in errs["area"] and "at most 100" in errs["initial_pce"]
    assert "UUID" in errs["nomad_id"] and "before" in errs["date_encapsulated"]
    ok = coerce(dev, {"name": "D1", "area": "1,5", "initial_pce": "19.2"})
    assert ok["area"] == 1.5 and ok["initial_pce"] == 19.2


@pytest.fixture
def repo(db_url):
    pool = ConnectionPool(db_url, min_size=1, max_size=3, open=True, kwargs=POOL_KWARGS)
    yield RegistryRepository(pool)
    pool.close()


def test_crud_unique_audit_and_refused_delete(repo, db_url):
    s = repo.save("scientist", {"name": "A. Rossi"})
    with pytest.raises(ValidationError, match="already exists"):
        repo.save("scientist", {"name": "A. Rossi"})
    dev = repo.save("device", {"name": "D1", "owner_id": str(s["scientist_id"]), "area": "1.0"})
    repo.save("pixel", {"solar_cell_id": "D1", "pixel": "A", "active_area": "0.25"})
    assert [r["pixel"] for r in repo.list("pixel")] == ["A"]
    assert repo.list("device", "d1")[0]["name"] == "D1"
    with pytest.raises(ReferencedError, match="solar_cell_pixel"):
        repo.delete("device", dev)
    with pytest.raises(ReferencedError, match="solar_cell_device"):
        repo.delete("scientist", repo.list("scientist")[0])
    audit = repo.audit()
    assert {a[3] for a in audit} >= {"scientist", "solar_cell_device", "solar_cell_pixel"}
    assert all(a[1] and a[2] for a in audit)  # who and which host


def test_concurrent_edit_is_refused(repo):
    repo.save("channel", {"board": "1", "channel": "1", "com_port": "COM3"})
    first = repo.list("channel")[0]
    second = dict(first)
    repo.save("channel", {**first, "com_port": "COM4"}, original=first)
    with pytest.raises(ConflictError, match="COM port: 'COM3' → 'COM4'"):
        repo.save("channel", {**second, "current_limit": "25"}, original=second)
    assert repo.list("channel")[0]["com_port"] == "COM4" and repo.list("channel")[0]["current_limit"] is None


def test_failed_save_leaves_database_unchanged(repo):
    repo.save("experiment", {"name": "E1", "start_date": "2024-01-01"})
    before = repo.list("experiment")
    with pytest.raises(ValidationError):
        repo.save("experiment", {"name": "E1b", "start_date": "2024-02-01", "end_date": "2024-01-01"})
    assert repo.list("experiment") == before


def wiring(repo):
    repo.save("device", {"name": "D1"})
    for p in ("A", "B"):
        repo.save("pixel", {"solar_cell_id": "D1", "pixel": p})
    return WiringService(repo)


def test_wiring_rules(repo, db_url):
    w = wiring(repo)
    t0 = NOW - timedelta(hours=5)
    w.connect(Event("D1", "A", 1, 1, t0, ""))
    with pytest.raises(WiringError, match="already connected"):
        w.connect(Event("D1", "A", 1, 2, t0 + timedelta(hours=1), ""))
    with pytest.raises(WiringError, match="holds D1 / A"):
        w.connect(Event("D1", "B", 1, 1, t0 + timedelta(hours=1), ""))
    with pytest.raises(WiringError, match="nothing to disconnect"):
        w.disconnect("D1", "B", t0 + timedelta(hours=1))
    with pytest.raises(WiringError, match="future"):
        w.connect(Event("D1", "B", 2, 1, NOW + timedelta(hours=1), ""))
    w.move(Event("D1", "A", 2, 4, t0 + timedelta(hours=2), ""))
    w.connect(Event("D1", "B", 1, 1, t0 + timedelta(hours=3), ""))
    w.disconnect("D1", "B", t0 + timedelta(hours=4))
    with pytest.raises(WiringError, match="DISCONNECTED"):
        w.disconnect("D1", "B", t0 + timedelta(hours=3, minutes=30))
    at = {(r[0], r[1]): (r[2], r[3], r[4]) for r in w.wiring_at(t0 + timedelta(hours=3, minutes=30))}
    assert at[(2, 4)] == ("D1", "A", 1) and at[(1, 1)] == ("D1", "B", 1)
    assert [e[1] for e in w.timeline("D1", "A")] == ["CONNECTED", "DISCONNECTED", "CONNECTED"]
    # the lab's function sees the same
    with psycopg.connect(db_url) as conn:
        st = conn.execute("SELECT board_number, channel_number, is_active FROM get_board_connection_status() ORDER BY 1, 2").fetchall()
    assert st == [(1, 1, 0), (2, 4, 1)]


def test_correcting_past_events(repo, db_url):
    w = wiring(repo)
    t0 = NOW - timedelta(hours=5)
    w.connect(Event("D1", "A", 3, 1, t0, ""))
    w.disconnect("D1", "A", t0 + timedelta(hours=2))
    with psycopg.connect(db_url) as conn:
        with conn.cursor().copy("COPY mpp_measurement (\"timestamp\", power, tracking_channel_board,"
                                " tracking_channel_channel) FROM STDIN") as cp:
            for m in range(0, 300):
                cp.write_row((t0 + timedelta(minutes=m), 1.0, 3, 1))
    text = w.impact("D1", "A", t0 + timedelta(hours=2), "DISCONNECTED", t0 + timedelta(hours=3))
    assert text.startswith("60 measurements of board 3 channel 1")
    w.move_event("D1", "A", t0 + timedelta(hours=2), "DISCONNECTED", t0 + timedelta(hours=3))
    with psycopg.connect(db_url) as conn:
        n = conn.execute("SELECT count(*) FROM get_mpp_data_for_pixel('D1', 'A')").fetchone()[0]
    assert n == 180
    with pytest.raises(WiringError, match="same kind in a row"):
        w.delete_event("D1", "A", t0, "CONNECTED")
    w.delete_event("D1", "A", t0 + timedelta(hours=3), "DISCONNECTED")
    assert [e[1] for e in w.timeline("D1", "A")] == ["CONNECTED"]
