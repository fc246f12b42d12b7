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
-- a pixel's connected periods; events at one instant: DISCONNECTED first, then CONNECTED (spec)
WITH ev AS (
    SELECT connection_datetime, event_type, tracking_channel_board AS b, tracking_channel_channel AS c,
           temperature_sensor_id, irradiance_sensor_id, mppt_mode, mppt_polarity,
           lead(connection_datetime) OVER (ORDER BY connection_datetime, (event_type = 'CONNECTED')) AS next_t
    FROM measurement_connection_event WHERE solar_cell_id = %s AND pixel = %s
)
SELECT b, c, extract(epoch FROM connection_datetime)::float8,
       extract(epoch FROM coalesce(next_t, now()))::float8,
       temperature_sensor_id::text, irradiance_sensor_id::text, mppt_mode, mppt_polarity
FROM ev WHERE event_type = 'CONNECTED' ORDER BY connection_datetime

-- name: device_info
SELECT d.name, d.technology, d.structure, d.form_factor, d.encapsulation, d.date_produced, d.date_encapsulated,
       d.area, d.initial_pce, x.name AS experiment, o.name AS owner, pr.name AS producer
FROM solar_cell_device d
LEFT JOIN experiment x ON x.experiment_id = d.experiment_id
LEFT JOIN scientist o ON o.scientist_id = d.owner_id
LEFT JOIN scientist pr ON pr.scientist_id = d.producer_id
WHERE d.name = ANY(%s)

-- name: sensor_info
SELECT 'irradiance' AS kind, irradiance_sensor_id::text AS sensor_id, sensor_identifier || ' ch ' || channel AS label,
       location, installation_angle AS angle
FROM irradiance_sensor WHERE irradiance_sensor_id = ANY(%s::uuid[])
UNION ALL
SELECT 'temperature', temperature_sensor_id::text, sensor_identifier, location, NULL
FROM temperature_sensor WHERE temperature_sensor_id = ANY(%s::uuid[])

-- name: mpp_series
-- every requested (board, channel, from, to) in one pass over the rollup (a channel's rows are spread
-- over the whole table, so one scan beats one index scan per channel). Each column comes as one bytea
-- of big-endian values (int4 k, then float8, NULL as NaN) that numpy reads directly; string_agg of
-- float8send costs the server half of what array_agg does. Rows in no particular order, the same in
-- every column: k (1-based index of the request), minute centre, samples, power mean/min/max,
-- voltage mean, current mean
SELECT string_agg(int4send(p.k::int4), ''::bytea),
       string_agg(float8send(date_part('epoch', r.bucket) + 30), ''::bytea),
       string_agg(float8send(r.n::float8), ''::bytea),
       string_agg(float8send(coalesce(r.power_mean, 'NaN')), ''::bytea),
       string_agg(float8send(coalesce(r.power_min, 'NaN')), ''::bytea),
       string_agg(float8send(coalesce(r.power_max, 'NaN')), ''::bytea),
       string_agg(float8send(coalesce(r.voltage_mean, 'NaN')), ''::bytea),
       string_agg(float8send(coalesce(r.current_mean, 'NaN')), ''::bytea)
FROM unnest(%s::int[], %s::int[], %s::timestamptz[], %s::timestamptz[]) WITH ORDINALITY AS p(b, c, t0, t1, k)
JOIN mpp_rollup_1m r ON r.tracking_channel_board = p.b AND r.tracking_channel_channel = p.c
 AND r.bucket >= p.t0 AND r.bucket < p.t1
WHERE r.bucket >= %s AND r.bucket < %s  -- the union of the ranges: lets TimescaleDB skip chunks

-- name: irradiance_series
SELECT string_agg(int4send(p.k::int4), ''::bytea),
       string_agg(float8send(date_part('epoch', r.bucket) + 30), ''::bytea),
       string_agg(float8send(coalesce(r.irradiance_mean, 'NaN')), ''::bytea)
FROM unnest(%s::uuid[], %s::timestamptz[], %s::timestamptz[]) WITH ORDINALITY AS p(id, t0, t1, k)
JOIN irradiance_rollup_1m r ON r.irradiance_sensor_id = p.id AND r.bucket >= p.t0 AND r.bucket < p.t1

