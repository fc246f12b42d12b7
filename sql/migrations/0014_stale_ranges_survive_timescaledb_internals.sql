-- Reads that survive TimescaleDB's internals (#23, after migration 0013).
--
-- perocube_timescaledb_stale reads TimescaleDB's internal catalog (its invalidation logs and
-- _timescaledb_functions.cagg_watermark). Since migration 0013 every rollup read goes through it, so
-- a TimescaleDB version whose internals differ, or a role that may not read them, must not break
-- the plots and reports: the whole range then counts as stale (the reads compute from raw rows,
-- right but slower) and a WARNING names the cause.

CREATE OR REPLACE FUNCTION perocube_timescaledb_stale(p_rollup text)
RETURNS TABLE (t0 timestamptz, t1 timestamptz)
LANGUAGE plpgsql STABLE AS $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'timescaledb')
       OR NOT EXISTS (SELECT 1 FROM perocube_settings WHERE key = 'timescaledb' AND value = 'true') THEN
        RETURN;
    END IF;
    -- internal time: Unix microseconds; open ends (the logs use the int64 limits) as infinities
    RETURN QUERY EXECUTE $q$
        WITH ca AS (
            SELECT c.mat_hypertable_id, c.raw_hypertable_id,
                   _timescaledb_functions.cagg_watermark(c.mat_hypertable_id) AS wm
            FROM _timescaledb_catalog.continuous_agg c
            WHERE c.user_view_name = $1 AND c.user_view_schema = current_schema()
        ), inv AS (
            SELECT l.lowest_modified_value AS lo, l.greatest_modified_value AS hi
            FROM _timescaledb_catalog.continuous_aggs_hypertable_invalidation_log l
            JOIN ca ON l.hypertable_id = ca.raw_hypertable_id
            UNION ALL
            SELECT l.lowest_modified_value, l.greatest_modified_value
            FROM _timescaledb_catalog.continuous_aggs_materialization_invalidation_log l
            JOIN ca ON l.materialization_id = ca.mat_hypertable_id
        )
        SELECT CASE WHEN inv.lo < -1e16 THEN '-infinity'::timestamptz
                    ELSE 'epoch'::timestamptz + inv.lo * interval '1 microsecond' END,
               CASE WHEN least(inv.hi, ca.wm) > 1e16 THEN 'infinity'::timestamptz
                    ELSE 'epoch'::timestamptz + least(inv.hi, ca.wm) * interval '1 microsecond' END
        FROM inv, ca
        WHERE inv.lo < ca.wm AND least(inv.hi, ca.wm) > -1e16$q$ USING p_rollup;
EXCEPTION WHEN undefined_table OR undefined_function OR undefined_column OR invalid_schema_name
               OR insufficient_privilege THEN
    -- a TimescaleDB whose internals differ, or a role that may not read them: nothing can be
    -- trusted as materialised, so everything counts as stale (reads use raw rows: right, slower)
    RAISE WARNING 'perocube_timescaledb_stale(%): TimescaleDB''s invalidation logs cannot be read (%); '
                  'reading raw rows instead of the rollups', p_rollup, SQLERRM;
    RETURN QUERY SELECT '-infinity'::timestamptz, 'infinity'::timestamptz;
END $$;
