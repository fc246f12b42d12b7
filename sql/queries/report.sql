-- name: pixels
SELECT solar_cell_name, pixel_identifier FROM get_queryable_solar_cell_pixels() ORDER BY 1, 2

-- name: pixels_on_board
SELECT DISTINCT solar_cell_id, pixel FROM measurement_connection_event
WHERE tracking_channel_board = %s AND event_type = 'CONNECTED' ORDER BY 1, 2

-- name: pixel_info
SELECT coalesce(p.active_area, d.area), coalesce(p.initial_pce, d.initial_pce)
FROM solar_cell_pixel p JOIN solar_cell_device d ON d.name = p.solar_cell_id
WHERE p.solar_cell_id = %s AND p.pixel = %s

-- name: pixel_periods
WITH ev AS (
    SELECT connection_datetime, event_type, tracking_channel_board AS b, tracking_channel_channel AS c,
           temperature_sensor_id, irradiance_sensor_id,
           lead(connection_datetime) OVER (ORDER BY connection_datetime, (event_type = 'CONNECTED')) AS next_t
    FROM measurement_connection_event WHERE solar_cell_id = %s AND pixel = %s
)
SELECT b, c, extract(epoch FROM connection_datetime)::float8,
       extract(epoch FROM coalesce(next_t, now()))::float8,
       temperature_sensor_id::text, irradiance_sensor_id::text
FROM ev WHERE event_type = 'CONNECTED' ORDER BY connection_datetime

-- name: mpp_series
SELECT extract(epoch FROM bucket)::float8 + 30, power_mean, voltage_mean, current_mean, power_max
FROM mpp_rollup_1m
WHERE tracking_channel_board = %s AND tracking_channel_channel = %s
  AND bucket >= to_timestamp(%s) AND bucket < to_timestamp(%s)
ORDER BY bucket

-- name: irradiance_series
SELECT extract(epoch FROM bucket)::float8 + 30, irradiance_mean FROM irradiance_rollup_1m
WHERE irradiance_sensor_id = %s::uuid AND bucket >= to_timestamp(%s) AND bucket < to_timestamp(%s) ORDER BY bucket

-- name: temperature_series
SELECT extract(epoch FROM bucket)::float8 + 30, temperature_mean FROM temperature_rollup_1m
WHERE temperature_sensor_id = %s::uuid AND bucket >= to_timestamp(%s) AND bucket < to_timestamp(%s) ORDER BY bucket

-- name: irradiance_sensor_by_name
SELECT irradiance_sensor_id::text FROM irradiance_sensor WHERE sensor_identifier = %s AND channel = %s

-- name: temperature_sensor_by_name
SELECT temperature_sensor_id::text FROM temperature_sensor WHERE sensor_identifier = %s

-- name: irradiance_sensor_for_board
-- heuristic fallback when neither the event nor the config names one: the sensor channel numbered like the board
SELECT irradiance_sensor_id::text FROM irradiance_sensor WHERE channel = %s ORDER BY sensor_identifier LIMIT 1

-- name: channel_stats
SELECT tracking_channel_board, tracking_channel_channel, count(*),
       min(power), max(power), avg(power), stddev(power),
       min(voltage), max(voltage), avg(voltage), stddev(voltage),
       min(current), max(current), avg(current), stddev(current)
FROM mpp_measurement
WHERE (tracking_channel_board, tracking_channel_channel) IN (SELECT * FROM unnest(%s::int[], %s::int[]))
  AND "timestamp" >= to_timestamp(%s) AND "timestamp" < to_timestamp(%s)
GROUP BY 1, 2 ORDER BY 1, 2

-- name: irradiance_stats
SELECT s.sensor_identifier || ' ch ' || s.channel, count(*), min(m.irradiance), max(m.irradiance), avg(m.irradiance),
       stddev(m.irradiance)
FROM irradiance_measurement m JOIN irradiance_sensor s USING (irradiance_sensor_id)
WHERE m.irradiance_sensor_id = ANY(%s::uuid[]) AND m."timestamp" >= to_timestamp(%s) AND m."timestamp" < to_timestamp(%s)
GROUP BY 1 ORDER BY 1

-- name: temperature_stats
SELECT s.sensor_identifier, count(*), min(m.temperature), max(m.temperature), avg(m.temperature), stddev(m.temperature)
FROM temperature_measurement m JOIN temperature_sensor s USING (temperature_sensor_id)
WHERE m.temperature_sensor_id = ANY(%s::uuid[]) AND m."timestamp" >= to_timestamp(%s) AND m."timestamp" < to_timestamp(%s)
GROUP BY 1 ORDER BY 1

-- name: pixels_in_experiment
SELECT DISTINCT e.solar_cell_id, e.pixel FROM measurement_connection_event e
JOIN solar_cell_device d ON d.name = e.solar_cell_id
JOIN experiment x ON x.experiment_id = d.experiment_id
WHERE x.name = %s AND e.event_type = 'CONNECTED' ORDER BY 1, 2

-- name: pixels_in_project
-- a device belongs to a project through its experiment
SELECT DISTINCT e.solar_cell_id, e.pixel FROM measurement_connection_event e
JOIN solar_cell_device d ON d.name = e.solar_cell_id
JOIN experiment_contributed_project c ON c.experiment_id = d.experiment_id
JOIN project p ON p.project_id = c.project_id
WHERE p.name = %s AND e.event_type = 'CONNECTED'
ORDER BY 1, 2

-- name: experiment_names
SELECT name FROM experiment ORDER BY name

-- name: project_names
SELECT name FROM project ORDER BY name
