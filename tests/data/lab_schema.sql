-- The lab's database as it is today (as sql/migrations/0001_lab_schema.sql and 0003 describe it), before Perocube Desktop ever
-- touched it: metadata tables with their keys, measurement tables WITHOUT unique keys (re-imported
-- files left duplicate rows), hypertables when TimescaleDB is installed, the six functions the
-- notebooks call with their original parameter names (PL/pgSQL, written independently of the
-- app's sql/migrations/0003), and a small history with a same-day move and duplicate rows.
-- tests/test_lab_compat.py loads it into an empty database and upgrades it with the app's migrations.

CREATE TABLE scientist (
    scientist_id uuid PRIMARY KEY,
    name varchar(255) NOT NULL UNIQUE
);
CREATE TABLE experiment (
    experiment_id uuid PRIMARY KEY,
    name varchar(255) NOT NULL UNIQUE,
    start_date date,
    end_date date
);
CREATE TABLE project (
    project_id uuid PRIMARY KEY,
    name varchar(255) NOT NULL UNIQUE
);
CREATE TABLE solar_cell_device (
    name varchar(255) PRIMARY KEY,
    nomad_id uuid UNIQUE,
    technology varchar(255),
    form_factor varchar(255),
    experiment_id uuid REFERENCES experiment (experiment_id),
    owner_id uuid REFERENCES scientist (scientist_id),
    producer_id uuid REFERENCES scientist (scientist_id),
    date_produced date,
    date_encapsulated date,
    encapsulation varchar(255),
    area float,
    initial_pce float
);
CREATE TABLE solar_cell_pixel (
    solar_cell_id varchar(255) REFERENCES solar_cell_device (name),
    pixel varchar(255),
    active_area float,
    PRIMARY KEY (solar_cell_id, pixel)
);
CREATE TABLE mpp_tracking_channel (
    board int,
    channel int,
    address varchar(255),
    com_port varchar(255),
    current_limit float,
    PRIMARY KEY (board, channel)
);
CREATE TABLE temperature_sensor (
    temperature_sensor_id uuid PRIMARY KEY,
    date_installed date,
    location varchar(255),
    sensor_identifier varchar(255) UNIQUE
);
CREATE TABLE irradiance_sensor (
    irradiance_sensor_id uuid PRIMARY KEY,
    date_installed date,
    location varchar(255),
    installation_angle int,
    sensor_identifier varchar(255),
    channel int,
    UNIQUE (sensor_identifier, channel)
);
CREATE TABLE measurement_connection_event (
    solar_cell_id varchar(255) NOT NULL,
    pixel varchar(255) DEFAULT 'No pixel',
    tracking_channel_board int,
    tracking_channel_channel int,
    temperature_sensor_id uuid REFERENCES temperature_sensor (temperature_sensor_id),
    irradiance_sensor_id uuid REFERENCES irradiance_sensor (irradiance_sensor_id),
    mppt_mode varchar(255),
    mppt_polarity varchar(255),
    connection_datetime timestamptz NOT NULL,
    event_type varchar(255) NOT NULL,
    PRIMARY KEY (solar_cell_id, pixel, connection_datetime, event_type),
    FOREIGN KEY (solar_cell_id, pixel) REFERENCES solar_cell_pixel (solar_cell_id, pixel),
    FOREIGN KEY (tracking_channel_board, tracking_channel_channel) REFERENCES mpp_tracking_channel (board, channel)
);
CREATE TABLE scientist_performed_experiment (
    scientist_id uuid REFERENCES scientist (scientist_id),
    experiment_id uuid REFERENCES experiment (experiment_id),
    PRIMARY KEY (scientist_id, experiment_id)
);
CREATE TABLE experiment_contributed_project (
    experiment_id uuid REFERENCES experiment (experiment_id),
    project_id uuid REFERENCES project (project_id),
    PRIMARY KEY (experiment_id, project_id)
);
CREATE TABLE scientist_member_project (
    scientist_id uuid REFERENCES scientist (scientist_id),
    project_id uuid REFERENCES project (project_id),
    PRIMARY KEY (scientist_id, project_id)
);

-- time series: no unique key on (channel, timestamp) or (sensor, timestamp)
CREATE TABLE mpp_measurement (
    "timestamp" timestamptz NOT NULL,
    current float,
    voltage float,
    power float,
    tracking_channel_board int NOT NULL,
    tracking_channel_channel int NOT NULL,
    FOREIGN KEY (tracking_channel_board, tracking_channel_channel) REFERENCES mpp_tracking_channel (board, channel)
);
CREATE TABLE temperature_measurement (
    "timestamp" timestamptz NOT NULL,
    temperature float,
    temperature_sensor_id uuid NOT NULL REFERENCES temperature_sensor (temperature_sensor_id)
);
CREATE TABLE irradiance_measurement (
    "timestamp" timestamptz NOT NULL,
    raw_reading int,
    irradiance float,
    irradiance_sensor_id uuid NOT NULL REFERENCES irradiance_sensor (irradiance_sensor_id)
);

DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'timescaledb') THEN
        PERFORM create_hypertable('mpp_measurement', 'timestamp');
        PERFORM create_hypertable('temperature_measurement', 'timestamp');
        PERFORM create_hypertable('irradiance_measurement', 'timestamp');
    END IF;
