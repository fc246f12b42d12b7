-- Rollups that are right whoever wrote the rows (the app, psql, the lab's notebooks, a restore).
--
-- 1. Statement-level triggers with transition tables mark every changed range in rollup_dirty,
--    on both back ends, for INSERT (and COPY), UPDATE and DELETE. ENABLE ALWAYS: they fire also
--    in a session that skips FK triggers with session_replication_role = replica.
--    A statement that touched one MPP channel marks that channel only (the importer refreshes
--    such ranges in a second session while it loads the next file).
-- 2. Plain PostgreSQL: perocube_refresh_rollups() recomputes the marked ranges (as before), now
--    serialised per kind with advisory locks so two sessions never race on the same buckets, and
--    the hourly rollups from the raw rows like TimescaleDB's (weighting minute means by n was wrong
--    wherever a value was NULL: avg() skips NULLs, n counts rows).
-- 3. TimescaleDB: the marks stay until the app has refreshed the continuous aggregates over them
--    (refresh_continuous_aggregate must run outside a transaction: perocube_desktop/db/rollups.py);
--    perocube_rollup_pending() hands out the merged ranges. The refresh policies are re-created by
--    perocube_ensure_policies() (called by the migration runner after the initial refresh) with
--    start_offset NULL, so that a back-fill that nobody refreshed explicitly is materialised too.

SET LOCAL client_min_messages = warning;  -- no "does not exist, skipping" noise

CREATE INDEX IF NOT EXISTS rollup_dirty_kind_idx ON rollup_dirty (kind, t0);

CREATE OR REPLACE FUNCTION perocube_mark_rollups_dirty() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    kind text := TG_ARGV[0];
BEGIN
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        IF kind = 'mpp' THEN
            INSERT INTO rollup_dirty (kind, t0, t1, board, channel)
            SELECT 'mpp', min("timestamp"), max("timestamp"),
                   CASE WHEN min(tracking_channel_board) = max(tracking_channel_board)
                         AND min(tracking_channel_channel) = max(tracking_channel_channel)
                        THEN min(tracking_channel_board) END,
                   CASE WHEN min(tracking_channel_board) = max(tracking_channel_board)
                         AND min(tracking_channel_channel) = max(tracking_channel_channel)
                        THEN min(tracking_channel_channel) END
            FROM perocube_new_rows HAVING count(*) > 0;
        ELSE
            INSERT INTO rollup_dirty (kind, t0, t1)
            SELECT kind, min("timestamp"), max("timestamp") FROM perocube_new_rows HAVING count(*) > 0;
        END IF;
    END IF;
    IF TG_OP IN ('DELETE', 'UPDATE') THEN
        IF kind = 'mpp' THEN
            INSERT INTO rollup_dirty (kind, t0, t1, board, channel)
            SELECT 'mpp', min("timestamp"), max("timestamp"),
                   CASE WHEN min(tracking_channel_board) = max(tracking_channel_board)
                         AND min(tracking_channel_channel) = max(tracking_channel_channel)
                        THEN min(tracking_channel_board) END,
                   CASE WHEN min(tracking_channel_board) = max(tracking_channel_board)
                         AND min(tracking_channel_channel) = max(tracking_channel_channel)
                        THEN min(tracking_channel_channel) END
            FROM perocube_old_rows HAVING count(*) > 0;
        ELSE
            INSERT INTO rollup_dirty (kind, t0, t1)
            SELECT kind, min("timestamp"), max("timestamp") FROM perocube_old_rows HAVING count(*) > 0;
        END IF;
    END IF;
    RETURN NULL;
END $$;

-- TimescaleDB refuses DELETE triggers with transition tables on hypertables that can be compressed:
-- there a row-level trigger marks each deleted row (deletes are rare corrections).
CREATE OR REPLACE FUNCTION perocube_mark_rollups_dirty_row() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_ARGV[0] = 'mpp' THEN
        INSERT INTO rollup_dirty (kind, t0, t1, board, channel)
        VALUES ('mpp', OLD."timestamp", OLD."timestamp", OLD.tracking_channel_board, OLD.tracking_channel_channel);
    ELSE
        INSERT INTO rollup_dirty (kind, t0, t1) VALUES (TG_ARGV[0], OLD."timestamp", OLD."timestamp");
    END IF;
    RETURN NULL;
