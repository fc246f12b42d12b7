-- Rollups on either back end (db/rollups.py): the marks left by the table triggers (migration
-- 0007), the plain-PostgreSQL refresh function, the TimescaleDB continuous-aggregate refresh and
-- the import's hold on the compression policies (migration 0009).

-- name: refresh_view_batched
-- one batch (TimescaleDB 2.19+ would refresh ten buckets per transaction); force: recompute the
-- window even where TimescaleDB logged no invalidation (2.28 logs none for a COPY into a hypertable
-- with an INSERT trigger that has a transition table: databases before migration 0013)
CALL refresh_continuous_aggregate(%s::regclass, %s::timestamptz, %s::timestamptz,
                                  force => %s, options => '{"buckets_per_batch": 0}')

-- name: refresh_view
CALL refresh_continuous_aggregate(%s::regclass, %s::timestamptz, %s::timestamptz)

-- name: refresh_plain
SELECT perocube_refresh_rollups()

-- name: pending
SELECT kind, t0, t1, ids FROM perocube_rollup_pending()

-- TimescaleDB: what one continuous aggregate has not materialised consistently below its watermark
-- (its own invalidation logs, migration 0013); NULL for an open end
-- name: stale
SELECT CASE WHEN t0 > '-infinity' THEN t0 END, CASE WHEN t1 < 'infinity' THEN t1 END
FROM perocube_timescaledb_stale(%s) ORDER BY t0

-- name: watermark
SELECT perocube_rollup_watermark(%s)

-- name: forget_marks
DELETE FROM rollup_dirty WHERE id = ANY(%s)

-- The marks below the time an import has reached on every series (refreshed beside the import)
-- name: marks_below
SELECT id, kind, t0, t1 FROM rollup_dirty WHERE t1 <= %s ORDER BY kind, t0

-- name: continuous_aggregates
SELECT view_name FROM timescaledb_information.continuous_aggregates
WHERE view_schema = current_schema() ORDER BY view_name

-- name: all_marks
SELECT id FROM rollup_dirty

-- name: has_compression_hold
SELECT EXISTS (SELECT 1 FROM pg_proc WHERE proname = 'perocube_hold_compression')

-- name: hold_lock_shared
SELECT pg_advisory_lock_shared(%s, %s)

-- name: hold_unlock_shared
SELECT pg_advisory_unlock_shared(%s, %s)

-- name: hold_try_lock
SELECT pg_try_advisory_xact_lock(%s, %s)

-- name: hold_compression
-- false: pause the compression policies, true: resume them; returns the number of jobs
SELECT perocube_hold_compression(%s)

-- The import's background refresher (plain PostgreSQL): one channel's marks at a time, while
-- the import still loads other files
-- name: channel_marks
SELECT id FROM rollup_dirty WHERE kind = 'mpp' AND channel IS NOT NULL ORDER BY id

-- name: refresh_mpp_channel
SELECT perocube_refresh_mpp_channel(%s)