END $$;

-- The functions the notebooks call. Same-instant rule: DISCONNECTED first, then CONNECTED.
-- lab functions: begin

CREATE FUNCTION get_pixel_activity_range(p_solar_cell_id_in varchar(255), p_pixel_in varchar(255))
RETURNS TABLE (calculated_start_datetime timestamptz, calculated_end_datetime timestamptz)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    v_first timestamptz;
    v_last_time timestamptz;
    v_last_type varchar(255);
BEGIN
    SELECT min(e.connection_datetime) INTO v_first
    FROM measurement_connection_event e
    WHERE e.solar_cell_id = p_solar_cell_id_in AND e.pixel = p_pixel_in AND e.event_type = 'CONNECTED';
    IF v_first IS NULL THEN
        calculated_start_datetime := NULL;
        calculated_end_datetime := NULL;
        RETURN NEXT;
        RETURN;
    END IF;
    SELECT e.connection_datetime, e.event_type INTO v_last_time, v_last_type
    FROM measurement_connection_event e
    WHERE e.solar_cell_id = p_solar_cell_id_in AND e.pixel = p_pixel_in
    ORDER BY e.connection_datetime DESC, CASE e.event_type WHEN 'DISCONNECTED' THEN 0 ELSE 1 END DESC
    LIMIT 1;
    calculated_start_datetime := v_first;
    IF v_last_type = 'DISCONNECTED' THEN
        calculated_end_datetime := v_last_time;
    ELSE
        calculated_end_datetime := now();
    END IF;
    RETURN NEXT;
END;
$$;

CREATE FUNCTION get_mpp_data_for_pixel(p_solar_cell_id varchar(255), p_pixel varchar(255),
                                       p_start_datetime timestamptz, p_end_datetime timestamptz)
RETURNS TABLE ("timestamp" timestamptz, current float, voltage float, power float,
               tracking_channel_board integer, tracking_channel_channel integer, connection_event_time timestamptz)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    ev record;
    open_board integer;
    open_channel integer;
    open_since timestamptz;