END $$;

DO $$
DECLARE
    t record;
    has_ts boolean := EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'timescaledb');
BEGIN
    FOR t IN SELECT * FROM (VALUES ('mpp_measurement', 'mpp'), ('temperature_measurement', 'temperature'),
                                   ('irradiance_measurement', 'irradiance')) AS v(tbl, kind) LOOP
        EXECUTE format('DROP TRIGGER IF EXISTS perocube_rollups_insert ON %I', t.tbl);
        EXECUTE format('DROP TRIGGER IF EXISTS perocube_rollups_update ON %I', t.tbl);
        EXECUTE format('DROP TRIGGER IF EXISTS perocube_rollups_delete ON %I', t.tbl);
        -- (a trigger may carry transition tables for one event only)
        EXECUTE format('CREATE TRIGGER perocube_rollups_insert AFTER INSERT ON %I REFERENCING NEW TABLE AS perocube_new_rows'
                       ' FOR EACH STATEMENT EXECUTE FUNCTION perocube_mark_rollups_dirty(%L)', t.tbl, t.kind);
        EXECUTE format('CREATE TRIGGER perocube_rollups_update AFTER UPDATE ON %I REFERENCING OLD TABLE AS perocube_old_rows'
                       ' NEW TABLE AS perocube_new_rows FOR EACH STATEMENT EXECUTE FUNCTION perocube_mark_rollups_dirty(%L)',
                       t.tbl, t.kind);
        IF has_ts THEN
            EXECUTE format('CREATE TRIGGER perocube_rollups_delete AFTER DELETE ON %I'
                           ' FOR EACH ROW EXECUTE FUNCTION perocube_mark_rollups_dirty_row(%L)', t.tbl, t.kind);
        ELSE
            EXECUTE format('CREATE TRIGGER perocube_rollups_delete AFTER DELETE ON %I REFERENCING OLD TABLE AS perocube_old_rows'
                           ' FOR EACH STATEMENT EXECUTE FUNCTION perocube_mark_rollups_dirty(%L)', t.tbl, t.kind);
        END IF;
        EXECUTE format('ALTER TABLE %I ENABLE ALWAYS TRIGGER perocube_rollups_insert', t.tbl);
        EXECUTE format('ALTER TABLE %I ENABLE ALWAYS TRIGGER perocube_rollups_update', t.tbl);
        EXECUTE format('ALTER TABLE %I ENABLE ALWAYS TRIGGER perocube_rollups_delete', t.tbl);
    END LOOP;
    -- TimescaleDB: the old refresh policies (last hour / three days only, started at once) go;
    -- the runner adds the new ones after the initial refresh (perocube_ensure_policies below)
    IF has_ts THEN
        PERFORM remove_continuous_aggregate_policy(format('%I', v)::regclass, if_exists => true)
        FROM unnest(ARRAY['mpp_rollup_1m', 'temperature_rollup_1m', 'irradiance_rollup_1m',
                          'mpp_rollup_1h', 'temperature_rollup_1h', 'irradiance_rollup_1h']) AS v;
    END IF;
END $$;

-- Advisory lock keys: (PEROCUBE_ROLLUP_KIND, kind) and (PEROCUBE_ROLLUP_CHANNEL, board * 100000 + channel)
CREATE OR REPLACE FUNCTION perocube_rollup_lock_key(kind text) RETURNS integer
LANGUAGE sql IMMUTABLE AS $$ SELECT CASE kind WHEN 'mpp' THEN 1 WHEN 'temperature' THEN 2 ELSE 3 END $$;

-- Recompute the MPP rollups of one channel-scoped dirty row, and delete the row (plain PostgreSQL).
-- Returns false when the row was already taken (or TimescaleDB maintains the rollups).
CREATE OR REPLACE FUNCTION perocube_refresh_mpp_channel(dirty_id bigint) RETURNS boolean
LANGUAGE plpgsql AS $$
DECLARE
    d record;
    lo timestamptz;
    hi timestamptz;
