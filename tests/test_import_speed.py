"""The fast import (#23) stays exact, on both backends: the importer marks its own chunk ranges and
the rollup trigger skips only those rows (every other writer is still marked), a file whose lines
are out of order still gets exact rollups, several loaders load exactly once, and an import killed
halfway (a real process, SIGKILL) resumes to the same rows and rollups."""

from __future__ import annotations

import logging
import random
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

from helpers import assert_rollups_match, pg_connect, wait_until

from perocube_desktop.db import rollups
from perocube_desktop.importer.engine import run_import
from perocube_desktop.importer.parallel import series_groups
from perocube_desktop.importer.loader import Loader, row_suffix
from perocube_desktop.importer.results import ImportOptions
from perocube_desktop.importer.scan import scan

T0 = datetime(2024, 3, 1, tzinfo=timezone.utc)


def _lines(n: int, seed: int, step_s: int = 10, start: datetime = T0) -> list[str]:
    rng = random.Random(seed)
    return [f"{(start + timedelta(seconds=step_s * i)).strftime('%Y-%m-%dT%H:%M:%S')}\t{rng.uniform(1, 5):.6f}"
            f"\t{rng.uniform(1, 5):.6f}\t{rng.uniform(0.5, 1):.6f}\n" for i in range(n)]


def _folder(root: Path, channels: int, rows: int) -> Path:
    """A small lab folder: ``channels`` MPP files (board 7) of ``rows`` lines each, 10 s apart."""
    folder = root / "lab" / "data_gen"
    folder.mkdir(parents=True)
    for c in range(1, channels + 1):
        (folder / f"output_board7_channel{c}.txt").write_text("".join(_lines(rows, seed=c)), newline="\n")  # LF on Windows too
    return root / "lab"


def _state(url: str) -> tuple:
    """Rows per channel with their sums, and the minute rollup's totals: what 'the same' means."""
    with pg_connect(url) as conn:
        rows = conn.execute("SELECT tracking_channel_board, tracking_channel_channel, count(*),"
                            " count(DISTINCT \"timestamp\"), round(sum(power)::numeric, 6), min(\"timestamp\"),"
                            " max(\"timestamp\") FROM mpp_measurement GROUP BY 1, 2 ORDER BY 1, 2").fetchall()
        roll = conn.execute("SELECT sum(n), count(*), round(sum(power_mean * n)::numeric, 4) FROM mpp_rollup_1m"
                            ).fetchone()
    return rows, roll


def test_importer_marks_its_own_chunk_and_every_other_writer_is_still_marked(db_url, tmp_path, backend):
    lab = _folder(tmp_path, 1, 600)
    f = scan(lab).files[0]
    ts = backend == "timescaledb"
    with pg_connect(db_url, autocommit=True) as conn:
        loader = Loader(conn, "UTC")
        with conn.transaction():
            loader.register(f)
        data = f.path.read_bytes()
        with conn.transaction():
            loader.fast_session(f)
            assert loader.load(f, data, row_suffix(f, None)) == 600
        # one mark, the importer's own: exactly the chunk's channel and first..last (the trigger added none)
        assert conn.execute("SELECT kind, t0, t1, board, channel FROM rollup_dirty").fetchall() == [
            ("mpp", T0, T0 + timedelta(seconds=5990), 7, 1)]
        rollups.refresh(conn)  # materialised: what follows changes rolled-up buckets
        assert conn.execute("SELECT count(*) FROM rollup_dirty").fetchone()[0] == 0
        # the setting was transaction-local: the same session's next insert is marked, and another client's
        # COPY (plain PostgreSQL: by the trigger; TimescaleDB: in its own invalidation log, migration 0013)
        conn.execute("INSERT INTO mpp_measurement (\"timestamp\", power, current, voltage, tracking_channel_board,"
                     " tracking_channel_channel) VALUES (%s, 1, 1, 1, 7, 1)", (T0 + timedelta(seconds=5),))
        with pg_connect(db_url, autocommit=True) as other:
            with other.cursor().copy("COPY mpp_measurement (\"timestamp\", power, current, voltage,"
                                     " tracking_channel_board, tracking_channel_channel) FROM STDIN") as cp:
                cp.write(f"{(T0 + timedelta(seconds=3605)).isoformat()}\t2\t2\t2\t7\t1\n")
        written = [T0 + timedelta(seconds=5), T0 + timedelta(seconds=3605)]
        marks = conn.execute("SELECT t0 FROM rollup_dirty ORDER BY id").fetchall()
        assert marks == ([] if ts else [(t,) for t in written])
        for rollup in ("mpp_rollup_1m", "mpp_rollup_1h"):  # what the reads and the refresh see as stale
            for t in written:
                assert conn.execute("SELECT count(*) FROM perocube_rollup_marks('mpp', %s) WHERE %s BETWEEN t0 AND t1",
                                    (rollup, t)).fetchone()[0] > 0, (rollup, t)
        # the switch itself: an insert under it leaves no mark (its writer marks), updates always do
        with conn.transaction():
            conn.execute("SELECT set_config('perocube.importer_marks', 'on', true)")
            conn.execute("INSERT INTO mpp_measurement (\"timestamp\", power, current, voltage, tracking_channel_board,"
                         " tracking_channel_channel) VALUES (%s, 1, 1, 1, 7, 1)", (T0 + timedelta(days=3),))
            conn.execute("UPDATE mpp_measurement SET power = 3 WHERE \"timestamp\" = %s", (written[0],))
        assert conn.execute("SELECT count(*) FROM rollup_dirty").fetchone()[0] == (0 if ts else 2) + 2  # update: old, new
        if ts:  # no INSERT trigger with a transition table: TimescaleDB's COPY keeps its multi-insert buffers
            assert conn.execute("SELECT count(*) FROM pg_trigger WHERE tgrelid = 'mpp_measurement'::regclass"
                                " AND tgname = 'perocube_rollups_insert'").fetchone()[0] == 0


