"""Read API end to end: uvicorn for real on a free port against the imported sample folder, every
route called over HTTP and compared with direct SQL on the same database (both backends)."""

from __future__ import annotations

import csv
import io
import json
import re
import os
import subprocess
import sys
from datetime import datetime

import httpx
import psycopg
import pytest

import conftest
from helpers import free_port, wait_until
from perocube_desktop.api.server import ApiConfigError, ApiServer, token_for
from perocube_desktop.config import ReportSettings, Settings
from perocube_desktop.importer.engine import run_import


@pytest.fixture(scope="module")
def sample_db(pg_server, tmp_path_factory):
    """The sample folder imported once per backend into a database of its own."""
    import shutil

    name = conftest._create(pg_server, conftest.TEMPLATE)
    url = pg_server.url(name)
    lab = tmp_path_factory.mktemp("lab") / "lab"
    shutil.copytree(conftest.SAMPLE, lab)
    run_import(url, lab)
    if pg_server.backend == "timescaledb":  # materialise the aggregates, as after a refresh policy run
        with psycopg.connect(url, autocommit=True) as conn:
            for (view,) in conn.execute("SELECT view_name FROM timescaledb_information.continuous_aggregates").fetchall():
                conn.execute("CALL refresh_continuous_aggregate(%s::regclass, NULL, NULL)", (view,))
    yield url
    conftest._drop(pg_server, name)


@pytest.fixture(scope="module")
def api(sample_db):
    server = ApiServer(sample_db, Settings(), "127.0.0.1", free_port())
    server.start()
    with httpx.Client(base_url=server.url, timeout=60) as client:
        yield client
    server.stop()


def sql(url: str, query: str, params=()) -> list[tuple]:
    with psycopg.connect(url) as conn:
        conn.execute("SET TIME ZONE 'UTC'")
        return conn.execute(query, params).fetchall()


def ts(text: str) -> datetime:
    return datetime.fromisoformat(text)


MPP_ORDER = {"desc": '"timestamp" DESC, tracking_channel_board DESC, tracking_channel_channel DESC',
             "asc": '"timestamp", tracking_channel_board, tracking_channel_channel'}


def _mpp_rows(url, where="true", params=(), order="desc", limit=None, offset=0):
    q = (f'SELECT "timestamp", current, voltage, power, tracking_channel_board, tracking_channel_channel '
         f"FROM mpp_measurement WHERE {where} ORDER BY {MPP_ORDER[order]}")
    if limit is not None:
        q += f" LIMIT {int(limit)} OFFSET {int(offset)}"
    return sql(url, q, params)


def _as_tuples(data: list[dict]) -> list[tuple]:
    return [(ts(d["timestamp"]), d["current"], d["voltage"], d["power"], d["tracking_channel_board"],
             d["tracking_channel_channel"]) for d in data]


def test_health(api):
    h = api.get("/health").json()
    assert h["status"] == "ok" and h["database"] == "reachable"
    assert isinstance(h["timescaledb"], bool) and h["timestamp"]


def test_mpp_pages_match_sql(api, sample_db, backend):
    total = sql(sample_db, "SELECT count(*) FROM mpp_measurement")[0][0]
    assert total == sum(conftest.MANIFEST["mpp_good_samples_per_channel"].values())
    r = api.get("/measurements/mpp")
    assert r.status_code == 200
    body = r.json()
    assert (body["total"], body["total_exact"], body["page"], body["page_size"]) == (total, True, 1, 100)
    assert _as_tuples(body["data"]) == _mpp_rows(sample_db, limit=100)
    # deep pages in both directions, including the last partial page
    for order in ("desc", "asc"):
        for offset in (0, 999, 50_000, 77_777, total - 10):
            body = api.get("/measurements/mpp", params={"limit": 1000, "offset": offset, "order": order}).json()
            assert body["total"] == total
            assert _as_tuples(body["data"]) == _mpp_rows(sample_db, order=order, limit=1000, offset=offset), (order, offset)
    assert api.get("/measurements/mpp", params={"offset": total}).json()["data"] == []