BEGIN
    IF EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'timescaledb') THEN
        RETURN false;
    END IF;
    PERFORM pg_advisory_xact_lock_shared(1347571531, perocube_rollup_lock_key('mpp'));
    DELETE FROM rollup_dirty WHERE id = dirty_id AND kind = 'mpp' AND channel IS NOT NULL RETURNING * INTO d;
    IF NOT FOUND THEN
        RETURN false;
    END IF;
    PERFORM pg_advisory_xact_lock(1347571532, d.board * 100000 + d.channel);
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
    SELECT date_bin('1 hour', "timestamp", 'epoch'), tracking_channel_board, tracking_channel_channel, count(*),
           min(power), max(power), avg(power), min(voltage), max(voltage), avg(voltage),
           min(current), max(current), avg(current)
    FROM mpp_measurement
    WHERE tracking_channel_board = d.board AND tracking_channel_channel = d.channel
      AND "timestamp" >= lo AND "timestamp" < hi
    GROUP BY 1, 2, 3;
    RETURN true;
END $$;

-- Recompute the rollups of every range marked dirty (plain PostgreSQL). With TimescaleDB it does
-- nothing and keeps the marks: perocube_desktop/db/rollups.py refreshes the continuous aggregates
-- over them outside a transaction. Returns the number of dirty ranges processed.
CREATE OR REPLACE FUNCTION perocube_refresh_rollups() RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
    r record;
    done integer := 0;
    lo timestamptz;
    hi timestamptz;
BEGIN
    IF EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'timescaledb') THEN
        RETURN 0;
    END IF;
    -- one refresher per kind at a time (channel-scoped refreshes take the same lock shared)
    PERFORM pg_advisory_xact_lock(1347571531, perocube_rollup_lock_key(k)) FROM unnest(ARRAY['mpp', 'temperature', 'irradiance']) k;
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
            SELECT date_bin('1 hour', "timestamp", 'epoch'), tracking_channel_board, tracking_channel_channel, count(*),
                   min(power), max(power), avg(power), min(voltage), max(voltage), avg(voltage),
                   min(current), max(current), avg(current)
            FROM mpp_measurement WHERE "timestamp" >= lo AND "timestamp" < hi GROUP BY 1, 2, 3;
        ELSIF r.kind = 'temperature' THEN
            DELETE FROM temperature_rollup_1m WHERE bucket >= lo AND bucket < hi;
            INSERT INTO temperature_rollup_1m
            SELECT date_bin('1 minute', "timestamp", 'epoch'), temperature_sensor_id, count(*),
                   min(temperature), max(temperature), avg(temperature)
            FROM temperature_measurement WHERE "timestamp" >= lo AND "timestamp" < hi GROUP BY 1, 2;
            DELETE FROM temperature_rollup_1h WHERE bucket >= lo AND bucket < hi;
            INSERT INTO temperature_rollup_1h
            SELECT date_bin('1 hour', "timestamp", 'epoch'), temperature_sensor_id, count(*),
                   min(temperature), max(temperature), avg(temperature)
            FROM temperature_measurement WHERE "timestamp" >= lo AND "timestamp" < hi GROUP BY 1, 2;
        ELSE
            DELETE FROM irradiance_rollup_1m WHERE bucket >= lo AND bucket < hi;
            INSERT INTO irradiance_rollup_1m
            SELECT date_bin('1 minute', "timestamp", 'epoch'), irradiance_sensor_id, count(*),
                   min(irradiance), max(irradiance), avg(irradiance)
            FROM irradiance_measurement WHERE "timestamp" >= lo AND "timestamp" < hi GROUP BY 1, 2;
            DELETE FROM irradiance_rollup_1h WHERE bucket >= lo AND bucket < hi;
            INSERT INTO irradiance_rollup_1h
            SELECT date_bin('1 hour', "timestamp", 'epoch'), irradiance_sensor_id, count(*),
                   min(irradiance), max(irradiance), avg(irradiance)
            FROM irradiance_measurement WHERE "timestamp" >= lo AND "timestamp" < hi GROUP BY 1, 2;
        END IF;
        done := done + 1;
    END LOOP;
    RETURN done;
END $$;