def test_out_of_order_and_overlapping_files_get_exact_rollups(db_url, tmp_path):
    """Lines out of order (the COPY's first..last range does not hold them all: the chunk is
    de-duplicated through staging and marked by the trigger) and a second file of the same channel
    overlapping the first: rows and rollups exact on both backends."""
    folder = tmp_path / "lab" / "data_x"
    folder.mkdir(parents=True)
    lines = _lines(2000, seed=3)
    shuffled = lines[1:-1]
    random.Random(1).shuffle(shuffled)
    first = [lines[0], *shuffled[:1500], lines[-1]]
    second = lines[900:] + _lines(50, 9, start=T0 - timedelta(days=3))  # overlaps the first, and earlier rows
    (folder / "output_board7_channel1.txt").write_text("".join(first))
    (folder / "output_board7_channel1_part2.txt").write_text("".join(second))
    summary = run_import(db_url, tmp_path / "lab", ImportOptions(chunk_bytes=16 * 1024, loaders=2))
    assert summary.inserted["mpp"] == len({*first, *second})
    with pg_connect(db_url, autocommit=True) as conn:
        assert conn.execute("SELECT count(*) FROM mpp_measurement").fetchone()[0] == summary.inserted["mpp"]
        assert conn.execute("SELECT count(*) FROM rollup_dirty").fetchone()[0] == 0
        assert_rollups_match(conn)


def test_several_loaders_import_exactly_once(db_url, tmp_path, backend, caplog):
    lab = _folder(tmp_path, 6, 3000)
    groups = series_groups(scan(lab).files)
    assert len(groups) == 6 and all(len(g) == 1 for g in groups)
    with caplog.at_level(logging.INFO, logger="perocube_desktop.importer.parallel"):
        first = run_import(db_url, lab, ImportOptions(chunk_bytes=8 * 1024, loaders=3))
    assert first.inserted["mpp"] == 18000 and first.files["imported"] == 6
    # TimescaleDB: the continuous aggregates were refreshed below the loaders while they loaded
    beside = [r for r in caplog.records if "beside the import" in r.getMessage()]
    assert bool(beside) == (backend == "timescaledb")
    again = run_import(db_url, lab, ImportOptions(loaders=3))
    assert again.inserted["mpp"] == 0 and again.files["unchanged"] == 6
    with pg_connect(db_url, autocommit=True) as conn:
        assert_rollups_match(conn)


_CHILD = """
import sys
from pathlib import Path
from perocube_desktop.importer.engine import run_import
from perocube_desktop.importer.results import ImportOptions
run_import(sys.argv[1], Path(sys.argv[2]), ImportOptions(chunk_bytes=16 * 1024, loaders=2))
"""


def test_import_killed_halfway_resumes_to_the_same_rows_and_rollups(db_url, tmp_path, pg_server):
    """A real import process killed with SIGKILL halfway; the next import ends with exactly the rows
    and rollups of an import that was never interrupted (loaded into a second database)."""
    lab = _folder(tmp_path, 4, 12000)
    total = 4 * 12000
    proc = subprocess.Popen([sys.executable, "-c", _CHILD, db_url, str(lab)])
    try:
        with pg_connect(db_url, autocommit=True) as conn:
            def loaded() -> int:
                n = conn.execute("SELECT coalesce(sum(rows_inserted), 0) FROM imported_file").fetchone()[0]
                return n if n >= total // 5 else 0
            part = wait_until(loaded, timeout=120, interval=0.01)
    finally:
        proc.kill()  # SIGKILL on POSIX: no clean-up of any kind
        proc.wait()
    assert 0 < part < total, "killed halfway"
    with pg_connect(db_url, autocommit=True) as conn:
        # the killed session's transactions are gone once the server noticed (rolled back); behind
        # PgBouncer its server connections stay in the pool, idle, under the name they had
        wait_until(lambda: not conn.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                                            " AND pid <> pg_backend_pid() AND application_name LIKE 'perocube-%'"
                                            " AND state <> 'idle'").fetchone()[0], timeout=30)
    rest = run_import(db_url, lab, ImportOptions(chunk_bytes=16 * 1024, loaders=2))
    assert not rest.cancelled and rest.files["imported"] == 4
    with pg_connect(db_url, autocommit=True) as conn:
        assert conn.execute("SELECT count(*) FROM mpp_measurement").fetchone()[0] == total
        assert conn.execute("SELECT count(*) FROM rollup_dirty").fetchone()[0] == 0
        assert_rollups_match(conn)
    # an import that was never interrupted, into a database of its own: the same rows and rollups
    from conftest import TEMPLATE, _create, _drop

    clean = _create(pg_server, TEMPLATE)
    try:
        run_import(pg_server.url(clean), lab)
        assert _state(db_url) == _state(pg_server.url(clean))
    finally:
        _drop(pg_server, clean)
