-- Read API (perocube_desktop/api). Templates in braces are filled by api/query.py with
-- psycopg.sql: {table} {rollup} {cols} {order} are identifiers / ASC|DESC from a whitelist,
-- {filter} is one of the filter_* fragments below. Values are always parameters.
-- Time bounds: t0/t1 are the caller's start_time/end_time (inclusive, null = open);
-- w0/w1 a window [w0, w1) chosen by the pager (null = open).

-- name: filter_mpp
(%(board)s::int IS NULL OR tracking_channel_board = %(board)s::int)
AND (%(channel)s::int IS NULL OR tracking_channel_channel = %(channel)s::int)

-- name: filter_temperature
(%(sensor)s::uuid IS NULL OR temperature_sensor_id = %(sensor)s::uuid)

-- name: filter_irradiance
(%(sensor)s::uuid IS NULL OR irradiance_sensor_id = %(sensor)s::uuid)

-- name: page
-- one page as a JSON array (timestamps ISO 8601 in the session time zone, UTC)
SELECT coalesce(json_agg(r), '[]'::json)::text FROM (
    SELECT {cols} FROM {table}
    WHERE {filter}
      AND "timestamp" >= coalesce(%(t0)s::timestamptz, '-infinity') AND "timestamp" <= coalesce(%(t1)s::timestamptz, 'infinity')
      AND "timestamp" >= coalesce(%(w0)s::timestamptz, '-infinity') AND "timestamp" < coalesce(%(w1)s::timestamptz, 'infinity')
    ORDER BY {order}
    LIMIT %(limit)s OFFSET %(offset)s) r

-- name: csv
COPY (SELECT {cols} FROM {table}
      WHERE {filter}
        AND "timestamp" >= coalesce(%(t0)s::timestamptz, '-infinity') AND "timestamp" <= coalesce(%(t1)s::timestamptz, 'infinity')
      ORDER BY {order})
TO STDOUT WITH (FORMAT csv, HEADER)

-- name: rollup_counts
-- rows per rollup bucket (all selected series together) in [w0, w1)
SELECT bucket, sum(n)::bigint FROM {rollup}
WHERE {filter} AND bucket >= %(w0)s::timestamptz AND bucket < %(w1)s::timestamptz
GROUP BY bucket ORDER BY bucket

-- name: raw_counts
-- rows per minute from the raw table in [w0, w1) and inside [t0, t1]
SELECT date_bin('1 minute', "timestamp", 'epoch') AS b, count(*) FROM {table}
WHERE {filter}
  AND "timestamp" >= coalesce(%(t0)s::timestamptz, '-infinity') AND "timestamp" <= coalesce(%(t1)s::timestamptz, 'infinity')
  AND "timestamp" >= %(w0)s::timestamptz AND "timestamp" < %(w1)s::timestamptz
GROUP BY b ORDER BY b

-- name: extent
-- first and last bucket of the selection in the hourly rollup (bounds for an open time range)
SELECT min(bucket), max(bucket) + interval '1 hour' FROM {rollup} WHERE {filter}

-- name: capped_count
SELECT count(*) FROM (SELECT 1 FROM {table}
    WHERE {filter}
      AND "timestamp" >= coalesce(%(t0)s::timestamptz, '-infinity') AND "timestamp" <= coalesce(%(t1)s::timestamptz, 'infinity')
    LIMIT %(cap)s) s

-- name: estimate
-- the planner's row estimate for the selection (fallback total when the rollups cannot count it)
EXPLAIN (FORMAT JSON) SELECT 1 FROM {table}
WHERE {filter}
  AND "timestamp" >= coalesce(%(t0)s::timestamptz, '-infinity') AND "timestamp" <= coalesce(%(t1)s::timestamptz, 'infinity')

-- name: timescale_realtime_lag
-- seconds of raw data above a continuous aggregate's watermark: what every query of the aggregate
-- recomputes from raw rows (large when it was never refreshed after an import)
SELECT extract(epoch FROM (SELECT max("timestamp") FROM {table}))
       - _timescaledb_functions.cagg_watermark(c.mat_hypertable_id) / 1e6
FROM _timescaledb_catalog.continuous_agg c WHERE c.user_view_name = %(rollup)s

-- name: dirty_ranges
-- ranges whose rollups are not refreshed yet (plain PostgreSQL: the writer and importer mark them)
SELECT t0, t1 FROM rollup_dirty WHERE kind = %(kind)s ORDER BY t0