def test_mpp_filters_match_sql(api, sample_db):
    per_channel = conftest.MANIFEST["mpp_good_samples_per_channel"]
    body = api.get("/measurements/mpp", params={"board": 1, "channel": 2, "limit": 1000, "offset": 5000}).json()
    assert body["total"] == per_channel["1/2"]
    where = "tracking_channel_board = 1 AND tracking_channel_channel = 2"
    assert _as_tuples(body["data"]) == _mpp_rows(sample_db, where, limit=1000, offset=5000)
    body = api.get("/measurements/mpp", params={"board": 2, "limit": 10}).json()
    assert body["total"] == sum(v for k, v in per_channel.items() if k.startswith("2/"))
    # a time range that cuts hours and minutes: total and both ends exact
    t0, t1 = "2024-05-03T10:17:35Z", "2024-05-04T13:02:05+00:00"
    where = '"timestamp" >= %s AND "timestamp" <= %s'
    expect = _mpp_rows(sample_db, where, (t0, t1), order="asc")
    first = api.get("/measurements/mpp", params={"start_time": t0, "end_time": t1, "order": "asc", "limit": 5}).json()
    assert first["total"] == len(expect)
    assert _as_tuples(first["data"]) == expect[:5]
    last = api.get("/measurements/mpp", params={"start_time": t0, "end_time": "2024-05-04T13:02:05",
                                                "limit": 7, "offset": len(expect) - 7, "order": "asc"}).json()
    assert _as_tuples(last["data"]) == expect[-7:]
    # one-sided ranges, at a deep offset
    for params, where, args in (({"start_time": t0}, '"timestamp" >= %s', (t0,)),
                                ({"end_time": t1}, '"timestamp" <= %s', (t1,))):
        expect = _mpp_rows(sample_db, where, args)
        body = api.get("/measurements/mpp", params={**params, "limit": 1000, "offset": 40_000}).json()
        assert body["total"] == len(expect) and body["total_exact"]
        assert _as_tuples(body["data"]) == expect[40_000:41_000]


def test_paging_exact_with_unrefreshed_rollups(api, sample_db):
    """Rows whose rollups are not refreshed yet are counted from the raw table."""
    from perocube_desktop.api import query

    query.COUNTS.clear()  # the server runs in this process: no counts cached from other tests
    with psycopg.connect(sample_db, autocommit=True) as conn:
        conn.execute("INSERT INTO rollup_dirty (kind, t0, t1) VALUES ('mpp', '2024-05-03 12:00:30+00', "
                     "'2024-05-03 14:10:00+00')")
        try:
            total = conn.execute("SELECT count(*) FROM mpp_measurement").fetchone()[0]
            body = api.get("/measurements/mpp", params={"limit": 1000, "offset": 60_000}).json()
            assert body["total"] == total and body["total_exact"]
            assert _as_tuples(body["data"]) == _mpp_rows(sample_db, limit=1000, offset=60_000)
        finally:
            conn.execute("DELETE FROM rollup_dirty WHERE t0 = '2024-05-03 12:00:30+00'")


def test_paging_correct_when_the_rollups_cannot_count(api, sample_db):
    """A large unrefreshed range: total is the capped count or the planner's estimate (not exact), and
    pages are still the right rows."""
    from perocube_desktop.api import query

    query.COUNTS.clear()
    with psycopg.connect(sample_db, autocommit=True) as conn:
        conn.execute("INSERT INTO rollup_dirty (kind, t0, t1) VALUES ('mpp', '2024-05-03 00:00+00', '2024-05-04 23:00+00')")
        try:
            body = api.get("/measurements/mpp", params={"limit": 1000, "offset": 70_000, "order": "asc"}).json()
            assert not body["total_exact"] and body["total"] > query.COUNT_CAP
            assert _as_tuples(body["data"]) == _mpp_rows(sample_db, order="asc", limit=1000, offset=70_000)
            small = api.get("/measurements/mpp", params={"board": 1, "channel": 1, "end_time": "2024-05-03T09:00:00Z"})
            assert small.json()["total_exact"] and small.json()["total"] == sql(
                sample_db, "SELECT count(*) FROM mpp_measurement WHERE tracking_channel_board = 1 "
                           "AND tracking_channel_channel = 1 AND \"timestamp\" <= '2024-05-03 09:00+00'")[0][0]
        finally:
            conn.execute("DELETE FROM rollup_dirty WHERE t0 = '2024-05-03 00:00+00'")
            query.COUNTS.clear()


