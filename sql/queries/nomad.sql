-- Raw samples for the NOMAD export (export/nomad_zip.py): CSV streamed into the upload zip with COPY.
-- Times in UTC without a zone suffix (the column name says so); one header line per query.

-- name: mpp_raw_csv
-- a pixel's raw MPP samples on one channel within [from, to)
COPY (SELECT "timestamp" AT TIME ZONE 'UTC' AS time_utc, tracking_channel_board AS board,
             tracking_channel_channel AS channel, power AS power_mW, current AS current_mA, voltage AS voltage_V
      FROM mpp_measurement
      WHERE tracking_channel_board = %s AND tracking_channel_channel = %s AND "timestamp" >= %s AND "timestamp" < %s
      ORDER BY "timestamp") TO STDOUT WITH (FORMAT csv, HEADER %s)

-- name: temperature_raw_csv
COPY (SELECT m."timestamp" AT TIME ZONE 'UTC' AS time_utc, s.sensor_identifier AS sensor, m.temperature AS temperature_C
      FROM temperature_measurement m JOIN temperature_sensor s USING (temperature_sensor_id)
      WHERE m.temperature_sensor_id = %s::uuid AND m."timestamp" >= %s AND m."timestamp" < %s
      ORDER BY m."timestamp") TO STDOUT WITH (FORMAT csv, HEADER %s)

-- name: irradiance_raw_csv
COPY (SELECT m."timestamp" AT TIME ZONE 'UTC' AS time_utc, s.sensor_identifier || ' ch ' || s.channel AS sensor,
             m.irradiance AS irradiance_Wm2
      FROM irradiance_measurement m JOIN irradiance_sensor s USING (irradiance_sensor_id)
      WHERE m.irradiance_sensor_id = %s::uuid AND m."timestamp" >= %s AND m."timestamp" < %s
      ORDER BY m."timestamp") TO STDOUT WITH (FORMAT csv, HEADER %s)
