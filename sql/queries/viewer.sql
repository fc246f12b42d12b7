-- Viewer mode (monitor/live.py DatabasePoller): the newest rows of every series after a time,
-- per series through its (series, "timestamp") key, so the cost does not grow with the table.

-- name: new_mpp
SELECT c.board, c.channel, extract(epoch FROM m."timestamp")::float8 AS t, m.power, m.voltage, m.current
FROM mpp_tracking_channel c
CROSS JOIN LATERAL (SELECT "timestamp", power, voltage, current FROM mpp_measurement x
                    WHERE x.tracking_channel_board = c.board AND x.tracking_channel_channel = c.channel
                      AND x."timestamp" > %(since)s
                    ORDER BY "timestamp" DESC LIMIT %(limit)s) m

-- name: new_temperature
SELECT s.temperature_sensor_id::text, extract(epoch FROM m."timestamp")::float8, m.temperature
FROM temperature_sensor s
CROSS JOIN LATERAL (SELECT "timestamp", temperature FROM temperature_measurement x
                    WHERE x.temperature_sensor_id = s.temperature_sensor_id AND x."timestamp" > %(since)s
                    ORDER BY "timestamp" DESC LIMIT %(limit)s) m

-- name: new_irradiance
SELECT s.irradiance_sensor_id::text, extract(epoch FROM m."timestamp")::float8, m.irradiance
FROM irradiance_sensor s
CROSS JOIN LATERAL (SELECT "timestamp", irradiance FROM irradiance_measurement x
                    WHERE x.irradiance_sensor_id = s.irradiance_sensor_id AND x."timestamp" > %(since)s
                    ORDER BY "timestamp" DESC LIMIT %(limit)s) m
