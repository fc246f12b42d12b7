-- The wiring history (registry/wiring.py). Events at the same instant: DISCONNECTED first, then
-- CONNECTED, i.e. ORDER BY connection_datetime, (event_type = 'CONNECTED') (docs/lab-compat.md).

-- name: lock
SELECT pg_advisory_xact_lock(%s)

-- name: pixel_events
SELECT connection_datetime, event_type, tracking_channel_board, tracking_channel_channel
FROM measurement_connection_event WHERE solar_cell_id = %s AND pixel = %s
ORDER BY connection_datetime, (event_type = 'CONNECTED')

-- name: occupant
-- the pixel whose connected period on board/channel contains the time
WITH ev AS (
    SELECT solar_cell_id, pixel, connection_datetime, event_type, tracking_channel_board AS b,
           tracking_channel_channel AS c,
           lead(connection_datetime) OVER (PARTITION BY solar_cell_id, pixel
               ORDER BY connection_datetime, (event_type = 'CONNECTED')) AS next_t
    FROM measurement_connection_event)
SELECT solar_cell_id, pixel FROM ev
WHERE event_type = 'CONNECTED' AND b = %(board)s AND c = %(channel)s AND connection_datetime <= %(at)s
  AND (next_t IS NULL OR next_t > %(at)s)
LIMIT 1

-- name: wiring_at
SELECT board_number, channel_number, solar_cell_name, pixel_identifier, is_active, last_event_time, last_event_type
FROM get_board_connection_status(%s) ORDER BY 1, 2

-- name: timeline
SELECT connection_datetime, event_type, solar_cell_id, pixel, tracking_channel_board, tracking_channel_channel
FROM measurement_connection_event
WHERE (%(cell)s::text IS NULL OR solar_cell_id = %(cell)s)
  AND (%(pixel)s::text IS NULL OR pixel = %(pixel)s)
  AND (%(board)s::int IS NULL OR tracking_channel_board = %(board)s)
  AND (%(channel)s::int IS NULL OR tracking_channel_channel = %(channel)s)
ORDER BY connection_datetime, (event_type = 'CONNECTED'), solar_cell_id, pixel

-- name: next_connect_on_channel
-- the next pixel connected to board/channel after a time, before an optional end
SELECT solar_cell_id, pixel, connection_datetime FROM measurement_connection_event
WHERE tracking_channel_board = %(board)s AND tracking_channel_channel = %(channel)s AND event_type = 'CONNECTED'
  AND connection_datetime > %(at)s AND (%(end)s::timestamptz IS NULL OR connection_datetime < %(end)s)
ORDER BY connection_datetime LIMIT 1

-- name: insert_event
INSERT INTO measurement_connection_event (solar_cell_id, pixel, tracking_channel_board, tracking_channel_channel,
    temperature_sensor_id, irradiance_sensor_id, mppt_mode, mppt_polarity, connection_datetime, event_type)
VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)

-- name: ensure_channel
INSERT INTO mpp_tracking_channel (board, channel) VALUES (%s, %s) ON CONFLICT DO NOTHING

-- name: event_channel
SELECT tracking_channel_board, tracking_channel_channel FROM measurement_connection_event
WHERE solar_cell_id = %s AND pixel = %s AND connection_datetime = %s AND event_type = %s

-- name: channel_rows_between
SELECT count(*) FROM mpp_measurement
WHERE tracking_channel_board = %s AND tracking_channel_channel = %s AND "timestamp" >= %s AND "timestamp" < %s

-- name: delete_event
DELETE FROM measurement_connection_event
WHERE solar_cell_id = %s AND pixel = %s AND connection_datetime = %s AND event_type = %s

-- name: move_event
UPDATE measurement_connection_event SET connection_datetime = %s
WHERE solar_cell_id = %s AND pixel = %s AND connection_datetime = %s AND event_type = %s
