-- 1. Reads that never miss rows: the rollups of a range, where a range is still marked dirty
--    (written, not yet refreshed) computed from the raw rows instead. Same columns on both back ends.
-- 2. TimescaleDB enabled later: a database that was migrated as plain PostgreSQL because the
--    extension was not preloaded is converted by perocube_enable_timescaledb() once it is
--    (the migration runner calls it: "add it to shared_preload_libraries and restart, then run db migrate").

-- MPP rollups of the channels (p_boards[i], p_channels[i]) with buckets in [p_t0, p_t1);
-- p_width '1 minute' or '1 hour'.
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
    IF NOT EXISTS (SELECT 1 FROM rollup_dirty d
                   WHERE d.kind = 'mpp' AND d.t1 >= p_t0 - w AND d.t0 < p_t1
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
            FROM rollup_dirty d JOIN ch ON d.board IS NULL OR (d.board = ch.b AND d.channel = ch.c)
            WHERE d.kind = 'mpp' AND d.t1 >= $3 - $5 AND d.t0 < $4),
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
        FROM %I r JOIN ch ON r.tracking_channel_board = ch.b AND r.tracking_channel_channel = ch.c
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

-- Sensor rollups (p_kind 'temperature' or 'irradiance') of the sensors p_ids, buckets in [p_t0, p_t1).
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
    IF NOT EXISTS (SELECT 1 FROM rollup_dirty d WHERE d.kind = p_kind AND d.t1 >= p_t0 - w AND d.t0 < p_t1) THEN
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
            FROM rollup_dirty d WHERE d.kind = %6$L AND d.t1 >= $2 - $4 AND d.t0 < $3),
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

-- The six continuous aggregates (TimescaleDB), as migration 0004 creates them; WITH NO DATA (this
-- runs inside a transaction): the runner refreshes them afterwards.
CREATE OR REPLACE FUNCTION perocube_create_continuous_aggregates() RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    lvl record;
BEGIN
    FOR lvl IN SELECT * FROM (VALUES ('1m', '1 minute'), ('1h', '1 hour')) AS t(sfx, width) LOOP
        EXECUTE format($f$
            CREATE MATERIALIZED VIEW IF NOT EXISTS %I WITH (timescaledb.continuous, timescaledb.materialized_only = false) AS
            SELECT time_bucket(%L::interval, "timestamp") AS bucket, tracking_channel_board, tracking_channel_channel,
                   count(*) AS n,
                   min(power) AS power_min, max(power) AS power_max, avg(power) AS power_mean,
                   min(voltage) AS voltage_min, max(voltage) AS voltage_max, avg(voltage) AS voltage_mean,
                   min(current) AS current_min, max(current) AS current_max, avg(current) AS current_mean
            FROM mpp_measurement GROUP BY 1, 2, 3 WITH NO DATA$f$, 'mpp_rollup_' || lvl.sfx, lvl.width);
        EXECUTE format($f$
            CREATE MATERIALIZED VIEW IF NOT EXISTS %I WITH (timescaledb.continuous, timescaledb.materialized_only = false) AS
            SELECT time_bucket(%L::interval, "timestamp") AS bucket, temperature_sensor_id, count(*) AS n,
                   min(temperature) AS temperature_min, max(temperature) AS temperature_max, avg(temperature) AS temperature_mean
            FROM temperature_measurement GROUP BY 1, 2 WITH NO DATA$f$, 'temperature_rollup_' || lvl.sfx, lvl.width);
        EXECUTE format($f$
            CREATE MATERIALIZED VIEW IF NOT EXISTS %I WITH (timescaledb.continuous, timescaledb.materialized_only = false) AS
            SELECT time_bucket(%L::interval, "timestamp") AS bucket, irradiance_sensor_id, count(*) AS n,
                   min(irradiance) AS irradiance_min, max(irradiance) AS irradiance_max, avg(irradiance) AS irradiance_mean
            FROM irradiance_measurement GROUP BY 1, 2 WITH NO DATA$f$, 'irradiance_rollup_' || lvl.sfx, lvl.width);
    END LOOP;
