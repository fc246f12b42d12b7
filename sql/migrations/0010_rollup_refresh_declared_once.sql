-- The plain-PostgreSQL rollup refresh written once for every kind and level (#15).
--
-- 0007 spelled out one DELETE/INSERT pair per kind and level: six in perocube_refresh_rollups(),
-- two more in perocube_refresh_mpp_channel(). Here perocube_rollup_series() declares each kind's
-- raw table, id columns and value columns once (the same map as perocube_desktop/db/tables.py),
-- and perocube_recompute_rollups() builds the statements from it: format() quotes identifiers
-- only; the range and the channel are parameters. The results are the same rows as before:
-- tests/test_rollups.py compares every rollup with a fresh aggregate of the raw table.
-- TimescaleDB is untouched (its continuous aggregates are refreshed by db/rollups.py).

CREATE OR REPLACE FUNCTION perocube_rollup_series()
RETURNS TABLE (kind text, raw_table text, id_columns text[], value_columns text[])
LANGUAGE sql IMMUTABLE AS $$
    VALUES ('mpp', 'mpp_measurement', ARRAY['tracking_channel_board', 'tracking_channel_channel'],
            ARRAY['power', 'voltage', 'current']),
           ('temperature', 'temperature_measurement', ARRAY['temperature_sensor_id'], ARRAY['temperature']),
           ('irradiance', 'irradiance_measurement', ARRAY['irradiance_sensor_id'], ARRAY['irradiance'])
$$;

-- Recompute both rollup levels of one kind over [lo, hi) (hour-aligned), for one MPP channel
-- when p_board/p_channel are given. The caller holds the kind's (or the channel's) advisory lock.
CREATE OR REPLACE FUNCTION perocube_recompute_rollups(p_kind text, lo timestamptz, hi timestamptz,
                                                      p_board integer DEFAULT NULL,
                                                      p_channel integer DEFAULT NULL)
RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    s record;
    lvl record;
    ids text;
    cols text;
    aggs text;
    scope text := '';
BEGIN
    SELECT * INTO STRICT s FROM perocube_rollup_series() AS r WHERE r.kind = p_kind;
    SELECT string_agg(format('%I', c), ', ') INTO ids FROM unnest(s.id_columns) AS c;
    SELECT string_agg(format('%I, %I, %I', c || '_min', c || '_max', c || '_mean'), ', '),
           string_agg(format('min(%1$I), max(%1$I), avg(%1$I)', c), ', ')
      INTO cols, aggs FROM unnest(s.value_columns) AS c;
    IF p_board IS NOT NULL THEN
        scope := ' AND tracking_channel_board = $3 AND tracking_channel_channel = $4';
    END IF;
    FOR lvl IN SELECT * FROM (VALUES ('1m', interval '1 minute'), ('1h', interval '1 hour')) AS v(sfx, width) LOOP
        EXECUTE format('DELETE FROM %I WHERE bucket >= $1 AND bucket < $2', p_kind || '_rollup_' || lvl.sfx) || scope
            USING lo, hi, p_board, p_channel;
        EXECUTE format('INSERT INTO %I (bucket, %s, n, %s) SELECT date_bin($5, "timestamp", ''epoch''), %s, count(*), %s '
                       'FROM %I WHERE "timestamp" >= $1 AND "timestamp" < $2',
                       p_kind || '_rollup_' || lvl.sfx, ids, cols, ids, aggs, s.raw_table)
                || scope || ' GROUP BY 1, ' || ids
            USING lo, hi, p_board, p_channel, lvl.width;
    END LOOP;
END $$;

-- As in 0007 (same locks, same return values), the recomputation now in one place.
CREATE OR REPLACE FUNCTION perocube_refresh_mpp_channel(dirty_id bigint) RETURNS boolean
LANGUAGE plpgsql AS $$
DECLARE
    d record;
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
    PERFORM perocube_recompute_rollups('mpp', date_bin('1 hour', d.t0, 'epoch'),
                                       date_bin('1 hour', d.t1, 'epoch') + interval '1 hour', d.board, d.channel);
    RETURN true;
END $$;

CREATE OR REPLACE FUNCTION perocube_refresh_rollups() RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
    r record;
    done integer := 0;
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
        PERFORM perocube_recompute_rollups(r.kind, r.t0, r.t1);
        done := done + 1;
    END LOOP;
    RETURN done;
END $$;
