CREATE TEMP TABLE IF NOT EXISTS _stage_ingest (
    kind text NOT NULL, ts_us bigint NOT NULL,
    a double precision, b double precision, c double precision,
    board integer, channel integer, sensor text, ident text, ichan integer
) ON COMMIT DELETE ROWS