-- TimescaleDB: the dirty ranges, merged per kind (touching or overlapping ranges become one), with
-- the ids of the marks each range covers: the caller refreshes the continuous aggregates over
-- [t0, t1] and then deletes exactly those ids (marks that arrive meanwhile stay for next time).
CREATE OR REPLACE FUNCTION perocube_rollup_pending()
RETURNS TABLE (kind text, t0 timestamptz, t1 timestamptz, ids bigint[])
LANGUAGE sql STABLE AS $$
    WITH ordered AS (
        SELECT d.id, d.kind, d.t0, d.t1,
               max(d.t1) OVER (PARTITION BY d.kind ORDER BY d.t0, d.t1
                               ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS prev_end
        FROM rollup_dirty d),
    grouped AS (
        SELECT o.*, sum(CASE WHEN o.prev_end IS NULL OR o.t0 > o.prev_end + interval '1 hour' THEN 1 ELSE 0 END)
                        OVER (PARTITION BY o.kind ORDER BY o.t0, o.t1) AS grp
        FROM ordered o)
    SELECT g.kind, min(g.t0), max(g.t1), array_agg(g.id ORDER BY g.id) FROM grouped g GROUP BY g.kind, g.grp
    ORDER BY 1, 2
$$;

-- TimescaleDB: the end of what a continuous aggregate has materialised (its watermark); buckets
-- above it are computed from the raw rows by real-time aggregation. NULL on plain PostgreSQL and
-- while nothing is materialised.
CREATE OR REPLACE FUNCTION perocube_rollup_watermark(view_name text) RETURNS timestamptz
LANGUAGE plpgsql STABLE AS $$
DECLARE
    wm timestamptz;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'timescaledb') THEN
        RETURN NULL;
    END IF;
    EXECUTE 'SELECT _timescaledb_functions.to_timestamp(_timescaledb_functions.cagg_watermark(mat_hypertable_id))
             FROM _timescaledb_catalog.continuous_agg WHERE user_view_schema = current_schema() AND user_view_name = $1'
        INTO wm USING view_name;
    RETURN CASE WHEN wm > '1900-01-01' THEN wm END;  -- nothing materialised yet: NULL
END $$;

-- TimescaleDB: refresh policies that start after the initial refresh (initial_start) and cover the
-- whole history (start_offset NULL: a refresh only recomputes invalidated buckets, so this costs
-- nothing when nothing was back-filled). Idempotent; a no-op on plain PostgreSQL.
CREATE OR REPLACE FUNCTION perocube_ensure_policies() RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    v record;
    j record;
    batches boolean;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'timescaledb') THEN
        RETURN;
    END IF;
    batches := EXISTS (SELECT 1 FROM pg_proc WHERE proname = 'add_continuous_aggregate_policy'
                       AND 'buckets_per_batch' = ANY (proargnames));
    FOR v IN SELECT * FROM (VALUES
            ('mpp_rollup_1m', interval '1 minute', interval '1 minute'),
            ('temperature_rollup_1m', interval '1 minute', interval '1 minute'),
            ('irradiance_rollup_1m', interval '1 minute', interval '1 minute'),
            ('mpp_rollup_1h', interval '1 hour', interval '30 minutes'),
            ('temperature_rollup_1h', interval '1 hour', interval '30 minutes'),
            ('irradiance_rollup_1h', interval '1 hour', interval '30 minutes')) AS t(view_name, width, sched) LOOP
        SELECT * INTO j FROM timescaledb_information.jobs
        WHERE proc_name = 'policy_refresh_continuous_aggregate'
          AND hypertable_name = (SELECT materialization_hypertable_name FROM timescaledb_information.continuous_aggregates
                                 WHERE view_schema = current_schema() AND view_name = v.view_name);
        IF FOUND AND j.config ? 'start_offset' AND j.config->'start_offset' = 'null'::jsonb
           AND (NOT batches OR j.config->>'buckets_per_batch' = '0') THEN
            CONTINUE;  -- already the right policy
        END IF;
        PERFORM remove_continuous_aggregate_policy(v.view_name::regclass, if_exists => true);
        IF batches THEN
            -- one batch per run: TimescaleDB 2.19+ would otherwise refresh a back-fill a few buckets
            -- per transaction (40 times slower for a 1-minute aggregate)
            PERFORM add_continuous_aggregate_policy(v.view_name::regclass, start_offset => NULL, end_offset => v.width,
                        schedule_interval => v.sched, initial_start => now() + v.sched, buckets_per_batch => 0);
        ELSE
            PERFORM add_continuous_aggregate_policy(v.view_name::regclass, start_offset => NULL, end_offset => v.width,
                        schedule_interval => v.sched, initial_start => now() + v.sched);
        END IF;
    END LOOP;
END $$;
