-- TimescaleDB when the server has it, plain PostgreSQL otherwise.
-- Either way the same six rollup relations exist with the same columns:
--   mpp_rollup_1m / _1h          (bucket, tracking_channel_board, tracking_channel_channel, n, power_*, voltage_*, current_*)
--   temperature_rollup_1m / _1h  (bucket, temperature_sensor_id, n, temperature_*)
--   irradiance_rollup_1m / _1h   (bucket, irradiance_sensor_id, n, irradiance_*)
-- With TimescaleDB they are continuous aggregates (real-time, refreshed by policies);
-- without, they are tables refreshed by perocube_refresh_rollups() from rollup_dirty.

CREATE TABLE IF NOT EXISTS rollup_dirty (
    id bigserial PRIMARY KEY,
    kind text NOT NULL CHECK (kind IN ('mpp', 'temperature', 'irradiance')),
    t0 timestamptz NOT NULL,
    t1 timestamptz NOT NULL,
    board integer,    -- set: only this MPP channel's rows changed (importer)
    channel integer
);

CREATE TABLE IF NOT EXISTS perocube_settings (
    key text PRIMARY KEY,
    value text NOT NULL
);

DO $$
DECLARE
    lvl record;
    has_ts boolean;
    preloaded boolean := EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'timescaledb');
BEGIN
    -- not preloaded: CREATE EXTENSION would end the session with FATAL (no EXCEPTION block catches
    -- it), so check shared_preload_libraries first and stay on plain PostgreSQL (db status says why);
    -- a role that may not read the setting looks for the extension's background-worker launcher
    IF NOT preloaded THEN
        BEGIN
            preloaded := current_setting('shared_preload_libraries') ~ '(^|[\s,"])timescaledb([\s,"]|$)';
        EXCEPTION WHEN insufficient_privilege THEN
            preloaded := EXISTS (SELECT 1 FROM pg_stat_activity WHERE backend_type LIKE 'TimescaleDB%');
        END;
    END IF;
    IF preloaded AND EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'timescaledb') THEN
        BEGIN
            CREATE EXTENSION IF NOT EXISTS timescaledb;
        EXCEPTION WHEN others THEN
            RAISE NOTICE 'TimescaleDB is available but could not be enabled (%); using plain PostgreSQL', SQLERRM;
        END;
    END IF;
    has_ts := EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'timescaledb');
    INSERT INTO perocube_settings (key, value) VALUES ('timescaledb', has_ts::text)
        ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value;

    IF has_ts THEN
        PERFORM create_hypertable('mpp_measurement', 'timestamp', migrate_data => true, if_not_exists => true);
        PERFORM create_hypertable('temperature_measurement', 'timestamp', migrate_data => true, if_not_exists => true);
        PERFORM create_hypertable('irradiance_measurement', 'timestamp', migrate_data => true, if_not_exists => true);
        ALTER TABLE mpp_measurement SET (timescaledb.compress,
            timescaledb.compress_segmentby = 'tracking_channel_board, tracking_channel_channel',
            timescaledb.compress_orderby = '"timestamp" DESC');
        ALTER TABLE temperature_measurement SET (timescaledb.compress,
            timescaledb.compress_segmentby = 'temperature_sensor_id', timescaledb.compress_orderby = '"timestamp" DESC');
        ALTER TABLE irradiance_measurement SET (timescaledb.compress,
            timescaledb.compress_segmentby = 'irradiance_sensor_id', timescaledb.compress_orderby = '"timestamp" DESC');
        PERFORM add_compression_policy('mpp_measurement', interval '7 days', if_not_exists => true);
        PERFORM add_compression_policy('temperature_measurement', interval '7 days', if_not_exists => true);
        PERFORM add_compression_policy('irradiance_measurement', interval '7 days', if_not_exists => true);
    END IF;

    FOR lvl IN SELECT * FROM (VALUES ('1m', '1 minute', '1 hour', '1 minute'),
                                     ('1h', '1 hour', '3 days', '30 minutes')) AS t(sfx, width, start_off, sched)
    LOOP
        IF has_ts THEN
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
            PERFORM add_continuous_aggregate_policy(format('%I', p || lvl.sfx)::regclass,
                        start_offset => lvl.start_off::interval, end_offset => lvl.width::interval,
                        schedule_interval => lvl.sched::interval, if_not_exists => true)
            FROM unnest(ARRAY['mpp_rollup_', 'temperature_rollup_', 'irradiance_rollup_']) AS p;
        ELSE
            EXECUTE format('CREATE TABLE IF NOT EXISTS %I (
                bucket timestamptz NOT NULL, tracking_channel_board integer NOT NULL, tracking_channel_channel integer NOT NULL,
                n bigint NOT NULL,
                power_min double precision, power_max double precision, power_mean double precision,
                voltage_min double precision, voltage_max double precision, voltage_mean double precision,
                current_min double precision, current_max double precision, current_mean double precision,
                PRIMARY KEY (tracking_channel_board, tracking_channel_channel, bucket))', 'mpp_rollup_' || lvl.sfx);
            EXECUTE format('CREATE TABLE IF NOT EXISTS %I (
                bucket timestamptz NOT NULL, temperature_sensor_id uuid NOT NULL, n bigint NOT NULL,
                temperature_min double precision, temperature_max double precision, temperature_mean double precision,
                PRIMARY KEY (temperature_sensor_id, bucket))', 'temperature_rollup_' || lvl.sfx);
            EXECUTE format('CREATE TABLE IF NOT EXISTS %I (
                bucket timestamptz NOT NULL, irradiance_sensor_id uuid NOT NULL, n bigint NOT NULL,
                irradiance_min double precision, irradiance_max double precision, irradiance_mean double precision,
                PRIMARY KEY (irradiance_sensor_id, bucket))', 'irradiance_rollup_' || lvl.sfx);
        END IF;
    END LOOP;
    IF NOT has_ts THEN
        -- data already present (upgraded lab database without TimescaleDB) gets rolled up on first refresh
        INSERT INTO rollup_dirty (kind, t0, t1)
        SELECT k, t0, t1 FROM (
            SELECT 'mpp' AS k, min("timestamp") AS t0, max("timestamp") AS t1 FROM mpp_measurement
            UNION ALL SELECT 'temperature', min("timestamp"), max("timestamp") FROM temperature_measurement
            UNION ALL SELECT 'irradiance', min("timestamp"), max("timestamp") FROM irradiance_measurement) s
        WHERE t0 IS NOT NULL;
    END IF;
