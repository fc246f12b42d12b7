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

-- name: overlap_mpp
SELECT EXISTS (SELECT 1 FROM mpp_measurement WHERE tracking_channel_board = %s AND tracking_channel_channel = %s
               AND "timestamp" BETWEEN least(%s::timestamptz, %s::timestamptz) - interval '1 second'
                                   AND greatest(%s::timestamptz, %s::timestamptz) + interval '1 second')

-- name: overlap_temperature
SELECT EXISTS (SELECT 1 FROM temperature_measurement WHERE temperature_sensor_id = %s
               AND "timestamp" BETWEEN least(%s::timestamptz, %s::timestamptz) - interval '1 second'
                                   AND greatest(%s::timestamptz, %s::timestamptz) + interval '1 second')

-- name: overlap_irradiance
SELECT EXISTS (SELECT 1 FROM irradiance_measurement WHERE irradiance_sensor_id = %s
               AND "timestamp" BETWEEN least(%s::timestamptz, %s::timestamptz) - interval '1 second'
                                   AND greatest(%s::timestamptz, %s::timestamptz) + interval '1 second')

-- name: imported_files
SELECT path, size_bytes, mtime_ns, imported_bytes, lines FROM imported_file
