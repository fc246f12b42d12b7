-- What `perocube-desktop db status` shows beyond the migrations (db/status.py).

-- name: pending_rollups
SELECT count(*), min(t0), max(t1) FROM rollup_dirty

-- Since migration 0013: with TimescaleDB, what it logged itself is pending too (open ends clamped:
-- Python datetimes have no infinity)
-- name: pending_rollups_and_logged
SELECT count(*), greatest(min(t0), '0001-01-02 00:00+00'), least(max(t1), '9999-12-30 00:00+00') FROM (
    SELECT t0, t1 FROM rollup_dirty
    UNION ALL
    SELECT s.t0, s.t1 FROM unnest(ARRAY['mpp_rollup_1m', 'mpp_rollup_1h', 'temperature_rollup_1m',
                                        'temperature_rollup_1h', 'irradiance_rollup_1m', 'irradiance_rollup_1h']) AS r(v),
                           perocube_timescaledb_stale(r.v) s
) pending

-- Hypertables of the app's schema: chunks, compressed chunks, sizes before/after compression
-- name: hypertables
SELECT h.hypertable_name, h.num_chunks,
       (SELECT count(*) FROM timescaledb_information.chunks c
        WHERE c.hypertable_schema = h.hypertable_schema AND c.hypertable_name = h.hypertable_name
          AND c.is_compressed) AS compressed_chunks,
       s.before_compression_total_bytes, s.after_compression_total_bytes,
       hypertable_size(format('%I.%I', h.hypertable_schema, h.hypertable_name)::regclass) AS total_bytes
FROM timescaledb_information.hypertables h
LEFT JOIN LATERAL hypertable_compression_stats(format('%I.%I', h.hypertable_schema,
                                                      h.hypertable_name)::regclass) s ON true
WHERE h.hypertable_schema = current_schema() ORDER BY 1

-- Background jobs on the app's hypertables and aggregates, with their last run and last error
-- name: jobs
SELECT j.job_id, j.proc_name, coalesce(ca.view_name, j.hypertable_name, '') AS target, j.scheduled,
       CASE WHEN s.last_run_started_at > '1900-01-01' THEN s.last_run_started_at END AS last_run_started_at,
       s.last_run_status, s.last_run_duration,
       CASE WHEN s.next_start > '1900-01-01' AND s.next_start < '9999-01-01' THEN s.next_start END AS next_start,
       s.total_runs, s.total_failures,
       (SELECT e.err_message FROM timescaledb_information.job_errors e WHERE e.job_id = j.job_id
        ORDER BY e.start_time DESC LIMIT 1) AS last_error
FROM timescaledb_information.jobs j
LEFT JOIN timescaledb_information.job_stats s ON s.job_id = j.job_id
LEFT JOIN timescaledb_information.continuous_aggregates ca
       ON ca.materialization_hypertable_name = j.hypertable_name
WHERE j.hypertable_name IS NOT NULL ORDER BY 3, 2