-- name: temperature_series
SELECT string_agg(int4send(p.k::int4), ''::bytea),
       string_agg(float8send(date_part('epoch', r.bucket) + 30), ''::bytea),
       string_agg(float8send(coalesce(r.temperature_mean, 'NaN')), ''::bytea)
FROM unnest(%s::uuid[], %s::timestamptz[], %s::timestamptz[]) WITH ORDINALITY AS p(id, t0, t1, k)
JOIN temperature_rollup_1m r ON r.temperature_sensor_id = p.id AND r.bucket >= p.t0 AND r.bucket < p.t1

-- name: irradiance_sensor_by_name
SELECT irradiance_sensor_id::text FROM irradiance_sensor WHERE sensor_identifier = %s AND channel = %s

-- name: temperature_sensor_by_name
SELECT temperature_sensor_id::text FROM temperature_sensor WHERE sensor_identifier = %s

-- name: irradiance_sensor_for_board
-- heuristic fallback when neither the event nor the config names one: the sensor channel numbered like the board
SELECT irradiance_sensor_id::text FROM irradiance_sensor WHERE channel = %s ORDER BY sensor_identifier LIMIT 1

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

-- name: device_names
SELECT name FROM solar_cell_device ORDER BY name

-- name: pending_kinds
-- kinds with rows the rollups have not caught up on yet (marks of the table triggers, migration 0007)
SELECT DISTINCT kind FROM rollup_dirty

-- name: mpp_series_fallback
-- mpp_series through perocube_mpp_rollup (migration 0008): marked buckets are computed from the raw
-- rows, so rows another client wrote since the last refresh are in the report. Same parameters.
WITH p AS (SELECT * FROM unnest(%s::int[], %s::int[], %s::timestamptz[], %s::timestamptz[])
                         WITH ORDINALITY AS p(b, c, t0, t1, k))
SELECT string_agg(int4send(p.k::int4), ''::bytea),
       string_agg(float8send(date_part('epoch', r.bucket) + 30), ''::bytea),
       string_agg(float8send(r.n::float8), ''::bytea),
       string_agg(float8send(coalesce(r.power_mean, 'NaN')), ''::bytea),
       string_agg(float8send(coalesce(r.power_min, 'NaN')), ''::bytea),
       string_agg(float8send(coalesce(r.power_max, 'NaN')), ''::bytea),
       string_agg(float8send(coalesce(r.voltage_mean, 'NaN')), ''::bytea),
       string_agg(float8send(coalesce(r.current_mean, 'NaN')), ''::bytea)
FROM p
JOIN perocube_mpp_rollup(interval '1 minute', (SELECT array_agg(b) FROM p), (SELECT array_agg(c) FROM p), %s, %s) r
  ON r.tracking_channel_board = p.b AND r.tracking_channel_channel = p.c AND r.bucket >= p.t0 AND r.bucket < p.t1

-- name: irradiance_series_fallback
WITH p AS (SELECT * FROM unnest(%s::uuid[], %s::timestamptz[], %s::timestamptz[]) WITH ORDINALITY AS p(id, t0, t1, k))
SELECT string_agg(int4send(p.k::int4), ''::bytea),
       string_agg(float8send(date_part('epoch', r.bucket) + 30), ''::bytea),
       string_agg(float8send(coalesce(r.value_mean, 'NaN')), ''::bytea)
FROM p
JOIN perocube_sensor_rollup('irradiance', interval '1 minute', (SELECT array_agg(id) FROM p),
                            (SELECT min(t0) FROM p), (SELECT max(t1) FROM p)) r
  ON r.sensor_id = p.id AND r.bucket >= p.t0 AND r.bucket < p.t1

-- name: temperature_series_fallback
WITH p AS (SELECT * FROM unnest(%s::uuid[], %s::timestamptz[], %s::timestamptz[]) WITH ORDINALITY AS p(id, t0, t1, k))
SELECT string_agg(int4send(p.k::int4), ''::bytea),
       string_agg(float8send(date_part('epoch', r.bucket) + 30), ''::bytea),
       string_agg(float8send(coalesce(r.value_mean, 'NaN')), ''::bytea)
FROM p
JOIN perocube_sensor_rollup('temperature', interval '1 minute', (SELECT array_agg(id) FROM p),
                            (SELECT min(t0) FROM p), (SELECT max(t1) FROM p)) r
  ON r.sensor_id = p.id AND r.bucket >= p.t0 AND r.bucket < p.t1