def test_sensor_measurements_and_statistics(api, sample_db):
    temp_id, ident = sql(sample_db, "SELECT temperature_sensor_id::text, sensor_identifier FROM temperature_sensor "
                                    "ORDER BY sensor_identifier LIMIT 1")[0]
    rows = sql(sample_db, 'SELECT "timestamp", temperature FROM temperature_measurement '
                          'WHERE temperature_sensor_id = %s ORDER BY "timestamp" DESC', (temp_id,))
    body = api.get("/measurements/temperature", params={"sensor_id": temp_id, "limit": 3}).json()
    assert body["total"] == len(rows)
    assert [(ts(d["timestamp"]), d["temperature"]) for d in body["data"]] == rows[:3]
    assert {d["temperature_sensor_id"] for d in body["data"]} == {temp_id}
    irr_id = sql(sample_db, "SELECT irradiance_sensor_id::text FROM irradiance_sensor ORDER BY channel LIMIT 1")[0][0]
    rows = sql(sample_db, 'SELECT "timestamp", raw_reading, irradiance FROM irradiance_measurement '
                          'WHERE irradiance_sensor_id = %s ORDER BY "timestamp"', (irr_id,))
    body = api.get("/measurements/irradiance", params={"sensor_id": irr_id, "order": "asc", "limit": 1000,
                                                       "offset": len(rows) - 2}).json()
    assert body["total"] == len(rows)
    assert [(ts(d["timestamp"]), d["raw_reading"], d["irradiance"]) for d in body["data"]] == rows[-2:]

    n, avg, mx, mn = sql(sample_db, "SELECT count(*), avg(irradiance), max(irradiance), min(irradiance) "
                                    "FROM irradiance_measurement WHERE irradiance_sensor_id = %s", (irr_id,))[0]
    st = api.get("/statistics/irradiance", params={"sensor_id": irr_id}).json()
    assert (st["count"], st["max_irradiance"], st["min_irradiance"]) == (n, mx, mn)
    assert st["avg_irradiance"] == pytest.approx(avg, rel=1e-12)
    n, avg = sql(sample_db, "SELECT count(*), avg(temperature) FROM temperature_measurement")[0]
    st = api.get("/statistics/temperature").json()
    assert st["count"] == n and st["avg_temperature"] == pytest.approx(avg, rel=1e-12)
    assert api.get("/measurements/temperature", params={"sensor_id": "6f1c1f9e-0000-4000-8000-000000000000"}
                   ).status_code == 404
    r = api.get("/measurements/irradiance", params={"sensor_id": "not-a-uuid"})
    assert r.status_code == 422 and "sensor_id" in r.json()["message"]


def test_mpp_statistics(api, sample_db):
    t0, t1 = "2024-05-03T12:00:00Z", "2024-05-04T00:00:00Z"
    row = sql(sample_db, 'SELECT count(*), avg(current), avg(voltage), avg(power), max(power), min(power), '
                         'min("timestamp"), max("timestamp") FROM mpp_measurement WHERE tracking_channel_board = 1 '
                         'AND tracking_channel_channel = 3 AND "timestamp" >= %s AND "timestamp" <= %s', (t0, t1))[0]
    st = api.get("/statistics/mpp", params={"board": 1, "channel": 3, "start_time": t0, "end_time": t1}).json()
    assert st["count"] == row[0] > 0
    assert [st["avg_current"], st["avg_voltage"], st["avg_power"]] == pytest.approx(list(row[1:4]), rel=1e-12)
    assert (st["max_power"], st["min_power"]) == row[4:6]
    assert ts(st["start_time"]) == ts(t0) and ts(st["first_timestamp"]) == row[6] and ts(st["last_timestamp"]) == row[7]
    assert api.get("/statistics/mpp", params={"board": 9}).status_code == 404


