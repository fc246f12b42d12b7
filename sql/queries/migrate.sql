-- The migration runner's bookkeeping (db/migrate.py): the migrations table, its lock, the
-- TimescaleDB checks that must run before CREATE EXTENSION, and db status.

-- name: has_migrations_table
SELECT to_regclass('perocube_schema_migrations') IS NOT NULL

-- name: create_migrations_table
CREATE TABLE IF NOT EXISTS perocube_schema_migrations (
    version integer PRIMARY KEY,
    name text NOT NULL,
    checksum text NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now())

-- name: current_version
SELECT coalesce(max(version), 0) FROM perocube_schema_migrations

-- name: applied_checksums
SELECT version, checksum FROM perocube_schema_migrations ORDER BY version

-- name: applied_versions
SELECT version FROM perocube_schema_migrations

-- name: applied_list
SELECT version, name, applied_at FROM perocube_schema_migrations ORDER BY version

-- name: record_migration
INSERT INTO perocube_schema_migrations (version, name, checksum) VALUES (%s, %s, %s)

-- name: lock
SELECT pg_advisory_lock(%s)

-- name: unlock
SELECT pg_advisory_unlock(%s)

-- name: ensure_policies
SELECT perocube_ensure_policies()

-- name: set_compression_age
SELECT perocube_set_compression_age(make_interval(days => %s))

-- name: preload_setting
SELECT current_setting('shared_preload_libraries')

-- name: timescaledb_launcher_running
-- for a role that may not read shared_preload_libraries: the extension's background workers run
SELECT EXISTS (SELECT 1 FROM pg_stat_activity WHERE backend_type LIKE 'TimescaleDB%')

-- name: timescaledb_available
SELECT EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'timescaledb')

-- name: timescaledb_active
SELECT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'timescaledb')

-- name: timescaledb_version
SELECT extversion FROM pg_extension WHERE extname = 'timescaledb'

-- name: enable_timescaledb
SELECT perocube_enable_timescaledb()

-- name: has_function
SELECT EXISTS (SELECT 1 FROM pg_proc WHERE proname = %s)

-- name: server_version
SHOW server_version
