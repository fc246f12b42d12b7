-- The six lab functions again, for databases that applied the first version of 0003 (its parameter
-- names differed from the lab's, and its activity range and pixel list took a DISCONNECTED as the
-- later of two events at the same instant). On every other database this changes nothing.
-- Same text as 0003 from here on; see 0003 for the rules.

DO $$
DECLARE
    want record;
    f record;
BEGIN
    FOR want IN SELECT * FROM (VALUES
        ('get_pixel_activity_range', 2,
         'p_solar_cell_id_in character varying, p_pixel_in character varying',
         'TABLE(calculated_start_datetime timestamp with time zone, calculated_end_datetime timestamp with time zone)'),
        ('get_mpp_data_for_pixel', 4,
         'p_solar_cell_id character varying, p_pixel character varying, p_start_datetime timestamp with time zone, p_end_datetime timestamp with time zone',
         'TABLE("timestamp" timestamp with time zone, current double precision, voltage double precision, power double precision, tracking_channel_board integer, tracking_channel_channel integer, connection_event_time timestamp with time zone)'),
        ('get_mpp_data_for_pixel', 2,
         'p_solar_cell_id_in character varying, p_pixel_in character varying',
         'TABLE("timestamp" timestamp with time zone, current double precision, voltage double precision, power double precision, tracking_channel_board integer, tracking_channel_channel integer, connection_event_time timestamp with time zone)'),
        ('get_queryable_solar_cell_pixels', 0,
         '',
         'TABLE(solar_cell_name character varying, pixel_identifier character varying, first_connection_event_time timestamp with time zone, last_event_time timestamp with time zone, last_event_type_recorded character varying)'),
        ('get_board_connection_status', 1,
         'p_check_time timestamp with time zone DEFAULT now()',
         'TABLE(board_number integer, channel_number integer, solar_cell_name character varying, pixel_identifier character varying, is_active integer, last_event_time timestamp with time zone, last_event_type character varying)'),
        ('get_board_connection_status', 2,
         'p_start_time timestamp with time zone, p_end_time timestamp with time zone',
         'TABLE(board_number integer, channel_number integer, solar_cell_name character varying, pixel_identifier character varying, is_active integer, event_time timestamp with time zone, event_type character varying)')
    ) AS t(name, nargs, args, result)
    LOOP
        FOR f IN
            SELECT p.oid::regprocedure::text AS sig, pg_get_function_arguments(p.oid) AS args,
                   pg_get_function_result(p.oid) AS result
            FROM pg_proc p
            WHERE p.proname = want.name AND p.pronargs = want.nargs
              AND p.pronamespace = (SELECT oid FROM pg_namespace WHERE nspname = current_schema())
        LOOP
            IF f.args IS DISTINCT FROM want.args OR f.result IS DISTINCT FROM want.result THEN
                EXECUTE format('DROP FUNCTION %s', f.sig);
                RAISE NOTICE '%: signature (%) -> % differs from the lab''s: dropped and re-created', f.sig, f.args, f.result;
            END IF;
        END LOOP;
    END LOOP;
END $$;

CREATE OR REPLACE FUNCTION get_pixel_activity_range(p_solar_cell_id_in varchar(255), p_pixel_in varchar(255))
RETURNS TABLE (calculated_start_datetime timestamptz, calculated_end_datetime timestamptz)
LANGUAGE sql STABLE AS $$
    WITH ev AS (
        SELECT e.connection_datetime, e.event_type
        FROM measurement_connection_event e
        WHERE e.solar_cell_id = p_solar_cell_id_in AND e.pixel = p_pixel_in
    ), first_conn AS (
        SELECT min(connection_datetime) AS t FROM ev WHERE event_type = 'CONNECTED'
    ), last_ev AS (
        -- newest first; at the same instant the CONNECTED is the later event
        SELECT connection_datetime, event_type FROM ev
        ORDER BY connection_datetime DESC, (event_type = 'CONNECTED') DESC LIMIT 1
    )
    SELECT f.t,
           CASE WHEN f.t IS NULL THEN NULL
                WHEN l.event_type = 'DISCONNECTED' THEN l.connection_datetime
                ELSE now() END
    FROM first_conn f LEFT JOIN last_ev l ON true
$$;

CREATE OR REPLACE FUNCTION get_mpp_data_for_pixel(p_solar_cell_id varchar(255), p_pixel varchar(255),
                                                  p_start_datetime timestamptz, p_end_datetime timestamptz)
RETURNS TABLE ("timestamp" timestamptz, current double precision, voltage double precision, power double precision,
               tracking_channel_board integer, tracking_channel_channel integer, connection_event_time timestamptz)