BEGIN
    CREATE TEMP TABLE IF NOT EXISTS lab_periods (b integer, c integer, t0 timestamptz, t1 timestamptz) ON COMMIT DROP;
    DELETE FROM lab_periods;
    FOR ev IN
        SELECT e.tracking_channel_board AS b, e.tracking_channel_channel AS c, e.connection_datetime AS t, e.event_type AS k
        FROM measurement_connection_event e
        WHERE e.solar_cell_id = p_solar_cell_id AND e.pixel = p_pixel
        ORDER BY e.connection_datetime, CASE e.event_type WHEN 'DISCONNECTED' THEN 0 ELSE 1 END
    LOOP
        IF open_since IS NOT NULL THEN
            INSERT INTO lab_periods VALUES (open_board, open_channel, open_since, ev.t);
            open_since := NULL;
        END IF;
        IF ev.k = 'CONNECTED' THEN
            open_board := ev.b;
            open_channel := ev.c;
            open_since := ev.t;
        END IF;
    END LOOP;
    IF open_since IS NOT NULL THEN
        INSERT INTO lab_periods VALUES (open_board, open_channel, open_since, 'infinity');
    END IF;
    RETURN QUERY
        SELECT m."timestamp", m.current, m.voltage, m.power, m.tracking_channel_board, m.tracking_channel_channel, p.t0
        FROM lab_periods p
        JOIN mpp_measurement m ON m.tracking_channel_board = p.b AND m.tracking_channel_channel = p.c
        WHERE m."timestamp" >= p.t0 AND m."timestamp" < p.t1
          AND m."timestamp" >= p_start_datetime AND m."timestamp" <= p_end_datetime
        ORDER BY m."timestamp";
END;
$$;

CREATE FUNCTION get_mpp_data_for_pixel(p_solar_cell_id_in varchar(255), p_pixel_in varchar(255))
RETURNS TABLE ("timestamp" timestamptz, current float, voltage float, power float,
               tracking_channel_board integer, tracking_channel_channel integer, connection_event_time timestamptz)
LANGUAGE plpgsql AS $$
DECLARE
    v_start timestamptz;
    v_end timestamptz;
BEGIN
    SELECT r.calculated_start_datetime, r.calculated_end_datetime INTO v_start, v_end
    FROM get_pixel_activity_range(p_solar_cell_id_in, p_pixel_in) r;
    IF v_start IS NULL THEN
        RETURN;
    END IF;
    RETURN QUERY SELECT * FROM get_mpp_data_for_pixel(p_solar_cell_id_in, p_pixel_in, v_start, v_end);
END;
$$;

CREATE FUNCTION get_queryable_solar_cell_pixels()
RETURNS TABLE (solar_cell_name varchar(255), pixel_identifier varchar(255), first_connection_event_time timestamptz,
               last_event_time timestamptz, last_event_type_recorded varchar(255))
LANGUAGE plpgsql AS $$
BEGIN
    RETURN QUERY
    WITH firsts AS (
        SELECT e.solar_cell_id, e.pixel, min(e.connection_datetime) AS first_t
        FROM measurement_connection_event e WHERE e.event_type = 'CONNECTED'
        GROUP BY e.solar_cell_id, e.pixel
    ), ranked AS (
        SELECT e.solar_cell_id, e.pixel, e.connection_datetime, e.event_type,
               row_number() OVER (PARTITION BY e.solar_cell_id, e.pixel
                                  ORDER BY e.connection_datetime DESC,
                                           CASE e.event_type WHEN 'DISCONNECTED' THEN 0 ELSE 1 END DESC) AS rn
        FROM measurement_connection_event e
    )
    SELECT f.solar_cell_id, f.pixel, f.first_t, r.connection_datetime, r.event_type
    FROM firsts f JOIN ranked r ON r.solar_cell_id = f.solar_cell_id AND r.pixel = f.pixel AND r.rn = 1
    ORDER BY f.solar_cell_id, f.pixel;
END;
$$;

CREATE FUNCTION get_board_connection_status(p_check_time timestamptz DEFAULT now())
RETURNS TABLE (board_number integer, channel_number integer, solar_cell_name varchar(255), pixel_identifier varchar(255),
               is_active integer, last_event_time timestamptz, last_event_type varchar(255))
LANGUAGE plpgsql AS $$
BEGIN
    RETURN QUERY
    WITH ranked AS (
        SELECT e.*, row_number() OVER (PARTITION BY e.tracking_channel_board, e.tracking_channel_channel
                                       ORDER BY e.connection_datetime DESC,
                                                CASE e.event_type WHEN 'DISCONNECTED' THEN 0 ELSE 1 END DESC) AS rn
        FROM measurement_connection_event e
        WHERE e.connection_datetime <= p_check_time AND e.tracking_channel_board IS NOT NULL
    )
    SELECT r.tracking_channel_board, r.tracking_channel_channel, r.solar_cell_id, r.pixel,
           CASE WHEN r.event_type = 'CONNECTED' THEN 1 ELSE 0 END, r.connection_datetime, r.event_type
    FROM ranked r WHERE r.rn = 1
    ORDER BY r.tracking_channel_board, r.tracking_channel_channel;
