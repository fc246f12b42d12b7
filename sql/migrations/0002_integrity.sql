-- What the lab's schema lacks: one row per (channel, timestamp) and (sensor, timestamp),
-- a record of imported files, a quarantine, an audit log, optimistic locking.
-- Upgrading a legacy database keeps every row: exact duplicates are removed (counted),
-- rows that share a key but differ in values are moved to measurement_conflict.

CREATE TABLE IF NOT EXISTS schema_upgrade_log (
    id bigserial PRIMARY KEY,
    logged_at timestamptz NOT NULL DEFAULT now(),
    step text NOT NULL,
    table_name text NOT NULL,
    row_count bigint NOT NULL
);

CREATE TABLE IF NOT EXISTS measurement_conflict (
    id bigserial PRIMARY KEY,
    moved_at timestamptz NOT NULL DEFAULT now(),
    source_table text NOT NULL,
    row_data jsonb NOT NULL,
    reason text NOT NULL
);

DO $$
DECLARE
    spec record;
    n bigint;
BEGIN
    FOR spec IN
        SELECT * FROM (VALUES
            ('mpp_measurement', 'tracking_channel_board, tracking_channel_channel, "timestamp"',
             'current, voltage, power', 'mpp_measurement_channel_time_key'),
            ('temperature_measurement', 'temperature_sensor_id, "timestamp"',
             'temperature', 'temperature_measurement_sensor_time_key'),
            ('irradiance_measurement', 'irradiance_sensor_id, "timestamp"',
             'raw_reading, irradiance', 'irradiance_measurement_sensor_time_key')
        ) AS t(tbl, keycols, valcols, conname)
    LOOP
        IF EXISTS (SELECT 1 FROM pg_constraint WHERE conname = spec.conname) THEN
            CONTINUE;
        END IF;
        -- a lab database where this is a compressed TimescaleDB hypertable: decompress and switch
        -- compression off so that rows can be de-duplicated and the key added; 0004 turns
        -- compression back on with the app's settings
        IF EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'timescaledb') THEN
            IF EXISTS (SELECT 1 FROM timescaledb_information.hypertables
                       WHERE hypertable_name = spec.tbl AND compression_enabled) THEN
                EXECUTE format('SELECT count(decompress_chunk(c, true)) FROM show_chunks(%L::regclass) c', spec.tbl);
                EXECUTE format('ALTER TABLE %I SET (timescaledb.compress = false)', spec.tbl);
                RAISE NOTICE '%: chunks decompressed for the upgrade', spec.tbl;
            END IF;
        END IF;
        -- exact duplicates (tableoid keeps ctid unambiguous across hypertable chunks)
        EXECUTE format(
            'WITH d AS (SELECT tableoid AS t, ctid AS c, row_number() OVER (PARTITION BY %s, %s ORDER BY ctid) AS rn FROM %I)
             DELETE FROM %I m USING d WHERE m.tableoid = d.t AND m.ctid = d.c AND d.rn > 1',
            spec.keycols, spec.valcols, spec.tbl, spec.tbl);
        GET DIAGNOSTICS n = ROW_COUNT;
        INSERT INTO schema_upgrade_log (step, table_name, row_count) VALUES ('exact duplicates removed', spec.tbl, n);
        RAISE NOTICE '%: % exact duplicate rows removed', spec.tbl, n;
        -- same key, different values: keep the first, move the others aside
        EXECUTE format(
            'WITH d AS (SELECT tableoid AS t, ctid AS c, row_number() OVER (PARTITION BY %s ORDER BY ctid) AS rn FROM %I),
                  moved AS (DELETE FROM %I m USING d WHERE m.tableoid = d.t AND m.ctid = d.c AND d.rn > 1 RETURNING m.*)
             INSERT INTO measurement_conflict (source_table, row_data, reason)
             SELECT %L, to_jsonb(moved), %L FROM moved',
            spec.keycols, spec.tbl, spec.tbl, spec.tbl,
            'same key as a kept row but different values');
        GET DIAGNOSTICS n = ROW_COUNT;
        INSERT INTO schema_upgrade_log (step, table_name, row_count) VALUES ('conflicting rows moved to measurement_conflict', spec.tbl, n);
        RAISE NOTICE '%: % conflicting rows moved to measurement_conflict', spec.tbl, n;
        EXECUTE format('ALTER TABLE %I ADD CONSTRAINT %I UNIQUE (%s)', spec.tbl, spec.conname, spec.keycols);
    END LOOP;
END $$;

-- connection history look-ups (by channel and by pixel)
CREATE INDEX IF NOT EXISTS measurement_connection_event_channel_idx
    ON measurement_connection_event (tracking_channel_board, tracking_channel_channel, connection_datetime);
CREATE INDEX IF NOT EXISTS measurement_connection_event_pixel_idx
    ON measurement_connection_event (solar_cell_id, pixel, connection_datetime);

CREATE TABLE IF NOT EXISTS imported_file (
    path text PRIMARY KEY,
    kind text NOT NULL,
    size_bytes bigint NOT NULL,
    mtime_ns bigint NOT NULL,
    imported_bytes bigint NOT NULL,
    prefix_sha256 text NOT NULL,
    lines bigint NOT NULL,
    rows_inserted bigint NOT NULL,
    duplicates bigint NOT NULL,
    bad_lines bigint NOT NULL,
    imported_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE IF NOT EXISTS quarantine (
    id bigserial PRIMARY KEY,
    received_at timestamptz NOT NULL DEFAULT now(),
    source text NOT NULL,          -- 'receiver' or 'import'
    origin text,                   -- peer address or file path
    line bigint,                   -- file line number, when from a file
    raw text NOT NULL,
    reason text NOT NULL
);
CREATE INDEX IF NOT EXISTS quarantine_received_idx ON quarantine (received_at DESC);

CREATE TABLE IF NOT EXISTS audit_log (
    id bigserial PRIMARY KEY,
    changed_at timestamptz NOT NULL DEFAULT now(),
    os_user text NOT NULL,
    host text NOT NULL,
    table_name text NOT NULL,
    action text NOT NULL,
    row_key jsonb NOT NULL,
    old_values jsonb,
    new_values jsonb
);
CREATE INDEX IF NOT EXISTS audit_log_changed_idx ON audit_log (changed_at DESC);

-- optimistic locking for the registry forms
ALTER TABLE scientist ADD COLUMN IF NOT EXISTS row_version integer NOT NULL DEFAULT 1;
ALTER TABLE experiment ADD COLUMN IF NOT EXISTS row_version integer NOT NULL DEFAULT 1;
ALTER TABLE project ADD COLUMN IF NOT EXISTS row_version integer NOT NULL DEFAULT 1;
ALTER TABLE solar_cell_device ADD COLUMN IF NOT EXISTS row_version integer NOT NULL DEFAULT 1;
ALTER TABLE solar_cell_pixel ADD COLUMN IF NOT EXISTS row_version integer NOT NULL DEFAULT 1;
ALTER TABLE mpp_tracking_channel ADD COLUMN IF NOT EXISTS row_version integer NOT NULL DEFAULT 1;
ALTER TABLE temperature_sensor ADD COLUMN IF NOT EXISTS row_version integer NOT NULL DEFAULT 1;
ALTER TABLE irradiance_sensor ADD COLUMN IF NOT EXISTS row_version integer NOT NULL DEFAULT 1;