def test_devices_and_experiments(api, sample_db):
    names = [r[0] for r in sql(sample_db, "SELECT name FROM solar_cell_device ORDER BY name")]
    devices = api.get("/devices").json()
    assert [d["name"] for d in devices] == names
    assert {"name", "nomad_id", "technology", "experiment_id", "owner_id", "area", "initial_pce"} <= set(devices[0])
    exp_id, exp_name = sql(sample_db, "SELECT experiment_id::text, name FROM experiment ORDER BY name LIMIT 1")[0]
    in_exp = [r[0] for r in sql(sample_db, "SELECT name FROM solar_cell_device WHERE experiment_id = %s ORDER BY name",
                                (exp_id,))]
    assert [d["name"] for d in api.get("/devices", params={"experiment_id": exp_id}).json()] == in_exp
    experiments = api.get("/experiments").json()
    assert [e["name"] for e in experiments] == [r[0] for r in sql(sample_db, "SELECT name FROM experiment ORDER BY name")]
    e = next(e for e in experiments if e["experiment_id"] == exp_id)
    sci = sql(sample_db, "SELECT s.scientist_id::text, s.name FROM scientist_performed_experiment p "
                         "JOIN scientist s USING (scientist_id) WHERE p.experiment_id = %s ORDER BY s.name", (exp_id,))
    assert [(s["scientist_id"], s["name"]) for s in e["scientists"]] == sci
    proj = sql(sample_db, "SELECT project_id::text FROM experiment_contributed_project WHERE experiment_id = %s",
               (exp_id,))
    if proj:
        assert exp_name in [x["name"] for x in api.get("/experiments", params={"project_id": proj[0][0]}).json()]
    assert api.get("/devices", params={"owner_id": "nope"}).status_code == 422


def test_pixels_and_a_moved_pixel(api, sample_db):
    pixels = api.get("/pixels").json()
    expect = sql(sample_db, "SELECT solar_cell_name, pixel_identifier FROM get_queryable_solar_cell_pixels() ORDER BY 1, 2")
    assert [(p["device"], p["pixel"]) for p in pixels] == expect
    moved = next(p for p in pixels if (p["device"], p["pixel"]) == ("OK_240415_02", "B"))
    quirk = conftest.MANIFEST["quirks"]["logbook_moved_pixel"]
    assert (moved["board"], moved["channel"], moved["connected"]) == (*quirk["to"], True)

    # the move: both events at 00:00 of the day (the logbook has dates): DISCONNECTED first
    (move_t,) = sql(sample_db, "SELECT connection_datetime FROM measurement_connection_event WHERE solar_cell_id = "
                               "'OK_240415_02' AND pixel = 'B' AND event_type = 'DISCONNECTED'")[0]
    (b0, c0), (b1, c1) = quirk["from"], quirk["to"]
    independent = sql(sample_db, 'SELECT "timestamp", tracking_channel_board, tracking_channel_channel FROM mpp_measurement '
                                 "WHERE (tracking_channel_board, tracking_channel_channel) = (%s, %s) AND \"timestamp\" < %s "
                                 "OR (tracking_channel_board, tracking_channel_channel) = (%s, %s) AND \"timestamp\" >= %s "
                                 'ORDER BY "timestamp"', (b0, c0, move_t, b1, c1, move_t))
    body = api.get("/pixels/OK_240415_02/B/mpp").json()
    got = [(ts(d["timestamp"]), d["tracking_channel_board"], d["tracking_channel_channel"]) for d in body["data"]]
    assert got == independent
    assert {(b, c) for _, b, c in got} == {(b0, c0), (b1, c1)}
    lab = sql(sample_db, "SELECT * FROM get_mpp_data_for_pixel('OK_240415_02', 'B', '-infinity', 'infinity')")
    assert len(body["data"]) == len(lab)
    assert [ts(d["connection_event_time"]) for d in body["data"][-1:]] == [lab[-1][6]]

    # one day around the move, and the minute rollup over the same periods
    # bucket edges: rollup buckets are counted whole, so the window is whole hours
    day = {"start_time": "2024-05-03T20:00:00Z", "end_time": "2024-05-04T19:59:59.999999Z"}
    raw = api.get("/pixels/OK_240415_02/B/mpp", params=day).json()["data"]
    assert len(raw) == sql(sample_db, "SELECT count(*) FROM get_mpp_data_for_pixel('OK_240415_02', 'B', %s, %s)",
                           (day["start_time"], day["end_time"]))[0][0]
    minute = api.get("/pixels/OK_240415_02/B/mpp", params={**day, "resolution": "1m"}).json()["data"]
    assert sum(d["n"] for d in minute) == len(raw) and {d["tracking_channel_board"] for d in minute} == {b0, b1}
    hour = api.get("/pixels/OK_240415_02/B/mpp", params={**day, "resolution": "1h"}).json()["data"]
    assert sum(d["n"] for d in hour) == len(raw)

    r = api.get("/pixels/OK_240415_02/B/mpp", params={**day, "format": "csv"})
    assert r.headers["content-type"].startswith("text/csv")
    lines = list(csv.reader(io.StringIO(r.text)))
    assert lines[0][:4] == ["timestamp", "current", "voltage", "power"] and len(lines) - 1 == len(raw)

    assert api.get("/pixels/NO_SUCH_CELL/A/mpp").status_code == 404
    assert "pixel" in api.get("/pixels/OK_240415_02/Z/mpp").json()["detail"]
    assert api.get("/pixels/OK_240415_02/B/mpp", params={"resolution": "5m"}).status_code == 422


