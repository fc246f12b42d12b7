-- Logbook fields the lab's schema had no place for (added columns only; nothing renamed).
ALTER TABLE solar_cell_pixel ADD COLUMN IF NOT EXISTS initial_pce double precision;
ALTER TABLE solar_cell_device ADD COLUMN IF NOT EXISTS structure varchar(255);
ALTER TABLE measurement_connection_event ADD COLUMN IF NOT EXISTS comment text;