END;
$$;

CREATE FUNCTION get_board_connection_status(p_start_time timestamptz, p_end_time timestamptz)
RETURNS TABLE (board_number integer, channel_number integer, solar_cell_name varchar(255), pixel_identifier varchar(255),
               is_active integer, event_time timestamptz, event_type varchar(255))
LANGUAGE plpgsql AS $$
BEGIN
    RETURN QUERY
    SELECT e.tracking_channel_board, e.tracking_channel_channel, e.solar_cell_id, e.pixel,
           CASE WHEN e.event_type = 'CONNECTED' THEN 1 ELSE 0 END, e.connection_datetime, e.event_type
    FROM measurement_connection_event e
    WHERE e.connection_datetime >= p_start_time AND e.connection_datetime <= p_end_time
    ORDER BY e.tracking_channel_board, e.tracking_channel_channel, e.connection_datetime,
             CASE e.event_type WHEN 'DISCONNECTED' THEN 0 ELSE 1 END;
END;
$$;
-- lab functions: end

-- ---------------------------------------------------------------------------------------------
-- Data. Device LAB_01, pixels A-D, channels 1/1..1/3 and 2/1, 2024-05-01..2024-05-04 (UTC).
--   A: 1/1 from 05-01 00:00; moved on 05-02 (logbook dates: DISCONNECTED 1/1 and CONNECTED 1/2
--      both at 05-02 00:00); still connected.
--   B: 1/1 from 05-02 00:00 (the instant A left it) until 05-03 00:00.
--   C: 1/3 from 05-01 12:00, off 05-02 12:00, on 2/1 05-03 00:00, off 05-03 06:00.
--   D: a pixel that was never connected.
-- ---------------------------------------------------------------------------------------------

INSERT INTO scientist VALUES ('00000000-0000-0000-0000-0000000000a1', 'Ada Lab');
INSERT INTO project VALUES ('00000000-0000-0000-0000-0000000000b1', 'Ageing 2024');
INSERT INTO experiment VALUES ('00000000-0000-0000-0000-0000000000c1', 'Ageing 2024 run 1', '2024-05-01', NULL);
INSERT INTO experiment_contributed_project VALUES ('00000000-0000-0000-0000-0000000000c1', '00000000-0000-0000-0000-0000000000b1');
INSERT INTO scientist_member_project VALUES ('00000000-0000-0000-0000-0000000000a1', '00000000-0000-0000-0000-0000000000b1');
INSERT INTO scientist_performed_experiment VALUES ('00000000-0000-0000-0000-0000000000a1', '00000000-0000-0000-0000-0000000000c1');
INSERT INTO solar_cell_device (name, technology, experiment_id, owner_id, producer_id, area, initial_pce)
VALUES ('LAB_01', 'perovskite', '00000000-0000-0000-0000-0000000000c1', '00000000-0000-0000-0000-0000000000a1',
        '00000000-0000-0000-0000-0000000000a1', 1.0, 19.5);
INSERT INTO solar_cell_pixel VALUES ('LAB_01', 'A', 0.25), ('LAB_01', 'B', 0.25), ('LAB_01', 'C', 0.25), ('LAB_01', 'D', 0.25);
INSERT INTO mpp_tracking_channel (board, channel) VALUES (1, 1), (1, 2), (1, 3), (2, 1);
-- uuid5(NAMESPACE, 'm7004_ID_94C6D5390E4C48DF'), as the lab's tools derive it
INSERT INTO temperature_sensor VALUES ('3c43e6f4-509c-5f7e-8c17-f98ac410b25b', '2024-04-01', 'board 1', 'm7004_ID_94C6D5390E4C48DF');
-- PT-104 ch 1: uuid5(NAMESPACE, 'PT-104_1'); ch 2 was registered by hand with another id
INSERT INTO irradiance_sensor VALUES ('26bc6c2b-e0ef-5534-9ef9-bad0b741d76a', '2024-04-01', 'lamp 1', 0, 'PT-104', 1),
                                     ('0badc0de-0000-4000-8000-000000000002', '2024-04-01', 'lamp 2', 0, 'PT-104', 2);

