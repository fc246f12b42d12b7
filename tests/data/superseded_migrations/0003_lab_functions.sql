-- The six functions the lab's notebooks call, with the spec's names and signatures.
-- A pixel is on a channel from a CONNECTED event until the pixel's next event.

CREATE OR REPLACE FUNCTION get_pixel_activity_range(solar_cell_id varchar, pixel varchar)
RETURNS TABLE (calculated_start_datetime timestamptz, calculated_end_datetime timestamptz)
LANGUAGE sql STABLE AS $$
    WITH ev AS (
        SELECT e.connection_datetime, e.event_type
        FROM measurement_connection_event e
        WHERE e.solar_cell_id = $1 AND e.pixel = $2
    ), first_conn AS (
        SELECT min(connection_datetime) AS t FROM ev WHERE event_type = 'CONNECTED'
    ), last_ev AS (
        SELECT connection_datetime, event_type FROM ev
        ORDER BY connection_datetime DESC, (event_type = 'DISCONNECTED') DESC LIMIT 1
    )
    SELECT f.t,
           CASE WHEN f.t IS NULL THEN NULL
                WHEN l.event_type = 'DISCONNECTED' THEN l.connection_datetime
                ELSE now() END
    FROM first_conn f LEFT JOIN last_ev l ON true
$$;

CREATE OR REPLACE FUNCTION get_mpp_data_for_pixel(solar_cell_id varchar, pixel varchar, "start" timestamptz, "end" timestamptz)
RETURNS TABLE ("timestamp" timestamptz, current double precision, voltage double precision, power double precision,
               tracking_channel_board integer, tracking_channel_channel integer, connection_event_time timestamptz)
LANGUAGE sql STABLE AS $$
    WITH ev AS (
        SELECT e.connection_datetime, e.event_type, e.tracking_channel_board AS b, e.tracking_channel_channel AS c,
               lead(e.connection_datetime) OVER (ORDER BY e.connection_datetime, (e.event_type = 'CONNECTED')) AS next_t
        FROM measurement_connection_event e
        WHERE e.solar_cell_id = $1 AND e.pixel = $2
    ), periods AS (
        SELECT connection_datetime AS t0, coalesce(next_t, 'infinity'::timestamptz) AS t1, b, c
        FROM ev WHERE event_type = 'CONNECTED'
    )
    SELECT m."timestamp", m.current, m.voltage, m.power, m.tracking_channel_board, m.tracking_channel_channel, p.t0
    FROM periods p
    JOIN mpp_measurement m
      ON m.tracking_channel_board = p.b AND m.tracking_channel_channel = p.c
     AND m."timestamp" >= greatest(p.t0, $3) AND m."timestamp" < p.t1 AND m."timestamp" <= $4
    ORDER BY m."timestamp"
$$;

CREATE OR REPLACE FUNCTION get_mpp_data_for_pixel(solar_cell_id varchar, pixel varchar)
RETURNS TABLE ("timestamp" timestamptz, current double precision, voltage double precision, power double precision,
               tracking_channel_board integer, tracking_channel_channel integer, connection_event_time timestamptz)
LANGUAGE sql STABLE AS $$
    SELECT d.*
    FROM get_pixel_activity_range($1, $2) r,
         LATERAL get_mpp_data_for_pixel($1, $2, r.calculated_start_datetime, r.calculated_end_datetime) d
$$;

CREATE OR REPLACE FUNCTION get_queryable_solar_cell_pixels()
RETURNS TABLE (solar_cell_name varchar, pixel_identifier varchar, first_connection_event_time timestamptz,
               last_event_time timestamptz, last_event_type_recorded varchar)
LANGUAGE sql STABLE AS $$
    SELECT DISTINCT ON (e.solar_cell_id, e.pixel)
           e.solar_cell_id, e.pixel,
           min(e.connection_datetime) FILTER (WHERE e.event_type = 'CONNECTED')
               OVER (PARTITION BY e.solar_cell_id, e.pixel),
           e.connection_datetime, e.event_type
    FROM measurement_connection_event e
    WHERE EXISTS (SELECT 1 FROM measurement_connection_event c
                  WHERE c.solar_cell_id = e.solar_cell_id AND c.pixel = e.pixel AND c.event_type = 'CONNECTED')
    ORDER BY e.solar_cell_id, e.pixel, e.connection_datetime DESC, (e.event_type = 'DISCONNECTED') DESC
$$;

CREATE OR REPLACE FUNCTION get_board_connection_status(check_time timestamptz DEFAULT now())
RETURNS TABLE (board_number integer, channel_number integer, solar_cell_name varchar, pixel_identifier varchar,
               is_active integer, last_event_time timestamptz, last_event_type varchar)
LANGUAGE sql STABLE AS $$
    SELECT DISTINCT ON (e.tracking_channel_board, e.tracking_channel_channel)
           e.tracking_channel_board, e.tracking_channel_channel, e.solar_cell_id, e.pixel,
           CASE WHEN e.event_type = 'CONNECTED' THEN 1 ELSE 0 END,
           e.connection_datetime, e.event_type
    FROM measurement_connection_event e
    WHERE e.connection_datetime <= $1 AND e.tracking_channel_board IS NOT NULL
    -- at equal times a CONNECTED wins: the old pixel left, the new one arrived
    ORDER BY e.tracking_channel_board, e.tracking_channel_channel, e.connection_datetime DESC,
             (e.event_type = 'CONNECTED') DESC
$$;

CREATE OR REPLACE FUNCTION get_board_connection_status("start" timestamptz, "end" timestamptz)
RETURNS TABLE (board_number integer, channel_number integer, solar_cell_name varchar, pixel_identifier varchar,
               is_active integer, event_time timestamptz, event_type varchar)
LANGUAGE sql STABLE AS $$
    SELECT e.tracking_channel_board, e.tracking_channel_channel, e.solar_cell_id, e.pixel,
           CASE WHEN e.event_type = 'CONNECTED' THEN 1 ELSE 0 END,
           e.connection_datetime, e.event_type
    FROM measurement_connection_event e
    WHERE e.connection_datetime BETWEEN $1 AND $2
    ORDER BY e.connection_datetime, e.tracking_channel_board, e.tracking_channel_channel, (e.event_type = 'CONNECTED')
$$;