END $$;

-- Recompute the MPP rollups of one dirty row's channel and range, and delete the row.
-- Returns false when the row was already taken (or TimescaleDB maintains the rollups).
CREATE OR REPLACE FUNCTION perocube_refresh_mpp_channel(dirty_id bigint) RETURNS boolean
LANGUAGE plpgsql AS $$
DECLARE
    d record;
    lo timestamptz;
    hi timestamptz;
BEGIN
    DELETE FROM rollup_dirty WHERE id = dirty_id AND kind = 'mpp' AND channel IS NOT NULL RETURNING * INTO d;
    IF NOT FOUND OR EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'timescaledb') THEN
        RETURN false;
    END IF;
    lo := date_bin('1 hour', d.t0, 'epoch');
    hi := date_bin('1 hour', d.t1, 'epoch') + interval '1 hour';
    DELETE FROM mpp_rollup_1m WHERE tracking_channel_board = d.board AND tracking_channel_channel = d.channel
        AND bucket >= lo AND bucket < hi;
    INSERT INTO mpp_rollup_1m
    SELECT date_bin('1 minute', "timestamp", 'epoch'), tracking_channel_board, tracking_channel_channel, count(*),
           min(power), max(power), avg(power), min(voltage), max(voltage), avg(voltage),
           min(current), max(current), avg(current)
    FROM mpp_measurement
    WHERE tracking_channel_board = d.board AND tracking_channel_channel = d.channel
      AND "timestamp" >= lo AND "timestamp" < hi
    GROUP BY 1, 2, 3;
    DELETE FROM mpp_rollup_1h WHERE tracking_channel_board = d.board AND tracking_channel_channel = d.channel
        AND bucket >= lo AND bucket < hi;
    INSERT INTO mpp_rollup_1h
    SELECT date_bin('1 hour', bucket, 'epoch'), tracking_channel_board, tracking_channel_channel, sum(n),
           min(power_min), max(power_max), sum(power_mean * n) / sum(n), min(voltage_min), max(voltage_max),
           sum(voltage_mean * n) / sum(n), min(current_min), max(current_max), sum(current_mean * n) / sum(n)
    FROM mpp_rollup_1m
    WHERE tracking_channel_board = d.board AND tracking_channel_channel = d.channel AND bucket >= lo AND bucket < hi
    GROUP BY 1, 2, 3;
    RETURN true;
END $$;

-- Recompute the rollups of every range marked dirty (plain PostgreSQL); a no-op with TimescaleDB,
-- whose policies and real-time aggregation keep the continuous aggregates current. Channel-scoped
-- rows are done one by one (cheap, by index); the other ranges are merged per kind and recomputed.
-- Returns the number of dirty ranges processed.
CREATE OR REPLACE FUNCTION perocube_refresh_rollups() RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
    r record;
    done integer := 0;
    lo timestamptz;
    hi timestamptz;
