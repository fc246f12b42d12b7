-- name: hourly_pce
-- Live lifetime projection: for every pixel connected now, the PCE of each fully lit hour (every minute
-- of it above the light threshold, the hour's lowest power above a 0.1 percent PCE) from the 1-hour
-- rollups, over all of the pixel's connected periods (events at one instant: DISCONNECTED first), from
-- the hour "since" on. Hourly rollups keep the query light on years of data; hours with a dark or dead
-- minute are left out. Irradiance: the sensor in the CONNECTED event, else the sensor whose channel
-- number is the board's (the report's fallback). Columns: board, channel (where the pixel is now),
-- device, pixel, hour (epoch s), pce (percent): monitor.lifetime.HourlyPce.
WITH active AS (
    SELECT board_number AS b, channel_number AS c, solar_cell_name AS d, pixel_identifier AS p
    FROM get_board_connection_status(now()) WHERE is_active = 1
), ev AS (
    SELECT e.solar_cell_id AS d, e.pixel AS p, e.tracking_channel_board AS b, e.tracking_channel_channel AS c,
           e.event_type, e.irradiance_sensor_id AS irr, e.connection_datetime AS t0,
           lead(e.connection_datetime) OVER (PARTITION BY e.solar_cell_id, e.pixel
                                             ORDER BY e.connection_datetime, (e.event_type = 'CONNECTED')) AS t1
    FROM measurement_connection_event e
    JOIN active a ON a.d = e.solar_cell_id AND a.p = e.pixel
), periods AS (
    SELECT ev.d, ev.p, ev.b, ev.c, ev.t0, coalesce(ev.t1, 'infinity') AS t1,
           coalesce(ev.irr, (SELECT s.irradiance_sensor_id FROM irradiance_sensor s WHERE s.channel = ev.b
                             ORDER BY s.sensor_identifier LIMIT 1)) AS irr,
           coalesce(px.active_area, dev.area) AS area
    FROM ev
    JOIN solar_cell_pixel px ON px.solar_cell_id = ev.d AND px.pixel = ev.p
    JOIN solar_cell_device dev ON dev.name = ev.d
    WHERE ev.event_type = 'CONNECTED'
)
SELECT a.b AS board, a.c AS channel, pe.d AS device, pe.p AS pixel, date_part('epoch', m.bucket) AS hour,
       m.power_mean / (g.irradiance_mean * pe.area * 0.1) * 100 AS pce
FROM periods pe
JOIN active a ON a.d = pe.d AND a.p = pe.p
JOIN mpp_rollup_1h m ON m.tracking_channel_board = pe.b AND m.tracking_channel_channel = pe.c
 AND m.bucket >= pe.t0 AND m.bucket < pe.t1 AND m.bucket >= to_timestamp(%(since)s)
JOIN irradiance_rollup_1h g ON g.irradiance_sensor_id = pe.irr AND g.bucket = m.bucket
WHERE pe.area > 0 AND g.irradiance_min > %(threshold)s
  AND m.power_min > 0.001 * g.irradiance_mean * pe.area * 0.1
ORDER BY 3, 4, 5
