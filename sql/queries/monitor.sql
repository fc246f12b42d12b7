-- name: connections_now
SELECT board_number, channel_number, solar_cell_name, pixel_identifier, is_active, last_event_time
FROM get_board_connection_status(now())

-- name: channels
SELECT board, channel FROM mpp_tracking_channel ORDER BY board, channel

-- name: temperature_sensors
SELECT temperature_sensor_id::text, sensor_identifier, location FROM temperature_sensor ORDER BY sensor_identifier

-- name: irradiance_sensors
SELECT irradiance_sensor_id::text, sensor_identifier, channel, location FROM irradiance_sensor ORDER BY sensor_identifier, channel

-- name: recent_quarantine
SELECT received_at, source, coalesce(origin, ''), line, reason, left(raw, 300) FROM quarantine ORDER BY id DESC LIMIT %s

-- name: data_extent
SELECT extract(epoch FROM min("timestamp"))::float8, extract(epoch FROM max("timestamp"))::float8
FROM mpp_measurement WHERE (tracking_channel_board, tracking_channel_channel) IN
      (SELECT * FROM unnest(%s::int[], %s::int[]))

-- name: latest_mpp
-- the overview's tiles before live data arrives: each channel's newest stored sample
SELECT c.board, c.channel, extract(epoch FROM m."timestamp")::float8 AS t, m.power AS value
FROM mpp_tracking_channel c
CROSS JOIN LATERAL (SELECT "timestamp", power FROM mpp_measurement x
                    WHERE x.tracking_channel_board = c.board AND x.tracking_channel_channel = c.channel
                    ORDER BY "timestamp" DESC LIMIT 1) m

-- name: latest_sensors
-- the overview's tiles before live data arrives: each sensor's newest stored sample
SELECT 'temperature' AS kind, s.temperature_sensor_id::text AS sensor, extract(epoch FROM m."timestamp")::float8 AS t,
       m.temperature AS value
FROM temperature_sensor s
CROSS JOIN LATERAL (SELECT "timestamp", temperature FROM temperature_measurement x
                    WHERE x.temperature_sensor_id = s.temperature_sensor_id ORDER BY "timestamp" DESC LIMIT 1) m
UNION ALL
SELECT 'irradiance', s.irradiance_sensor_id::text, extract(epoch FROM m."timestamp")::float8, m.irradiance
FROM irradiance_sensor s
CROSS JOIN LATERAL (SELECT "timestamp", irradiance FROM irradiance_measurement x
                    WHERE x.irradiance_sensor_id = s.irradiance_sensor_id ORDER BY "timestamp" DESC LIMIT 1) m