BEGIN
    IF EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'timescaledb') THEN
        DELETE FROM rollup_dirty;
        RETURN 0;
    END IF;
    FOR r IN SELECT id FROM rollup_dirty WHERE channel IS NOT NULL ORDER BY id LOOP
        IF perocube_refresh_mpp_channel(r.id) THEN
            done := done + 1;
        END IF;
    END LOOP;
    FOR r IN
        WITH claimed AS (DELETE FROM rollup_dirty WHERE channel IS NULL RETURNING kind,
                            date_bin('1 hour', t0, 'epoch') AS t0,
                            date_bin('1 hour', t1, 'epoch') + interval '1 hour' AS t1),
             ordered AS (SELECT kind, t0, t1,
                            max(t1) OVER (PARTITION BY kind ORDER BY t0, t1 ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS prev_end
                         FROM claimed),
             grouped AS (SELECT kind, t0, t1,
                            sum(CASE WHEN prev_end IS NULL OR t0 > prev_end THEN 1 ELSE 0 END) OVER (PARTITION BY kind ORDER BY t0, t1) AS grp
                         FROM ordered)
        SELECT kind, min(t0) AS t0, max(t1) AS t1 FROM grouped GROUP BY kind, grp
    LOOP
        lo := r.t0; hi := r.t1;
        IF r.kind = 'mpp' THEN
            DELETE FROM mpp_rollup_1m WHERE bucket >= lo AND bucket < hi;
            INSERT INTO mpp_rollup_1m
            SELECT date_bin('1 minute', "timestamp", 'epoch'), tracking_channel_board, tracking_channel_channel, count(*),
                   min(power), max(power), avg(power), min(voltage), max(voltage), avg(voltage),
                   min(current), max(current), avg(current)
            FROM mpp_measurement WHERE "timestamp" >= lo AND "timestamp" < hi GROUP BY 1, 2, 3;
            DELETE FROM mpp_rollup_1h WHERE bucket >= lo AND bucket < hi;
            INSERT INTO mpp_rollup_1h
            SELECT date_bin('1 hour', bucket, 'epoch'), tracking_channel_board, tracking_channel_channel, sum(n),
                   min(power_min), max(power_max), sum(power_mean * n) / sum(n), min(voltage_min), max(voltage_max),
                   sum(voltage_mean * n) / sum(n), min(current_min), max(current_max), sum(current_mean * n) / sum(n)
            FROM mpp_rollup_1m WHERE bucket >= lo AND bucket < hi GROUP BY 1, 2, 3;
        ELSIF r.kind = 'temperature' THEN
            DELETE FROM temperature_rollup_1m WHERE bucket >= lo AND bucket < hi;
            INSERT INTO temperature_rollup_1m
            SELECT date_bin('1 minute', "timestamp", 'epoch'), temperature_sensor_id, count(*),
                   min(temperature), max(temperature), avg(temperature)
            FROM temperature_measurement WHERE "timestamp" >= lo AND "timestamp" < hi GROUP BY 1, 2;
            DELETE FROM temperature_rollup_1h WHERE bucket >= lo AND bucket < hi;
            INSERT INTO temperature_rollup_1h
            SELECT date_bin('1 hour', bucket, 'epoch'), temperature_sensor_id, sum(n),
                   min(temperature_min), max(temperature_max), sum(temperature_mean * n) / sum(n)
            FROM temperature_rollup_1m WHERE bucket >= lo AND bucket < hi GROUP BY 1, 2;
        ELSE
            DELETE FROM irradiance_rollup_1m WHERE bucket >= lo AND bucket < hi;
            INSERT INTO irradiance_rollup_1m
            SELECT date_bin('1 minute', "timestamp", 'epoch'), irradiance_sensor_id, count(*),
                   min(irradiance), max(irradiance), avg(irradiance)
            FROM irradiance_measurement WHERE "timestamp" >= lo AND "timestamp" < hi GROUP BY 1, 2;
            DELETE FROM irradiance_rollup_1h WHERE bucket >= lo AND bucket < hi;
            INSERT INTO irradiance_rollup_1h
            SELECT date_bin('1 hour', bucket, 'epoch'), irradiance_sensor_id, sum(n),
                   min(irradiance_min), max(irradiance_max), sum(irradiance_mean * n) / sum(n)
            FROM irradiance_rollup_1m WHERE bucket >= lo AND bucket < hi GROUP BY 1, 2;
        END IF;
        done := done + 1;
    END LOOP;
    RETURN done;
END $$;

-- Compression age from the config (TimescaleDB only; a no-op elsewhere).
CREATE OR REPLACE FUNCTION perocube_set_compression_age(age interval) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    t text;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'timescaledb') THEN
        RETURN;
    END IF;
    FOREACH t IN ARRAY ARRAY['mpp_measurement', 'temperature_measurement', 'irradiance_measurement'] LOOP
        PERFORM remove_compression_policy(t, if_exists => true);
        PERFORM add_compression_policy(t, age, if_not_exists => true);
    END LOOP;
END $$;
