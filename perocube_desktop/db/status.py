"""What ``perocube-desktop db status`` prints: schema, TimescaleDB state (or why it is not used),
hypertables with chunk counts and compression ratio, every background job with its last run,
status and failures, and the rollup ranges still waiting for a refresh."""

from __future__ import annotations

from datetime import datetime

import psycopg

from . import migrate


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
    st = migrate.status(conninfo)
    lines = [f"database:    {description}", f"server:      PostgreSQL {st.server_version}",
             f"schema:      version {st.version} (this app knows up to {st.known_version})"
             + ("  -> run 'perocube-desktop db migrate'" if st.version < st.known_version else "")]
    if st.timescaledb_active:
        lines.append(f"timescaledb: active, version {st.timescaledb_version}")
    elif st.timescaledb_problem:
        lines.append(f"timescaledb: not used: plain PostgreSQL. {st.timescaledb_problem}")
    else:
        lines.append("timescaledb: not available: plain PostgreSQL")
    with psycopg.connect(conninfo, autocommit=True) as conn:
        if st.timescaledb_active:
            lines += _timescaledb_lines(conn)
        if conn.execute("SELECT to_regclass('rollup_dirty') IS NOT NULL").fetchone()[0]:
            row = conn.execute("SELECT count(*), min(t0), max(t1) FROM rollup_dirty").fetchone()
            n, t0, t1 = row if row else (0, None, None)
            lines.append("rollups:     " + ("up to date" if not n else
                         f"{n} changed ranges waiting for a refresh ({_when(t0)} .. {_when(t1)}); reads use raw rows there"))
    lines.append("migrations:")
    lines += [f"  {v:04d} {n:<36} {at}" for v, n, at in st.applied]
    return lines


def _timescaledb_lines(conn: psycopg.Connection) -> list[str]:
    out = ["hypertables:"]
    for name, chunks, compressed, before, after, total in conn.execute(
            """SELECT h.hypertable_name, h.num_chunks,
                      (SELECT count(*) FROM timescaledb_information.chunks c
                       WHERE c.hypertable_schema = h.hypertable_schema AND c.hypertable_name = h.hypertable_name
                         AND c.is_compressed),
                      s.before_compression_total_bytes, s.after_compression_total_bytes,
                      hypertable_size(format('%I.%I', h.hypertable_schema, h.hypertable_name)::regclass)
               FROM timescaledb_information.hypertables h
               LEFT JOIN LATERAL hypertable_compression_stats(format('%I.%I', h.hypertable_schema,
                                                                     h.hypertable_name)::regclass) s ON true
               WHERE h.hypertable_schema = current_schema() ORDER BY 1"""):
        ratio = f", compression ratio {before / after:.1f}x ({_size(before)} -> {_size(after)})" if before and after else ""
        out.append(f"  {name:<26} {chunks} chunks, {compressed} compressed, {_size(total)}{ratio}")
    out.append("background jobs:")
    rows = conn.execute(
        """SELECT j.job_id, j.proc_name, coalesce(ca.view_name, j.hypertable_name, ''), j.scheduled,
                  CASE WHEN s.last_run_started_at > '1900-01-01' THEN s.last_run_started_at END,
                  s.last_run_status, s.last_run_duration,
                  CASE WHEN s.next_start > '1900-01-01' AND s.next_start < '9999-01-01' THEN s.next_start END,
                  s.total_runs, s.total_failures,
                  (SELECT e.err_message FROM timescaledb_information.job_errors e WHERE e.job_id = j.job_id
                   ORDER BY e.start_time DESC LIMIT 1)
           FROM timescaledb_information.jobs j
           LEFT JOIN timescaledb_information.job_stats s ON s.job_id = j.job_id
           LEFT JOIN timescaledb_information.continuous_aggregates ca
                  ON ca.materialization_hypertable_name = j.hypertable_name
           WHERE j.hypertable_name IS NOT NULL ORDER BY 3, 2""").fetchall()
    if not rows:
        out.append("  none")
    for job_id, proc, target, scheduled, last, status, duration, nxt, runs, failures, err in rows:
        what = "refresh" if "refresh" in proc else "compression" if "compression" in proc or "columnstore" in proc else proc
        line = (f"  {job_id:>5} {what:<11} {target:<24} last run {_when(last)} {status or '-'}"
                f"{f' ({duration})' if duration else ''}, next {_when(nxt) if scheduled else 'paused'}, "
                f"{runs or 0} runs, {failures or 0} failed")
        if failures and err:
            line += f"; last error: {err.splitlines()[0]}"
        out.append(line)
    return out
