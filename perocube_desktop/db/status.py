"""What ``perocube-desktop db status`` prints: schema, TimescaleDB state (or why it is not used),
hypertables with chunk counts and compression ratio, every background job with its last run,
status and failures, and the rollup ranges still waiting for a refresh."""

from __future__ import annotations

from datetime import datetime

import psycopg

from . import catalog, migrate, queries, replica
from . import session as db_session


def _q(name: str) -> str:
    return queries.get("status", name)


def _when(t: datetime | None) -> str:
    return t.strftime("%Y-%m-%d %H:%M:%S%z") if t else "never"


def _size(n: int | None) -> str:
    if not n:
        return "0 B"
    value = float(n)
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if value < 1024 or unit == "TB":
            return f"{value:,.0f} {unit}" if unit == "B" else f"{value:,.1f} {unit}"
        value /= 1024
    return f"{value:,.1f} TB"


def report_lines(conninfo: str, description: str) -> list[str]:
    schema = migrate.status(conninfo)
    lines = [f"database:    {description}", f"server:      PostgreSQL {schema.server_version}",
             f"schema:      version {schema.version} (this app knows up to {schema.known_version})"
             + ("  -> run 'perocube-desktop db migrate'" if schema.version < schema.known_version else "")]
    if schema.timescaledb_active:
        lines.append(f"timescaledb: active, version {schema.timescaledb_version}")
    elif schema.timescaledb_problem:
        lines.append(f"timescaledb: not used: plain PostgreSQL. {schema.timescaledb_problem}")
    else:
        lines.append("timescaledb: not available: plain PostgreSQL")
    with db_session.connect(conninfo, autocommit=True) as conn:
        if schema.timescaledb_active:
            lines += _timescaledb_lines(conn)
        if catalog.has_table(conn, "rollup_dirty"):
            logged = catalog.has_function(conn, "perocube_timescaledb_stale")  # (migration 0013)
            row = conn.execute(_q("pending_rollups_and_logged" if logged else "pending_rollups")).fetchone()
            n, t0, t1 = row if row else (0, None, None)
            lines.append("rollups:     " + ("up to date" if not n else
                         f"{n} changed ranges waiting for a refresh ({_when(t0)} .. {_when(t1)}); reads use raw rows there"))
    lines.append("migrations:")
    lines += [f"  {v:04d} {n:<36} {at}" for v, n, at in schema.applied]
    return lines


def replica_lines(conninfo: str) -> list[str]:
    """The read replica (``database.read_url``): where, standby or not, its replay lag."""
    try:
        with db_session.connect(conninfo, autocommit=True) as conn:
            return [f"read replica: {replica.state(conn).text()}"]
    except psycopg.OperationalError as exc:
        return [f"read replica: unreachable ({str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__})"]


def _timescaledb_lines(conn: psycopg.Connection) -> list[str]:
    out = ["hypertables:"]
    for h in queries.named_rows(conn, _q("hypertables")):
        before, after = h.before_compression_total_bytes, h.after_compression_total_bytes
        ratio = f", compression ratio {before / after:.1f}x ({_size(before)} -> {_size(after)})" if before and after else ""
        out.append(f"  {h.hypertable_name:<26} {h.num_chunks} chunks, {h.compressed_chunks} compressed, "
                   f"{_size(h.total_bytes)}{ratio}")
    out.append("background jobs:")
    jobs = queries.named_rows(conn, _q("jobs"))
    if not jobs:
        out.append("  none")
    for j in jobs:
        proc = j.proc_name
        what = "refresh" if "refresh" in proc else "compression" if "compression" in proc or "columnstore" in proc else proc
        line = (f"  {j.job_id:>5} {what:<11} {j.target:<24} last run {_when(j.last_run_started_at)} "
                f"{j.last_run_status or '-'}{f' ({j.last_run_duration})' if j.last_run_duration else ''}, "
                f"next {_when(j.next_start) if j.scheduled else 'paused'}, "
                f"{j.total_runs or 0} runs, {j.total_failures or 0} failed")
        if j.total_failures and j.last_error:
            line += f"; last error: {j.last_error.splitlines()[0]}"
        out.append(line)
    return out