def test_figures_are_the_reports(api, sample_db):
    from perocube_desktop.stats.report import Selection, build, to_json

    expect = to_json(build(sample_db, Selection(device="OK_240415_02", pixel="B"), ReportSettings()))
    got = api.get("/pixels/OK_240415_02/B/figures").json()
    assert set(got) == set(expect) and len(got["pixels"]) == 1
    expect.pop("created"), got.pop("created")
    assert json.loads(json.dumps(expect)) == got
    assert got["pixels"][0]["device"] == "OK_240415_02" and got["pixels"][0]["pixel"] == "B"
    assert api.get("/pixels/OK_240415_02/Q/figures").status_code == 404


def test_board_status(api, sample_db):
    at = "2024-05-04T12:00:00Z"
    expect = sql(sample_db, "SELECT board_number, channel_number, solar_cell_name, pixel_identifier, is_active "
                            "FROM get_board_connection_status(%s)", (at,))
    got = api.get("/boards/status", params={"at": at}).json()
    assert [(s["board_number"], s["channel_number"], s["solar_cell_name"], s["pixel_identifier"], s["is_active"])
            for s in got] == expect
    moved = [s for s in got if (s["solar_cell_name"], s["pixel_identifier"]) == ("OK_240415_02", "B")]
    assert [(s["board_number"], s["channel_number"], s["is_active"]) for s in moved if s["is_active"]] == [(2, 4, 1)]
    assert api.get("/boards/status").status_code == 200


def test_csv_streams_every_row(api, sample_db):
    n = conftest.MANIFEST["mpp_good_samples_per_channel"]["1/1"]
    with api.stream("GET", "/measurements/mpp", params={"board": 1, "channel": 1, "format": "csv", "limit": 5}) as r:
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
        text = b"".join(r.iter_bytes()).decode()
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0] == ["timestamp", "current", "voltage", "power", "tracking_channel_board", "tracking_channel_channel"]
    assert len(rows) - 1 == n  # no page limit
    first = _mpp_rows(sample_db, "tracking_channel_board = 1 AND tracking_channel_channel = 1", limit=1)[0]
    assert ts(rows[1][0].replace(" ", "T").replace("+00", "+00:00")) == first[0]
    r = api.get("/measurements/temperature", headers={"Accept": "text/csv"})
    assert r.headers["content-type"].startswith("text/csv")
    assert len(r.text.splitlines()) - 1 == sql(sample_db, "SELECT count(*) FROM temperature_measurement")[0][0]


