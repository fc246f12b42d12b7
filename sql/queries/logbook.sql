-- name: scientist
WITH ins AS (
    INSERT INTO scientist (scientist_id, name) VALUES (%(id)s, %(name)s) ON CONFLICT (name) DO NOTHING RETURNING scientist_id
)
SELECT scientist_id FROM ins UNION ALL SELECT scientist_id FROM scientist WHERE name = %(name)s LIMIT 1

-- name: project
WITH ins AS (
    INSERT INTO project (project_id, name) VALUES (%(id)s, %(name)s) ON CONFLICT (name) DO NOTHING RETURNING project_id
)
SELECT project_id FROM ins UNION ALL SELECT project_id FROM project WHERE name = %(name)s LIMIT 1

-- name: member
INSERT INTO scientist_member_project (scientist_id, project_id) VALUES (%s, %s) ON CONFLICT DO NOTHING

-- name: device
INSERT INTO solar_cell_device (name, technology, encapsulation, structure, owner_id, producer_id, initial_pce)
VALUES (%(name)s, %(technology)s, %(encapsulation)s, %(structure)s, %(owner)s, %(producer)s, %(pce)s)
ON CONFLICT (name) DO UPDATE SET
    technology = coalesce(solar_cell_device.technology, EXCLUDED.technology),
    encapsulation = coalesce(solar_cell_device.encapsulation, EXCLUDED.encapsulation),
    structure = coalesce(solar_cell_device.structure, EXCLUDED.structure),
    owner_id = coalesce(solar_cell_device.owner_id, EXCLUDED.owner_id),
    producer_id = coalesce(solar_cell_device.producer_id, EXCLUDED.producer_id),
    initial_pce = greatest(solar_cell_device.initial_pce, EXCLUDED.initial_pce)
RETURNING (xmax = 0) AS created

-- name: pixel
INSERT INTO solar_cell_pixel (solar_cell_id, pixel, active_area, initial_pce) VALUES (%s, %s, %s, %s)
ON CONFLICT (solar_cell_id, pixel) DO NOTHING
RETURNING 1

-- name: channel
INSERT INTO mpp_tracking_channel (board, channel) VALUES (%s, %s) ON CONFLICT DO NOTHING

-- name: temperature_sensor
WITH ins AS (
    INSERT INTO temperature_sensor (temperature_sensor_id, sensor_identifier) VALUES (%(id)s, %(ident)s)
    ON CONFLICT DO NOTHING RETURNING temperature_sensor_id
)
SELECT temperature_sensor_id FROM ins
UNION ALL SELECT temperature_sensor_id FROM temperature_sensor WHERE sensor_identifier = %(ident)s LIMIT 1

-- name: event
INSERT INTO measurement_connection_event (solar_cell_id, pixel, tracking_channel_board, tracking_channel_channel,
                                          temperature_sensor_id, connection_datetime, event_type, comment)
VALUES (%s, %s, %s, %s, %s, %s, %s, %s)
ON CONFLICT DO NOTHING
RETURNING 1

-- name: project_experiment
-- the logbook names a project but no experiment: its devices go into an experiment of the same name
WITH ins AS (
    INSERT INTO experiment (experiment_id, name) VALUES (%(id)s, %(name)s) ON CONFLICT (name) DO NOTHING
    RETURNING experiment_id
)
SELECT experiment_id FROM ins UNION ALL SELECT experiment_id FROM experiment WHERE name = %(name)s LIMIT 1

-- name: experiment_project
INSERT INTO experiment_contributed_project (experiment_id, project_id) VALUES (%s, %s) ON CONFLICT DO NOTHING

-- name: device_experiment
UPDATE solar_cell_device SET experiment_id = %s WHERE name = %s AND experiment_id IS NULL
