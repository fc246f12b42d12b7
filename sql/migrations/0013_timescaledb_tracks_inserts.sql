-- TimescaleDB tracks inserted rows itself (#23).
--
-- With TimescaleDB, the INSERT trigger with a transition table (migration 0007) did more harm than
-- its own cost: TimescaleDB's COPY falls back to one row at a time (no multi-insert buffers) on a
-- hypertable that has an AFTER INSERT trigger with a transition table, and on that path it logs no
-- continuous-aggregate invalidation at all (TimescaleDB 2.28, src/copy.c). So every COPY, the
-- importer's and the live writer's, paid for the trigger and then had to force its refreshes.
-- Without the trigger a COPY uses multi-insert buffers and TimescaleDB logs the rows it writes
-- below the invalidation threshold, as it does for INSERT, UPDATE and DELETE, from any client.
--
-- 1. perocube_timescaledb_stale(rollup): the ranges of one continuous aggregate that are not
--    materialised consistently below its watermark (TimescaleDB's own invalidation logs: the
--    hypertable's and the aggregate's); above the watermark the aggregate is computed from raw
--    rows anyway. Empty on plain PostgreSQL.
-- 2. perocube_rollup_marks(kind, rollup): what the reads treat as stale: the rollup_dirty marks of
--    that kind (plain PostgreSQL: every writer's; TimescaleDB: the importer's own, UPDATE and
--    DELETE) and the stale ranges above (all channels).
-- 3. perocube_mpp_rollup / perocube_sensor_rollup read through perocube_rollup_marks (their bodies
--    as in migration 0008 otherwise).
-- 4. perocube_timescaledb_tracks_inserts(): drops the INSERT triggers from the hypertables. The
--    UPDATE and DELETE triggers stay. Called here and by the migration runner after a database is
--    converted to TimescaleDB later (perocube_enable_timescaledb creates the triggers again).

SET LOCAL client_min_messages = warning;

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
END $$;

CREATE OR REPLACE FUNCTION perocube_rollup_marks(p_kind text, p_rollup text)
RETURNS TABLE (t0 timestamptz, t1 timestamptz, board integer, channel integer)
LANGUAGE sql STABLE AS $$
    SELECT d.t0, d.t1, d.board, d.channel FROM rollup_dirty d WHERE d.kind = p_kind
    UNION ALL
    SELECT s.t0, s.t1, NULL::integer, NULL::integer FROM perocube_timescaledb_stale(p_rollup) s
$$;

CREATE OR REPLACE FUNCTION perocube_mpp_rollup(p_width interval, p_boards integer[], p_channels integer[],
                                               p_t0 timestamptz, p_t1 timestamptz)
RETURNS TABLE (bucket timestamptz, tracking_channel_board integer, tracking_channel_channel integer, n bigint,
               power_min double precision, power_max double precision, power_mean double precision,
               voltage_min double precision, voltage_max double precision, voltage_mean double precision,
               current_min double precision, current_max double precision, current_mean double precision)
LANGUAGE plpgsql STABLE AS $$
DECLARE
    tbl text := CASE WHEN p_width >= interval '1 hour' THEN 'mpp_rollup_1h' ELSE 'mpp_rollup_1m' END;
    w interval := CASE WHEN p_width >= interval '1 hour' THEN interval '1 hour' ELSE interval '1 minute' END;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM perocube_rollup_marks('mpp', tbl) d
                   WHERE d.t1 >= p_t0 - w AND d.t0 < p_t1
                     AND (d.board IS NULL OR (d.board, d.channel) IN (SELECT * FROM unnest(p_boards, p_channels)))) THEN
        RETURN QUERY EXECUTE format(
            'SELECT r.bucket, r.tracking_channel_board, r.tracking_channel_channel, r.n::bigint,'
            ' r.power_min, r.power_max, r.power_mean, r.voltage_min, r.voltage_max, r.voltage_mean,'
            ' r.current_min, r.current_max, r.current_mean FROM %I r'
            ' WHERE (r.tracking_channel_board, r.tracking_channel_channel) IN (SELECT * FROM unnest($1, $2))'
            ' AND r.bucket >= $3 AND r.bucket < $4', tbl)
            USING p_boards, p_channels, p_t0, p_t1;
        RETURN;
    END IF;
    RETURN QUERY EXECUTE format($q$
        WITH ch AS (SELECT * FROM unnest($1::integer[], $2::integer[]) AS c(b, c)),
        marks AS (
            SELECT ch.b, ch.c, date_bin($5, greatest(d.t0, $3 - $5), 'epoch') AS lo,
                   date_bin($5, least(d.t1, $4 + $5), 'epoch') + $5 AS hi
            FROM perocube_rollup_marks('mpp', %1$L) d JOIN ch ON d.board IS NULL OR (d.board = ch.b AND d.channel = ch.c)
            WHERE d.t1 >= $3 - $5 AND d.t0 < $4),
        ordered AS (
            SELECT m.*, max(m.hi) OVER (PARTITION BY m.b, m.c ORDER BY m.lo, m.hi
                                        ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS prev_hi
            FROM marks m),
        grouped AS (
            SELECT o.*, sum(CASE WHEN o.prev_hi IS NULL OR o.lo > o.prev_hi THEN 1 ELSE 0 END)
                            OVER (PARTITION BY o.b, o.c ORDER BY o.lo, o.hi) AS grp
            FROM ordered o),
        stale AS MATERIALIZED (SELECT g.b, g.c, min(g.lo) AS lo, max(g.hi) AS hi FROM grouped g GROUP BY g.b, g.c, g.grp)
        SELECT r.bucket, r.tracking_channel_board, r.tracking_channel_channel, r.n::bigint,
               r.power_min, r.power_max, r.power_mean, r.voltage_min, r.voltage_max, r.voltage_mean,
               r.current_min, r.current_max, r.current_mean
        FROM %1$I r JOIN ch ON r.tracking_channel_board = ch.b AND r.tracking_channel_channel = ch.c
        WHERE r.bucket >= $3 AND r.bucket < $4
          AND NOT EXISTS (SELECT 1 FROM stale s WHERE s.b = ch.b AND s.c = ch.c AND r.bucket >= s.lo AND r.bucket < s.hi)
        UNION ALL
        SELECT date_bin($5, m."timestamp", 'epoch'), m.tracking_channel_board, m.tracking_channel_channel, count(*),
               min(m.power), max(m.power), avg(m.power), min(m.voltage), max(m.voltage), avg(m.voltage),
               min(m.current), max(m.current), avg(m.current)
        FROM stale s JOIN mpp_measurement m
          ON m.tracking_channel_board = s.b AND m.tracking_channel_channel = s.c
         AND m."timestamp" >= s.lo AND m."timestamp" < s.hi
        WHERE date_bin($5, m."timestamp", 'epoch') >= $3 AND date_bin($5, m."timestamp", 'epoch') < $4
        GROUP BY 1, 2, 3$q$, tbl)
        USING p_boards, p_channels, p_t0, p_t1, w;
END $$;

CREATE OR REPLACE FUNCTION perocube_sensor_rollup(p_kind text, p_width interval, p_ids uuid[],
                                                  p_t0 timestamptz, p_t1 timestamptz)
RETURNS TABLE (bucket timestamptz, sensor_id uuid, n bigint,
               value_min double precision, value_max double precision, value_mean double precision)
LANGUAGE plpgsql STABLE AS $$
DECLARE
    tbl text := p_kind || CASE WHEN p_width >= interval '1 hour' THEN '_rollup_1h' ELSE '_rollup_1m' END;
    raw text := p_kind || '_measurement';
    idc text := p_kind || '_sensor_id';
    w interval := CASE WHEN p_width >= interval '1 hour' THEN interval '1 hour' ELSE interval '1 minute' END;
BEGIN
    IF p_kind NOT IN ('temperature', 'irradiance') THEN
        RAISE EXCEPTION 'perocube_sensor_rollup: unknown kind %', p_kind;
    END IF;
    IF NOT EXISTS (SELECT 1 FROM perocube_rollup_marks(p_kind, tbl) d WHERE d.t1 >= p_t0 - w AND d.t0 < p_t1) THEN
        RETURN QUERY EXECUTE format(
            'SELECT r.bucket, r.%1$I, r.n::bigint, r.%2$I, r.%3$I, r.%4$I FROM %5$I r'
            ' WHERE r.%1$I = ANY($1) AND r.bucket >= $2 AND r.bucket < $3',
            idc, p_kind || '_min', p_kind || '_max', p_kind || '_mean', tbl)
            USING p_ids, p_t0, p_t1;
        RETURN;
    END IF;
    RETURN QUERY EXECUTE format($q$
        WITH marks AS (
            SELECT date_bin($4, greatest(d.t0, $2 - $4), 'epoch') AS lo,
                   date_bin($4, least(d.t1, $3 + $4), 'epoch') + $4 AS hi
            FROM perocube_rollup_marks(%6$L, %5$L) d WHERE d.t1 >= $2 - $4 AND d.t0 < $3),
        ordered AS (
            SELECT m.*, max(m.hi) OVER (ORDER BY m.lo, m.hi ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS prev_hi
            FROM marks m),
        grouped AS (
            SELECT o.*, sum(CASE WHEN o.prev_hi IS NULL OR o.lo > o.prev_hi THEN 1 ELSE 0 END)
                            OVER (ORDER BY o.lo, o.hi) AS grp
            FROM ordered o),
        stale AS MATERIALIZED (SELECT min(g.lo) AS lo, max(g.hi) AS hi FROM grouped g GROUP BY g.grp)
        SELECT r.bucket, r.%1$I, r.n::bigint, r.%2$I, r.%3$I, r.%4$I FROM %5$I r
        WHERE r.%1$I = ANY($1) AND r.bucket >= $2 AND r.bucket < $3
          AND NOT EXISTS (SELECT 1 FROM stale s WHERE r.bucket >= s.lo AND r.bucket < s.hi)
        UNION ALL
        SELECT date_bin($4, m."timestamp", 'epoch'), m.%1$I, count(*), min(m.%6$I), max(m.%6$I), avg(m.%6$I)
        FROM stale s JOIN %7$I m ON m."timestamp" >= s.lo AND m."timestamp" < s.hi
        WHERE m.%1$I = ANY($1) AND date_bin($4, m."timestamp", 'epoch') >= $2 AND date_bin($4, m."timestamp", 'epoch') < $3
        GROUP BY 1, 2$q$, idc, p_kind || '_min', p_kind || '_max', p_kind || '_mean', tbl, p_kind, raw)
        USING p_ids, p_t0, p_t1, w;
END $$;

CREATE OR REPLACE FUNCTION perocube_timescaledb_tracks_inserts() RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
    t text;
    n integer := 0;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM perocube_settings WHERE key = 'timescaledb' AND value = 'true') THEN
        RETURN 0;
    END IF;
    FOREACH t IN ARRAY ARRAY['mpp_measurement', 'temperature_measurement', 'irradiance_measurement'] LOOP
        IF EXISTS (SELECT 1 FROM pg_trigger g JOIN pg_class c ON c.oid = g.tgrelid
                   WHERE c.oid = format('%I', t)::regclass AND g.tgname = 'perocube_rollups_insert') THEN
            EXECUTE format('DROP TRIGGER perocube_rollups_insert ON %I', t);
            n := n + 1;
        END IF;
    END LOOP;
    RETURN n;
END $$;

SELECT perocube_timescaledb_tracks_inserts();