def test_errors_name_the_parameter(api):
    for params, name in (({"limit": 0}, "limit"), ({"limit": 1001}, "limit"), ({"offset": -1}, "offset"),
                         ({"start_time": "yesterday"}, "start_time"), ({"order": "sideways"}, "order"),
                         ({"sort": "power"}, "sort"), ({"board": "x"}, "board"), ({"format": "xml"}, "format"),
                         ({"start_time": "2024-05-04", "end_time": "2024-05-03"}, "end_time")):
        r = api.get("/measurements/mpp", params=params)
        assert r.status_code == 422, params
        assert name in json.dumps(r.json()), (params, r.json())
        assert "Traceback" not in r.text
    assert api.get("/measurements/mpp", params={"board": 7, "channel": 7}).status_code == 404
    assert api.get("/no/such/route").status_code == 404


def test_openapi_and_docs(api):
    spec = api.get("/openapi.json").json()
    for path in ("/health", "/measurements/mpp", "/measurements/temperature", "/measurements/irradiance", "/devices",
                 "/experiments", "/statistics/mpp", "/statistics/temperature", "/statistics/irradiance", "/pixels",
                 "/pixels/{device}/{pixel}/mpp", "/pixels/{device}/{pixel}/figures", "/boards/status"):
        assert path in spec["paths"], path
    names = {p["name"] for p in spec["paths"]["/measurements/mpp"]["get"]["parameters"]}
    assert names >= {"board", "channel", "start_time", "end_time", "limit", "offset", "sort", "order", "format"}
    page = api.get("/docs").text
    assert "swagger" in page.lower() and "cdn" not in page.lower()  # the lab PC's browser may have no internet
    scripts = re.findall(r'(?:src|href)="(/docs-assets/[^"]+)"', page)
    assert any(s.endswith("swagger-ui-bundle.js") for s in scripts) and any(s.endswith(".css") for s in scripts)
    for asset in scripts:
        r = api.get(asset)
        assert r.status_code == 200 and len(r.content) > 100, asset


def test_sessions_are_read_only(sample_db):
    from perocube_desktop.api.pool import ReadOnlyPool

    pool = ReadOnlyPool(sample_db)
    try:
        with pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
            pool.run(lambda c: c.execute("DELETE FROM mpp_measurement"))
        assert pool.run(lambda c: c.execute("SHOW transaction_read_only").fetchone()[0]) == "on"
    finally:
        pool.close()


def test_token_required_off_loopback(sample_db, monkeypatch):
    monkeypatch.delenv("PEROCUBE_API_TOKEN", raising=False)
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "keyring.backends.null.Keyring")
    assert token_for("127.0.0.1") is None and token_for("::1") is None and token_for("localhost") is None
    with pytest.raises(ApiConfigError, match="token"):
        token_for("0.0.0.0")
    token = "s3cret-token-for-tests-only"
    monkeypatch.setenv("PEROCUBE_API_TOKEN", token)
    assert token_for("192.0.2.10") == token
    # a token-protected server (listening on loopback here: tests send no traffic elsewhere)
    server = ApiServer(sample_db, Settings(), "127.0.0.1", free_port())
    server.ctx.token = token
    server.start()
    try:
        assert httpx.get(server.url + "/devices").status_code == 401
        assert httpx.get(server.url + "/devices", headers={"Authorization": "Bearer wrong"}).status_code == 401
        assert httpx.get(server.url + "/devices", headers={"Authorization": f"Bearer {token}"}).status_code == 200
        assert httpx.get(server.url + "/health").status_code == 200
    finally:
        server.stop()


