-- The lab's existing schema (../shared/spec/database.md), created only where missing.
-- On an existing lab database every statement here is a no-op.

CREATE TABLE IF NOT EXISTS scientist (
    scientist_id uuid PRIMARY KEY,
    name varchar(255) NOT NULL UNIQUE
);

CREATE TABLE IF NOT EXISTS experiment (
    experiment_id uuid PRIMARY KEY,
    name varchar(255) NOT NULL UNIQUE,
    start_date date,
    end_date date
);

CREATE TABLE IF NOT EXISTS project (
    project_id uuid PRIMARY KEY,
    name varchar(255) NOT NULL UNIQUE
);

CREATE TABLE IF NOT EXISTS solar_cell_device (
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
    area double precision,
    initial_pce double precision
);

CREATE TABLE IF NOT EXISTS solar_cell_pixel (
    solar_cell_id varchar(255) NOT NULL REFERENCES solar_cell_device (name),
    pixel varchar(255) NOT NULL,
    active_area double precision,
    PRIMARY KEY (solar_cell_id, pixel)
);

CREATE TABLE IF NOT EXISTS mpp_tracking_channel (
    board integer NOT NULL,
    channel integer NOT NULL,
    address varchar(255),
    com_port varchar(255),
    current_limit double precision,
    PRIMARY KEY (board, channel)
);

CREATE TABLE IF NOT EXISTS temperature_sensor (
    temperature_sensor_id uuid PRIMARY KEY,
    date_installed date,
    location varchar(255),
    sensor_identifier varchar(255) UNIQUE
);

CREATE TABLE IF NOT EXISTS irradiance_sensor (
    irradiance_sensor_id uuid PRIMARY KEY,
    date_installed date,
    location varchar(255),
    installation_angle integer,
    sensor_identifier varchar(255),
    channel integer,
    UNIQUE (sensor_identifier, channel)
);

CREATE TABLE IF NOT EXISTS measurement_connection_event (
    solar_cell_id varchar(255) NOT NULL,
    pixel varchar(255) NOT NULL DEFAULT 'No pixel',
    tracking_channel_board integer,
    tracking_channel_channel integer,
    temperature_sensor_id uuid REFERENCES temperature_sensor (temperature_sensor_id),
    irradiance_sensor_id uuid REFERENCES irradiance_sensor (irradiance_sensor_id),
    mppt_mode varchar(255),
    mppt_polarity varchar(255),
    connection_datetime timestamptz NOT NULL,
    event_type varchar(255) NOT NULL CHECK (event_type IN ('CONNECTED', 'DISCONNECTED')),
    PRIMARY KEY (solar_cell_id, pixel, connection_datetime, event_type),
    FOREIGN KEY (solar_cell_id, pixel) REFERENCES solar_cell_pixel (solar_cell_id, pixel),
    FOREIGN KEY (tracking_channel_board, tracking_channel_channel) REFERENCES mpp_tracking_channel (board, channel)
);

CREATE TABLE IF NOT EXISTS scientist_performed_experiment (
    scientist_id uuid NOT NULL REFERENCES scientist (scientist_id),
    experiment_id uuid NOT NULL REFERENCES experiment (experiment_id),
    PRIMARY KEY (scientist_id, experiment_id)
);

CREATE TABLE IF NOT EXISTS experiment_contributed_project (
    experiment_id uuid NOT NULL REFERENCES experiment (experiment_id),
    project_id uuid NOT NULL REFERENCES project (project_id),
    PRIMARY KEY (experiment_id, project_id)
);

CREATE TABLE IF NOT EXISTS scientist_member_project (
    scientist_id uuid NOT NULL REFERENCES scientist (scientist_id),
    project_id uuid NOT NULL REFERENCES project (project_id),
    PRIMARY KEY (scientist_id, project_id)
);

CREATE TABLE IF NOT EXISTS mpp_measurement (
    "timestamp" timestamptz NOT NULL,
    current double precision,
    voltage double precision,
    power double precision,
    tracking_channel_board integer NOT NULL,
    tracking_channel_channel integer NOT NULL,
    FOREIGN KEY (tracking_channel_board, tracking_channel_channel) REFERENCES mpp_tracking_channel (board, channel)
);

CREATE TABLE IF NOT EXISTS temperature_measurement (
    "timestamp" timestamptz NOT NULL,
    temperature double precision,
    temperature_sensor_id uuid NOT NULL REFERENCES temperature_sensor (temperature_sensor_id)
);

CREATE TABLE IF NOT EXISTS irradiance_measurement (
    "timestamp" timestamptz NOT NULL,
    raw_reading integer,
    irradiance double precision,
    irradiance_sensor_id uuid NOT NULL REFERENCES irradiance_sensor (irradiance_sensor_id)
);