-- name: timescale_invalid_ranges
-- TimescaleDB: ranges of a continuous aggregate not materialised consistently below its watermark
-- (its invalidation logs, migration 0013); open ends as the years 1 and 9999 (Python datetimes
-- have no infinity). Any error here means "unknown" to the caller.
SELECT greatest(t0, '0001-01-02 00:00+00'), least(t1, '9999-12-30 00:00+00')
FROM perocube_timescaledb_stale(%(rollup)s)

-- name: mpp_statistics
SELECT count(*), avg(current), avg(voltage), avg(power), max(power), min(power), min("timestamp"), max("timestamp")
FROM mpp_measurement
WHERE {filter}
  AND "timestamp" >= coalesce(%(t0)s::timestamptz, '-infinity') AND "timestamp" <= coalesce(%(t1)s::timestamptz, 'infinity')

-- name: temperature_statistics
SELECT count(*), avg(temperature), max(temperature), min(temperature), min("timestamp"), max("timestamp")
FROM temperature_measurement
WHERE {filter}
  AND "timestamp" >= coalesce(%(t0)s::timestamptz, '-infinity') AND "timestamp" <= coalesce(%(t1)s::timestamptz, 'infinity')

-- name: irradiance_statistics
SELECT count(*), avg(irradiance), max(irradiance), min(irradiance), min("timestamp"), max("timestamp")
FROM irradiance_measurement
WHERE {filter}
  AND "timestamp" >= coalesce(%(t0)s::timestamptz, '-infinity') AND "timestamp" <= coalesce(%(t1)s::timestamptz, 'infinity')

-- name: channel_exists
SELECT 1 FROM mpp_tracking_channel
WHERE (%(board)s::int IS NULL OR board = %(board)s::int) AND (%(channel)s::int IS NULL OR channel = %(channel)s::int)
LIMIT 1

-- name: temperature_sensor_exists
SELECT 1 FROM temperature_sensor WHERE temperature_sensor_id = %(sensor)s::uuid

-- name: irradiance_sensor_exists
SELECT 1 FROM irradiance_sensor WHERE irradiance_sensor_id = %(sensor)s::uuid

-- name: pixel_known
-- (device known, pixel known, boards, channels): a pixel is known when registered or named by a
-- connection event; boards/channels: where it was ever connected (the pixel_raw planner hint)
SELECT EXISTS (SELECT 1 FROM solar_cell_device WHERE name = %(device)s),
       EXISTS (SELECT 1 FROM solar_cell_pixel WHERE solar_cell_id = %(device)s AND pixel = %(pixel)s)
       OR EXISTS (SELECT 1 FROM measurement_connection_event WHERE solar_cell_id = %(device)s AND pixel = %(pixel)s),
       ARRAY(SELECT DISTINCT tracking_channel_board FROM measurement_connection_event
             WHERE solar_cell_id = %(device)s AND pixel = %(pixel)s AND event_type = 'CONNECTED'),
       ARRAY(SELECT DISTINCT tracking_channel_channel FROM measurement_connection_event
             WHERE solar_cell_id = %(device)s AND pixel = %(pixel)s AND event_type = 'CONNECTED')

-- name: devices
SELECT coalesce(json_agg(d ORDER BY d.name), '[]'::json)::text FROM (
    SELECT name, nomad_id, technology, form_factor, experiment_id, owner_id, producer_id, date_produced,
           date_encapsulated, encapsulation, area, initial_pce
    FROM solar_cell_device
    WHERE (%(experiment_id)s::uuid IS NULL OR experiment_id = %(experiment_id)s::uuid)
      AND (%(owner_id)s::uuid IS NULL OR owner_id = %(owner_id)s::uuid)) d

-- name: experiments
SELECT coalesce(json_agg(x ORDER BY x.name), '[]'::json)::text FROM (
    SELECT e.experiment_id, e.name, e.start_date, e.end_date,
           coalesce((SELECT json_agg(json_build_object('scientist_id', s.scientist_id, 'name', s.name) ORDER BY s.name)
                     FROM scientist_performed_experiment se JOIN scientist s USING (scientist_id)
                     WHERE se.experiment_id = e.experiment_id), '[]'::json) AS scientists
    FROM experiment e
    WHERE (%(project_id)s::uuid IS NULL OR EXISTS (
               SELECT 1 FROM experiment_contributed_project p
               WHERE p.experiment_id = e.experiment_id AND p.project_id = %(project_id)s::uuid))
      AND (%(scientist_id)s::uuid IS NULL OR EXISTS (
               SELECT 1 FROM scientist_performed_experiment p
               WHERE p.experiment_id = e.experiment_id AND p.scientist_id = %(scientist_id)s::uuid))) x

