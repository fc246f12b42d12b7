-- The migration runner's bookkeeping (db/migrate.py): the migrations table, its lock and the
-- TimescaleDB steps of a migration (the server checks are in server.sql).

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

-- name: applied_list
SELECT version, name, applied_at FROM perocube_schema_migrations ORDER BY version

-- name: record_migration
INSERT INTO perocube_schema_migrations (version, name, checksum) VALUES (%s, %s, %s)

-- Transaction-level: every step of the runner takes it in its own transaction (pooler-safe)
-- name: lock
SELECT pg_advisory_xact_lock(%s)

-- name: is_applied
SELECT EXISTS (SELECT 1 FROM perocube_schema_migrations WHERE version = %s)

-- name: ensure_policies
SELECT perocube_ensure_policies()

-- name: set_compression_age
SELECT perocube_set_compression_age(make_interval(days => %s))

-- name: enable_timescaledb
SELECT perocube_enable_timescaledb()

-- name: timescaledb_tracks_inserts
-- (after perocube_enable_timescaledb, which creates the INSERT triggers again: migration 0013)
SELECT perocube_timescaledb_tracks_inserts()