INSERT INTO measurement_connection_event (solar_cell_id, pixel, tracking_channel_board, tracking_channel_channel,
                                          temperature_sensor_id, connection_datetime, event_type) VALUES
    ('LAB_01', 'A', 1, 1, '3c43e6f4-509c-5f7e-8c17-f98ac410b25b', '2024-05-01 00:00+00', 'CONNECTED'),
    ('LAB_01', 'A', 1, 1, '3c43e6f4-509c-5f7e-8c17-f98ac410b25b', '2024-05-02 00:00+00', 'DISCONNECTED'),
    ('LAB_01', 'A', 1, 2, '3c43e6f4-509c-5f7e-8c17-f98ac410b25b', '2024-05-02 00:00+00', 'CONNECTED'),
    ('LAB_01', 'B', 1, 1, NULL, '2024-05-02 00:00+00', 'CONNECTED'),
    ('LAB_01', 'B', 1, 1, NULL, '2024-05-03 00:00+00', 'DISCONNECTED'),
    ('LAB_01', 'C', 1, 3, NULL, '2024-05-01 12:00+00', 'CONNECTED'),
    ('LAB_01', 'C', 1, 3, NULL, '2024-05-02 12:00+00', 'DISCONNECTED'),
    ('LAB_01', 'C', 2, 1, NULL, '2024-05-03 00:00+00', 'CONNECTED'),
    ('LAB_01', 'C', 2, 1, NULL, '2024-05-03 06:00+00', 'DISCONNECTED');

-- one row every 5 minutes per channel, 2024-04-30 .. 2024-05-04
INSERT INTO mpp_measurement ("timestamp", current, voltage, power, tracking_channel_board, tracking_channel_channel)
SELECT t, 2.0 + ch.channel, 0.9, (2.0 + ch.channel) * 0.9 + extract(epoch FROM t)::bigint % 3600 / 3600.0,
       ch.board, ch.channel
FROM mpp_tracking_channel ch,
     generate_series('2024-04-30 00:00+00'::timestamptz, '2024-05-04 00:00+00', interval '5 minutes') t;
-- a file imported twice: exact duplicates on 1/1 (pixel B's period) and on 1/2 (pixel A after its move)
INSERT INTO mpp_measurement
SELECT * FROM mpp_measurement
WHERE (tracking_channel_board, tracking_channel_channel) IN ((1, 1), (1, 2))
  AND "timestamp" >= '2024-05-02 06:00+00' AND "timestamp" < '2024-05-02 08:00+00';
-- same channel and instant, different values (two loggers wrote the same minute)
INSERT INTO mpp_measurement VALUES ('2024-05-02 10:00+00', 9.9, 0.1, 0.99, 1, 2);

INSERT INTO temperature_measurement
SELECT t, 25 + extract(hour FROM t) / 10.0, '3c43e6f4-509c-5f7e-8c17-f98ac410b25b'
FROM generate_series('2024-04-30 00:00+00'::timestamptz, '2024-05-04 00:00+00', interval '1 minute') t;
INSERT INTO temperature_measurement SELECT * FROM temperature_measurement WHERE "timestamp" < '2024-04-30 01:00+00';
INSERT INTO irradiance_measurement
SELECT t, 40200, 1000.0, s.irradiance_sensor_id
FROM irradiance_sensor s, generate_series('2024-04-30 00:00+00'::timestamptz, '2024-05-04 00:00+00', interval '1 minute') t;
INSERT INTO irradiance_measurement SELECT * FROM irradiance_measurement WHERE "timestamp" < '2024-04-30 00:30+00';
