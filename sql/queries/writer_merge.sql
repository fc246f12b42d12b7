-- The sensor rows' merge after COPY into _stage_ingest, one transaction. Which steps run, in
-- which order, and what their returned rows mean: ingest/writer.py, merge_steps().

-- name: resolve_temperature_sensors
-- a sensor registered by hand under another id keeps its id
UPDATE _stage_ingest s SET sensor = t.temperature_sensor_id::text
FROM temperature_sensor t
WHERE s.kind = 'temperature' AND s.ident IS NOT NULL AND t.sensor_identifier = s.ident
  AND s.sensor <> t.temperature_sensor_id::text

-- name: resolve_irradiance_sensors
UPDATE _stage_ingest s SET sensor = i.irradiance_sensor_id::text
FROM irradiance_sensor i
WHERE s.kind = 'irradiance' AND s.ident IS NOT NULL AND i.sensor_identifier = s.ident AND i.channel = s.ichan
  AND s.sensor <> i.irradiance_sensor_id::text

-- name: register_temperature_sensors
INSERT INTO temperature_sensor (temperature_sensor_id, sensor_identifier, date_installed)
SELECT DISTINCT ON (ident) sensor::uuid, ident, current_date FROM _stage_ingest
WHERE kind = 'temperature' AND ident IS NOT NULL
ON CONFLICT DO NOTHING
RETURNING 'temperature sensor ' || sensor_identifier

-- name: register_irradiance_sensors
INSERT INTO irradiance_sensor (irradiance_sensor_id, sensor_identifier, channel, date_installed)
SELECT DISTINCT ON (ident, ichan) sensor::uuid, ident, ichan, current_date FROM _stage_ingest
WHERE kind = 'irradiance' AND ident IS NOT NULL
ON CONFLICT DO NOTHING
RETURNING 'irradiance sensor ' || sensor_identifier || ' channel ' || channel

-- name: quarantine_unknown_sensors
WITH bad AS (
    DELETE FROM _stage_ingest s
    WHERE (s.kind = 'temperature'
           AND NOT EXISTS (SELECT 1 FROM temperature_sensor t WHERE t.temperature_sensor_id = s.sensor::uuid))
       OR (s.kind = 'irradiance'
           AND NOT EXISTS (SELECT 1 FROM irradiance_sensor i WHERE i.irradiance_sensor_id = s.sensor::uuid))
    RETURNING s.*
)
INSERT INTO quarantine (source, origin, raw, reason)
SELECT 'receiver', NULL, row_to_json(bad)::text, 'unknown ' || bad.kind || ' sensor_id ' || bad.sensor FROM bad
RETURNING reason

-- name: insert_temperature
INSERT INTO temperature_measurement ("timestamp", temperature, temperature_sensor_id)
SELECT timestamptz 'epoch' + ts_us * interval '1 microsecond', a, sensor::uuid FROM _stage_ingest WHERE kind = 'temperature'
ON CONFLICT DO NOTHING

-- name: insert_irradiance
INSERT INTO irradiance_measurement ("timestamp", irradiance, raw_reading, irradiance_sensor_id)
SELECT timestamptz 'epoch' + ts_us * interval '1 microsecond', a, b::integer, sensor::uuid FROM _stage_ingest WHERE kind = 'irradiance'
ON CONFLICT DO NOTHING