LANGUAGE sql STABLE AS $$
    WITH ev AS (
        SELECT e.connection_datetime, e.event_type, e.tracking_channel_board AS b, e.tracking_channel_channel AS c,
               lead(e.connection_datetime) OVER (ORDER BY e.connection_datetime, (e.event_type = 'CONNECTED')) AS next_t
        FROM measurement_connection_event e
        WHERE e.solar_cell_id = p_solar_cell_id AND e.pixel = p_pixel
    ), periods AS (
        SELECT connection_datetime AS t0, coalesce(next_t, 'infinity'::timestamptz) AS t1, b, c
        FROM ev WHERE event_type = 'CONNECTED'
    )
    SELECT m."timestamp", m.current, m.voltage, m.power, m.tracking_channel_board, m.tracking_channel_channel, p.t0
    FROM periods p
    JOIN mpp_measurement m
      ON m.tracking_channel_board = p.b AND m.tracking_channel_channel = p.c
     AND m."timestamp" >= greatest(p.t0, p_start_datetime) AND m."timestamp" < p.t1
     AND m."timestamp" <= p_end_datetime
    ORDER BY m."timestamp"
$$;

CREATE OR REPLACE FUNCTION get_mpp_data_for_pixel(p_solar_cell_id_in varchar(255), p_pixel_in varchar(255))
RETURNS TABLE ("timestamp" timestamptz, current double precision, voltage double precision, power double precision,
               tracking_channel_board integer, tracking_channel_channel integer, connection_event_time timestamptz)
LANGUAGE sql STABLE AS $$
    SELECT d.*
    FROM get_pixel_activity_range(p_solar_cell_id_in, p_pixel_in) r,
         LATERAL get_mpp_data_for_pixel(p_solar_cell_id_in, p_pixel_in,
                                        r.calculated_start_datetime, r.calculated_end_datetime) d
$$;

CREATE OR REPLACE FUNCTION get_queryable_solar_cell_pixels()
RETURNS TABLE (solar_cell_name varchar(255), pixel_identifier varchar(255), first_connection_event_time timestamptz,
               last_event_time timestamptz, last_event_type_recorded varchar(255))
LANGUAGE sql STABLE AS $$
    SELECT DISTINCT ON (e.solar_cell_id, e.pixel)
           e.solar_cell_id, e.pixel,
           min(e.connection_datetime) FILTER (WHERE e.event_type = 'CONNECTED')
               OVER (PARTITION BY e.solar_cell_id, e.pixel),
           e.connection_datetime, e.event_type
    FROM measurement_connection_event e
    WHERE EXISTS (SELECT 1 FROM measurement_connection_event c
                  WHERE c.solar_cell_id = e.solar_cell_id AND c.pixel = e.pixel AND c.event_type = 'CONNECTED')
    -- newest first; at the same instant the CONNECTED is the later event
    ORDER BY e.solar_cell_id, e.pixel, e.connection_datetime DESC, (e.event_type = 'CONNECTED') DESC
$$;

CREATE OR REPLACE FUNCTION get_board_connection_status(p_check_time timestamptz DEFAULT now())
RETURNS TABLE (board_number integer, channel_number integer, solar_cell_name varchar(255), pixel_identifier varchar(255),
               is_active integer, last_event_time timestamptz, last_event_type varchar(255))
LANGUAGE sql STABLE AS $$
    SELECT DISTINCT ON (e.tracking_channel_board, e.tracking_channel_channel)
           e.tracking_channel_board, e.tracking_channel_channel, e.solar_cell_id, e.pixel,
           CASE WHEN e.event_type = 'CONNECTED' THEN 1 ELSE 0 END,
           e.connection_datetime, e.event_type
    FROM measurement_connection_event e
    WHERE e.connection_datetime <= p_check_time AND e.tracking_channel_board IS NOT NULL
    -- newest first; at the same instant the CONNECTED is the later event (the old pixel left,
    -- then the new one arrived)
    ORDER BY e.tracking_channel_board, e.tracking_channel_channel, e.connection_datetime DESC,
             (e.event_type = 'CONNECTED') DESC
$$;

CREATE OR REPLACE FUNCTION get_board_connection_status(p_start_time timestamptz, p_end_time timestamptz)
RETURNS TABLE (board_number integer, channel_number integer, solar_cell_name varchar(255), pixel_identifier varchar(255),
               is_active integer, event_time timestamptz, event_type varchar(255))
LANGUAGE sql STABLE AS $$
    SELECT e.tracking_channel_board, e.tracking_channel_channel, e.solar_cell_id, e.pixel,
           CASE WHEN e.event_type = 'CONNECTED' THEN 1 ELSE 0 END,
           e.connection_datetime, e.event_type
    FROM measurement_connection_event e
    WHERE e.connection_datetime BETWEEN p_start_time AND p_end_time
    ORDER BY e.tracking_channel_board, e.tracking_channel_channel, e.connection_datetime,
             (e.event_type = 'CONNECTED')
$$;