-- name: pixels
-- every pixel with at least one CONNECTED event: the lab's function for the pixel list and its
-- activity range; the current channel is the channel of the pixel's latest event when that is a
-- CONNECTED (events at the same instant: DISCONNECTED first, then CONNECTED)
SELECT coalesce(json_agg(p ORDER BY p.device, p.pixel), '[]'::json)::text FROM (
    SELECT q.solar_cell_name AS device, q.pixel_identifier AS pixel,
           px.active_area, d.area AS device_area,
           cur.tracking_channel_board AS board, cur.tracking_channel_channel AS channel,
           (cur.event_type = 'CONNECTED') AS connected,
           r.calculated_start_datetime AS activity_start, r.calculated_end_datetime AS activity_end,
           q.first_connection_event_time, q.last_event_time, q.last_event_type_recorded
    FROM get_queryable_solar_cell_pixels() q
    CROSS JOIN LATERAL get_pixel_activity_range(q.solar_cell_name, q.pixel_identifier) r
    LEFT JOIN solar_cell_pixel px ON px.solar_cell_id = q.solar_cell_name AND px.pixel = q.pixel_identifier
    LEFT JOIN solar_cell_device d ON d.name = q.solar_cell_name
    LEFT JOIN LATERAL (
        SELECT CASE WHEN e.event_type = 'CONNECTED' THEN e.tracking_channel_board END AS tracking_channel_board,
               CASE WHEN e.event_type = 'CONNECTED' THEN e.tracking_channel_channel END AS tracking_channel_channel,
               e.event_type
        FROM measurement_connection_event e
        WHERE e.solar_cell_id = q.solar_cell_name AND e.pixel = q.pixel_identifier
        ORDER BY e.connection_datetime DESC, (e.event_type = 'CONNECTED') DESC LIMIT 1) cur ON true) p

-- name: pixel_raw
-- a pixel's MPP rows through its wiring history: the lab's function, as notebooks call it. The
-- boards/channels the pixel was ever connected to (pixel_known) are repeated as constants:
-- redundant for the result, but they let the planner use the (board, channel, time) key in every
-- chunk instead of scanning a day of all channels by time
SELECT coalesce(json_agg(r), '[]'::json)::text FROM (
    SELECT "timestamp", current, voltage, power, tracking_channel_board, tracking_channel_channel, connection_event_time
    FROM get_mpp_data_for_pixel(%(device)s::varchar, %(pixel)s::varchar,
                                coalesce(%(t0)s::timestamptz, '-infinity'), coalesce(%(t1)s::timestamptz, 'infinity'))
    WHERE tracking_channel_board = ANY(%(boards)s::int[]) AND tracking_channel_channel = ANY(%(channels)s::int[])) r

-- name: pixel_raw_csv
COPY (SELECT "timestamp", current, voltage, power, tracking_channel_board, tracking_channel_channel, connection_event_time
      FROM get_mpp_data_for_pixel(%(device)s::varchar, %(pixel)s::varchar,
                                  coalesce(%(t0)s::timestamptz, '-infinity'), coalesce(%(t1)s::timestamptz, 'infinity'))
      WHERE tracking_channel_board = ANY(%(boards)s::int[]) AND tracking_channel_channel = ANY(%(channels)s::int[]))
TO STDOUT WITH (FORMAT csv, HEADER)

-- name: pixel_rollup
-- one connected period of a pixel (from report.sql pixel_periods) in the plots' rollup {rollup}
SELECT coalesce(json_agg(r), '[]'::json)::text FROM (
    SELECT bucket AS "timestamp", n, current_mean AS current, voltage_mean AS voltage, power_mean AS power,
           power_min, power_max, tracking_channel_board, tracking_channel_channel,
           to_timestamp(%(period)s) AS connection_event_time
    FROM {rollup}
    WHERE tracking_channel_board = %(board)s AND tracking_channel_channel = %(channel)s
      AND bucket >= greatest(to_timestamp(%(p0)s), coalesce(%(t0)s::timestamptz, '-infinity'))
      AND bucket < to_timestamp(%(p1)s) AND bucket <= coalesce(%(t1)s::timestamptz, 'infinity')
    ORDER BY bucket) r

-- name: board_status
SELECT coalesce(json_agg(s), '[]'::json)::text FROM (
    SELECT board_number, channel_number, solar_cell_name, pixel_identifier, is_active, last_event_time, last_event_type
    FROM get_board_connection_status(coalesce(%(at)s::timestamptz, now()))) s

-- name: health
SELECT now(), EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'timescaledb')
