-- The historical import marks its own ranges (#23).
--
-- The importer knows each chunk's channel and time range: it COPYs with
-- WHERE "timestamp" BETWEEN first AND last (so a row outside that range cannot slip in unmarked:
-- the chunk then takes the staging path instead), inserts that one rollup_dirty row itself in the
-- same transaction, and sets the transaction-local perocube.importer_marks = 'on' so that this
-- trigger does not aggregate the same rows a second time. Every other writer (the live writer,
-- psql, notebooks, a restore, the importer's own staging path) never sets it and is marked as
-- before; UPDATE and DELETE are always marked.
--
-- (Measured on TimescaleDB 2.28 / PG 15: the trigger costs ~0.43 us of server CPU per row, of
-- which ~0.35 us is PostgreSQL capturing the transition table, which happens for any trigger that
-- declares one, enabled or not, so no setting can skip it; the aggregate skipped here is the rest.
-- docs/import-performance.md has the breakdown.)

CREATE OR REPLACE FUNCTION perocube_mark_rollups_dirty() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    kind text := TG_ARGV[0];
BEGIN
    IF TG_OP = 'INSERT' AND current_setting('perocube.importer_marks', true) = 'on' THEN
        RETURN NULL;  -- the importer inserted this statement's mark itself (same transaction)
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        IF kind = 'mpp' THEN
            INSERT INTO rollup_dirty (kind, t0, t1, board, channel)
            SELECT 'mpp', min("timestamp"), max("timestamp"),
                   CASE WHEN min(tracking_channel_board) = max(tracking_channel_board)
                         AND min(tracking_channel_channel) = max(tracking_channel_channel)
                        THEN min(tracking_channel_board) END,
                   CASE WHEN min(tracking_channel_board) = max(tracking_channel_board)
                         AND min(tracking_channel_channel) = max(tracking_channel_channel)
                        THEN min(tracking_channel_channel) END
            FROM perocube_new_rows HAVING count(*) > 0;
        ELSE
            INSERT INTO rollup_dirty (kind, t0, t1)
            SELECT kind, min("timestamp"), max("timestamp") FROM perocube_new_rows HAVING count(*) > 0;
        END IF;
    END IF;
    IF TG_OP IN ('DELETE', 'UPDATE') THEN
        IF kind = 'mpp' THEN
            INSERT INTO rollup_dirty (kind, t0, t1, board, channel)
            SELECT 'mpp', min("timestamp"), max("timestamp"),
                   CASE WHEN min(tracking_channel_board) = max(tracking_channel_board)
                         AND min(tracking_channel_channel) = max(tracking_channel_channel)
                        THEN min(tracking_channel_board) END,
                   CASE WHEN min(tracking_channel_board) = max(tracking_channel_board)
                         AND min(tracking_channel_channel) = max(tracking_channel_channel)
                        THEN min(tracking_channel_channel) END
            FROM perocube_old_rows HAVING count(*) > 0;
        ELSE
            INSERT INTO rollup_dirty (kind, t0, t1)
            SELECT kind, min("timestamp"), max("timestamp") FROM perocube_old_rows HAVING count(*) > 0;
        END IF;
    END IF;
    RETURN NULL;
END $$;