def _serve(args: list[str], env_extra: dict | None = None) -> subprocess.Popen:
    env = {**os.environ, **(env_extra or {})}
    return subprocess.Popen([sys.executable, "-m", "perocube_desktop", "serve", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env)


def test_serve_command_refuses_without_token(tmp_path):
    proc = _serve(["--host", "0.0.0.0", "--port", str(free_port()), "--db", "postgresql://127.0.0.1:1/x"],
                  {"PEROCUBE_API_TOKEN": "", "PYTHON_KEYRING_BACKEND": "keyring.backends.null.Keyring"})
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 2
    assert "token" in err and "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_serve_command_503_when_database_down(pg_server):
    """`serve` against a server that is not there: it starts, and data routes answer 503 with the reason."""
    port = free_port()
    dead = f"postgresql://postgres@127.0.0.1:{free_port()}/postgres"
    proc = _serve(["--port", str(port), "--db", dead])
    try:
        url = f"http://127.0.0.1:{port}"

        def up():
            try:
                return httpx.get(url + "/health", timeout=5)
            except httpx.TransportError:
                assert proc.poll() is None, proc.communicate()
                return None

        health = wait_until(up, timeout=60)
        assert health.status_code == 200 and health.json()["database"] == "unreachable"
        for path in ("/measurements/mpp", "/devices", "/pixels", "/statistics/mpp", "/pixels/X/1/figures",
                     "/boards/status"):
            r = httpx.get(url + path, timeout=30)
            assert r.status_code == 503, path
            assert "database unavailable" in r.json()["detail"] and "Traceback" not in r.text
        r = httpx.get(url + "/measurements/mpp", params={"format": "csv"}, timeout=30)
        assert r.status_code == 503
    finally:
        proc.terminate()
        proc.communicate(timeout=30)
    assert proc.returncode == 143  # stopped in order by SIGTERM (#20: 128 + the signal)


def test_schemathesis_finds_no_server_errors(api, sample_db):
    """Property-based run over /openapi.json: no 5xx, responses match the documented schema."""
    import schemathesis
    from hypothesis import HealthCheck, given, settings
    from schemathesis.checks import not_a_server_error, response_schema_conformance

    schema = schemathesis.openapi.from_url(str(api.base_url) + "/openapi.json")
    failures, calls = [], []
    for op in schema.get_all_operations():
        operation = op.ok()

        @settings(max_examples=12, deadline=None, suppress_health_check=list(HealthCheck), database=None)
        @given(case=operation.as_strategy())
        def check(case):
            response = case.call(base_url=str(api.base_url), timeout=60)
            calls.append(response.status_code)
            try:
                case.validate_response(response, checks=(not_a_server_error, response_schema_conformance))
            except Exception as exc:  # schemathesis raises its own failure groups
                failures.append(f"{case.method} {case.formatted_path} {case.query}: {exc}")

        check()
    assert not failures, "\n".join(failures[:10])
    assert len(calls) > 13 * 5 and 200 in calls


def test_desktop_app_switch_starts_and_stops_the_api(sample_db, monkeypatch):
    """The composition's switch (settings api.enabled/host/port) runs the same server beside the receiver."""
    import argparse

    from perocube_desktop.app import App
    from perocube_desktop.config import ApiSettings
    from perocube_desktop.db.connection import DatabaseTarget

    monkeypatch.delenv("PEROCUBE_API_TOKEN", raising=False)
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "keyring.backends.null.Keyring")
    app = App(argparse.Namespace(), Settings())
    app.target = DatabaseTarget(sample_db)
    port = free_port()
    assert app.set_api(ApiSettings(enabled=True, port=port)) is None
    try:
        assert httpx.get(f"http://127.0.0.1:{port}/pixels").status_code == 200
        assert app.set_api(ApiSettings(enabled=False, port=port)) is None and app.api is None
        with pytest.raises(httpx.ConnectError):
            httpx.get(f"http://127.0.0.1:{port}/health")
        problem = app.set_api(ApiSettings(enabled=True, host="0.0.0.0", port=port))
        assert problem and "token" in problem and app.api is None
    finally:
        app.set_api(ApiSettings(enabled=False))