END $$;

-- Convert a database migrated as plain PostgreSQL to TimescaleDB (extension preloaded meanwhile):
-- hypertables (keeping every row), compression, continuous aggregates instead of the rollup tables.
-- Returns false when there is nothing to do. The caller refreshes the aggregates and adds the
-- policies afterwards, outside this transaction.
CREATE OR REPLACE FUNCTION perocube_enable_timescaledb() RETURNS boolean
LANGUAGE plpgsql AS $$
DECLARE
    t record;
BEGIN
    IF EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'timescaledb')
       AND EXISTS (SELECT 1 FROM perocube_settings WHERE key = 'timescaledb' AND value = 'true') THEN
        RETURN false;
    END IF;
    CREATE EXTENSION IF NOT EXISTS timescaledb;
    FOR t IN SELECT * FROM (VALUES
            ('mpp_measurement', 'mpp', 'tracking_channel_board, tracking_channel_channel'),
            ('temperature_measurement', 'temperature', 'temperature_sensor_id'),
            ('irradiance_measurement', 'irradiance', 'irradiance_sensor_id')) AS v(tbl, kind, segment_by) LOOP
        -- the rollup triggers come back afterwards (DELETE row-level: see migration 0007)
        EXECUTE format('DROP TRIGGER IF EXISTS perocube_rollups_insert ON %I', t.tbl);
        EXECUTE format('DROP TRIGGER IF EXISTS perocube_rollups_update ON %I', t.tbl);
        EXECUTE format('DROP TRIGGER IF EXISTS perocube_rollups_delete ON %I', t.tbl);
        PERFORM create_hypertable(t.tbl, 'timestamp', migrate_data => true, if_not_exists => true);
        EXECUTE format('ALTER TABLE %I SET (timescaledb.compress, timescaledb.compress_segmentby = %L,'
                       ' timescaledb.compress_orderby = %L)', t.tbl, t.segment_by, '"timestamp" DESC');
        PERFORM add_compression_policy(t.tbl, interval '7 days', if_not_exists => true);
        EXECUTE format('CREATE TRIGGER perocube_rollups_insert AFTER INSERT ON %I REFERENCING NEW TABLE AS perocube_new_rows'
                       ' FOR EACH STATEMENT EXECUTE FUNCTION perocube_mark_rollups_dirty(%L)', t.tbl, t.kind);
        EXECUTE format('CREATE TRIGGER perocube_rollups_update AFTER UPDATE ON %I REFERENCING OLD TABLE AS perocube_old_rows'
                       ' NEW TABLE AS perocube_new_rows FOR EACH STATEMENT EXECUTE FUNCTION perocube_mark_rollups_dirty(%L)',
                       t.tbl, t.kind);
        EXECUTE format('CREATE TRIGGER perocube_rollups_delete AFTER DELETE ON %I'
                       ' FOR EACH ROW EXECUTE FUNCTION perocube_mark_rollups_dirty_row(%L)', t.tbl, t.kind);
        EXECUTE format('ALTER TABLE %I ENABLE ALWAYS TRIGGER perocube_rollups_insert', t.tbl);
        EXECUTE format('ALTER TABLE %I ENABLE ALWAYS TRIGGER perocube_rollups_update', t.tbl);
        EXECUTE format('ALTER TABLE %I ENABLE ALWAYS TRIGGER perocube_rollups_delete', t.tbl);
    END LOOP;
    DROP TABLE IF EXISTS mpp_rollup_1m, mpp_rollup_1h, temperature_rollup_1m, temperature_rollup_1h,
                         irradiance_rollup_1m, irradiance_rollup_1h;
    PERFORM perocube_create_continuous_aggregates();
    DELETE FROM rollup_dirty;  -- the runner materialises everything next
    INSERT INTO perocube_settings (key, value) VALUES ('timescaledb', 'true')
        ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value;
    RAISE NOTICE 'TimescaleDB enabled: hypertables, compression and continuous aggregates created';
    RETURN true;
END $$;
