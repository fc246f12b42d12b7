CREATE TEMP TABLE IF NOT EXISTS _stage_ingest (
    kind text NOT NULL, ts_us bigint NOT NULL,
    a double precision, b double precision, c double precision,
    board integer, channel integer, sensor text, ident text, ichan integer
) ON COMMIT DELETE ROWS;
-- MPP rows in mpp_measurement's COPY format, for batches that may hold re-sent rows
CREATE TEMP TABLE IF NOT EXISTS _stage_mpp (
    "timestamp" timestamptz NOT NULL, power double precision, current double precision,
    voltage double precision, tracking_channel_board integer NOT NULL, tracking_channel_channel integer NOT NULL
) ON COMMIT DELETE ROWS