@pytest.mark.gui
def test_settings_dialog_api_switch(qtbot, tmp_path):
    from perocube_desktop import config
    from perocube_desktop.ui.settings_dialog import SettingsDialog

    settings = Settings()
    settings.source = str(tmp_path / "config.yaml")
    calls = []
    dialog = SettingsDialog(settings, None, api_control=lambda api: calls.append(api) or None)
    qtbot.addWidget(dialog)
    assert not dialog.api_enabled.isChecked() and dialog.api_port.value() == 8000
    dialog.api_enabled.setChecked(True)
    dialog.api_port.setValue(8123)
    dialog.save()
    assert [(a.enabled, a.host, a.port) for a in calls] == [(True, "127.0.0.1", 8123)]
    saved = config.load(tmp_path / "config.yaml")
    assert (saved.api.enabled, saved.api.port) == (True, 8123) and settings.api.enabled


def test_documented_read_only_role_serves_every_route(pg_server, sample_db):
    """The DBA's SQL from docs/api.md, run as written (names substituted): the API works under that role."""
    import re
    import uuid
    from pathlib import Path

    from psycopg.conninfo import conninfo_to_dict, make_conninfo

    doc = (Path(__file__).resolve().parents[1] / "docs" / "api.md").read_text(encoding="utf-8")
    block = re.search(r"```sql\n(.*?)```", doc, re.S).group(1)
    role = "api_ro_" + uuid.uuid4().hex[:8]
    dbname = conninfo_to_dict(sample_db)["dbname"]
    script = re.sub(r"\bperocube_api\b", role, block)
    script = re.sub(r"DATABASE perocube\b", f'DATABASE "{dbname}"', script)
    with psycopg.connect(sample_db, autocommit=True) as conn:
        code = "\n".join(line.split("--")[0] for line in script.splitlines())
        for statement in (s.strip() for s in code.split(";")):
            if statement:
                conn.execute(statement)
    try:
        server = ApiServer(make_conninfo(sample_db, user=role), Settings(), "127.0.0.1", free_port())
        server.start()
        try:
            for path in ("/measurements/mpp?limit=5", "/measurements/temperature", "/devices", "/experiments",
                         "/statistics/mpp", "/pixels", "/pixels/OK_240415_02/B/mpp?resolution=1m",
                         "/pixels/OK_240415_02/B/figures", "/boards/status"):
                r = httpx.get(server.url + path, timeout=60)
                assert r.status_code == 200, (path, r.text)
            assert httpx.get(server.url + "/measurements/mpp?limit=5").json()["total_exact"]
        finally:
            server.stop()
        with psycopg.connect(make_conninfo(sample_db, user=role), autocommit=True) as conn:
            with pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
                conn.execute("DELETE FROM mpp_measurement")
            conn.execute("SET default_transaction_read_only = off")  # the role still may not write
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute("DELETE FROM mpp_measurement")
    finally:
        with psycopg.connect(sample_db, autocommit=True) as conn:
            conn.execute(f"DROP OWNED BY {role}")
            conn.execute(f"DROP ROLE {role}")


def test_csv_client_going_away_frees_the_connection(sample_db):
    """A client that stops reading a CSV stream: the COPY is cancelled and the connection reused."""
    server = ApiServer(sample_db, Settings(), "127.0.0.1", free_port())
    server.start()
    try:
        with httpx.Client(base_url=server.url, timeout=60) as client:
            for _ in range(3):
                with client.stream("GET", "/measurements/mpp", params={"format": "csv", "order": "asc"}) as r:
                    assert r.status_code == 200
                    assert next(r.iter_bytes()).startswith(b"timestamp,current")
            pool = server.ctx.pool
            wait_until(lambda: pool._slots._value == pool.max_size, timeout=30)
            assert client.get("/measurements/mpp", params={"limit": 3}).status_code == 200
        with psycopg.connect(sample_db) as conn:
            # not this query's own session (behind PgBouncer it may be a server session the API used)
            busy = conn.execute("SELECT count(*) FROM pg_stat_activity WHERE application_name = 'perocube-api' "
                                "AND state <> 'idle' AND datname = current_database() AND pid <> pg_backend_pid()").fetchone()[0]
        assert busy == 0
    finally:
        server.stop()
