-- name: get_imported_file
SELECT size_bytes, mtime_ns, imported_bytes, prefix_sha256, lines FROM imported_file WHERE path = %s

-- name: upsert_imported_file
INSERT INTO imported_file (path, kind, size_bytes, mtime_ns, imported_bytes, prefix_sha256, lines,
                           rows_inserted, duplicates, bad_lines, imported_at)
VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, now())
ON CONFLICT (path) DO UPDATE SET
    kind = EXCLUDED.kind, size_bytes = EXCLUDED.size_bytes, mtime_ns = EXCLUDED.mtime_ns,
    imported_bytes = EXCLUDED.imported_bytes, prefix_sha256 = EXCLUDED.prefix_sha256, lines = EXCLUDED.lines,
    rows_inserted = imported_file.rows_inserted + EXCLUDED.rows_inserted,
    duplicates = imported_file.duplicates + EXCLUDED.duplicates,
    bad_lines = imported_file.bad_lines + EXCLUDED.bad_lines,
    imported_at = now()

-- name: finish_imported_file
UPDATE imported_file SET size_bytes = %s WHERE path = %s

-- name: quarantine_line
INSERT INTO quarantine (source, origin, line, raw, reason) VALUES ('import', %s, %s, %s, %s)

-- name: register_channel
INSERT INTO mpp_tracking_channel (board, channel) VALUES (%s, %s) ON CONFLICT DO NOTHING

-- name: register_temperature_sensor
INSERT INTO temperature_sensor (temperature_sensor_id, sensor_identifier) VALUES (%s, %s) ON CONFLICT DO NOTHING

-- name: temperature_sensor_id
SELECT temperature_sensor_id FROM temperature_sensor WHERE sensor_identifier = %s

-- name: register_irradiance_sensor
INSERT INTO irradiance_sensor (irradiance_sensor_id, sensor_identifier, channel) VALUES (%s, %s, %s) ON CONFLICT DO NOTHING

-- name: irradiance_sensor_id
SELECT irradiance_sensor_id FROM irradiance_sensor WHERE sensor_identifier = %s AND channel = %s

-- A chunk's time range (its first and last line, in either order) and whether the series already
-- holds a row within a second of it: if not, the chunk is COPYed straight into the table, and the
-- rollup trigger skips this transaction's inserts (migration 0011: the importer marks the chunk
-- itself, mark_chunk); else the staging path's rows are marked by the trigger as any writer's. A
-- savepoint around this and the COPY undoes the switch when the COPY falls back to staging.
-- name: chunk_range_mpp
SELECT c.lo, c.hi, c.overlap, set_config('perocube.importer_marks', CASE WHEN c.overlap THEN 'off' ELSE 'on' END, true)
FROM (SELECT r.lo, r.hi, EXISTS (SELECT 1 FROM mpp_measurement WHERE tracking_channel_board = %(b)s
                           AND tracking_channel_channel = %(c)s
                           AND "timestamp" BETWEEN r.lo - interval '1 second' AND r.hi + interval '1 second') AS overlap
      FROM (SELECT least(%(t0)s::timestamptz, %(t1)s::timestamptz) AS lo, greatest(%(t0)s::timestamptz, %(t1)s::timestamptz) AS hi) r) c

-- name: chunk_range_temperature
SELECT c.lo, c.hi, c.overlap, set_config('perocube.importer_marks', CASE WHEN c.overlap THEN 'off' ELSE 'on' END, true)
FROM (SELECT r.lo, r.hi, EXISTS (SELECT 1 FROM temperature_measurement WHERE temperature_sensor_id = %(s)s
                           AND "timestamp" BETWEEN r.lo - interval '1 second' AND r.hi + interval '1 second') AS overlap
      FROM (SELECT least(%(t0)s::timestamptz, %(t1)s::timestamptz) AS lo, greatest(%(t0)s::timestamptz, %(t1)s::timestamptz) AS hi) r) c

-- name: chunk_range_irradiance
SELECT c.lo, c.hi, c.overlap, set_config('perocube.importer_marks', CASE WHEN c.overlap THEN 'off' ELSE 'on' END, true)
FROM (SELECT r.lo, r.hi, EXISTS (SELECT 1 FROM irradiance_measurement WHERE irradiance_sensor_id = %(s)s
                           AND "timestamp" BETWEEN r.lo - interval '1 second' AND r.hi + interval '1 second') AS overlap
      FROM (SELECT least(%(t0)s::timestamptz, %(t1)s::timestamptz) AS lo, greatest(%(t0)s::timestamptz, %(t1)s::timestamptz) AS hi) r) c

-- The importer's own mark for a chunk it COPYed straight into the table, and the trigger's switch
-- back off in the same round trip (rows inserted from here on in this transaction are marked again)
-- name: mark_chunk
WITH mark AS (INSERT INTO rollup_dirty (kind, t0, t1, board, channel) VALUES (%s, %s, %s, %s, %s))
SELECT set_config('perocube.importer_marks', 'off', true)

-- Foreign keys checked once per channel and chunk instead of once per row: the same lock the
-- per-row check takes (FOR KEY SHARE: the channel cannot be deleted before this chunk commits)
-- name: lock_channel
SELECT 1 FROM mpp_tracking_channel WHERE board = %s AND channel = %s FOR KEY SHARE

-- name: lock_temperature_sensor
SELECT 1 FROM temperature_sensor WHERE temperature_sensor_id = %s FOR KEY SHARE

-- name: lock_irradiance_sensor
SELECT 1 FROM irradiance_sensor WHERE irradiance_sensor_id = %s FOR KEY SHARE

-- name: imported_files
SELECT path, size_bytes, mtime_ns, imported_bytes, lines FROM imported_file
