-- What the server is and has, and the session settings the app's connections use
-- (db/catalog.py runs them; one home for every catalogue query of the app).

-- name: server_version
SHOW server_version

-- name: database_exists
SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = %s)

-- name: timescaledb_available
SELECT EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'timescaledb')

-- name: timescaledb_active
SELECT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'timescaledb')

-- name: timescaledb_version
SELECT extversion FROM pg_extension WHERE extname = 'timescaledb'

-- name: has_function
SELECT EXISTS (SELECT 1 FROM pg_proc WHERE proname = %s)

-- name: preload_setting
SELECT current_setting('shared_preload_libraries')

-- name: timescaledb_launcher_running
-- for a role that may not read shared_preload_libraries: the extension's background workers run
SELECT EXISTS (SELECT 1 FROM pg_stat_activity WHERE backend_type LIKE 'TimescaleDB%')

-- name: has_table
SELECT to_regclass(%s) IS NOT NULL

-- Foreign-key checks off for the current transaction (db/bulk.py: only where they are redundant)
-- name: local_skip_fk_triggers
SET LOCAL session_replication_role = replica

-- A historical import's chunk transaction (importer/loader.py), in one round trip: the source time
-- zone, no wait for the WAL flush at commit, and, where the importer may (db/bulk.py), no per-row
-- foreign-key triggers (it locks the chunk's channel or sensor once instead)
-- name: local_import_chunk
SELECT set_config('TimeZone', %(tz)s, true), set_config('synchronous_commit', 'off', true),
       CASE WHEN %(skip_fk)s THEN set_config('session_replication_role', 'replica', true) END

-- name: local_work_mem_large
SET LOCAL work_mem = '256MB'

-- Settings are per transaction (set_config(..., true)), never per session: behind a PgBouncer in
-- transaction mode a session setting would stay on a server connection that other clients get next.

-- name: local_timezone
SELECT set_config('TimeZone', %s, true)

-- The background rollup refresher of an import: rollups can always be recomputed
-- name: local_rollup_refresher
SELECT set_config('work_mem', '64MB', true), set_config('synchronous_commit', 'off', true)

-- The session that refreshes the continuous aggregates beside a TimescaleDB import (importer/parallel.py).
-- A session setting on purpose: refresh_continuous_aggregate cannot run inside a transaction, so SET
-- LOCAL cannot reach it; a TimescaleDB import needs a session of its own anyway (docs/dba.md: direct or
-- session pooling). work_mem: the aggregation hashes a slice in memory instead of sorting it on disk;
-- no parallel workers: the loaders have the other cores, and each worker costs more than it saves here.
-- name: session_rollup_follower
SELECT set_config('work_mem', '64MB', false), set_config('max_parallel_workers_per_gather', '0', false),
       set_config('enable_sort', 'off', false)

-- The read API's transactions (read-only by BEGIN READ ONLY, whatever the role may do): UTC so that
-- JSON and CSV timestamps are unambiguous; work_mem: a month of minute rollups for one pixel sorts in memory
-- name: local_read_api
SELECT set_config('TimeZone', 'UTC', true),
       set_config('statement_timeout', %s, true),
       set_config('work_mem', '32MB', true)

-- Restoring a TimescaleDB backup, the documented way: an empty schema, the extension,
-- pre_restore, then pg_restore, then post_restore (db/tools.py)
-- name: timescaledb_restore_prepare
DROP SCHEMA IF EXISTS public CASCADE;
CREATE SCHEMA public;
CREATE EXTENSION IF NOT EXISTS timescaledb;
SELECT timescaledb_pre_restore()

-- name: timescaledb_restore_finish
SELECT timescaledb_post_restore()

-- Triggers on the measurement tables that session_replication_role = replica would silence besides
-- the foreign-key checks (db/bulk.py: the importer skips those only when there are none; on
-- TimescaleDB 2.28 there are none: it fires no trigger of its own on insert)
-- name: insert_triggers_silenced_by_replica
SELECT count(*) FROM pg_trigger
WHERE tgrelid IN (SELECT oid FROM pg_class WHERE relname IN ('mpp_measurement', 'temperature_measurement',
                                                               'irradiance_measurement')
                  AND relnamespace = current_schema()::regnamespace)
  AND NOT tgisinternal AND tgenabled = 'O' AND (tgtype & 4) <> 0

-- Where this session landed and how far behind the primary it is (db/replica.py): in recovery
-- (a standby), seconds of replay lag (0 on a primary, and on a standby that replayed all it
-- received while streaming; otherwise the age of the last replayed transaction), streaming or not
-- name: replication_state
SELECT pg_is_in_recovery(),
       CASE WHEN NOT pg_is_in_recovery() THEN 0.0
            WHEN EXISTS (SELECT 1 FROM pg_stat_wal_receiver WHERE status = 'streaming')
                 AND pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn() THEN 0.0
            ELSE extract(epoch FROM clock_timestamp() - pg_last_xact_replay_timestamp())::float8 END,
       EXISTS (SELECT 1 FROM pg_stat_wal_receiver WHERE status = 'streaming')

-- The server's own address as it sees this session (NULL over a Unix socket): behind a pooler
-- this names the database server, not the pooler (db/replica.py)
-- name: server_address
SELECT host(inet_server_addr()), inet_server_port()
