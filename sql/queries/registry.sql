-- Registry (registry/repository.py). Per-entity CRUD is composed from the declarations in
-- registry/schema.py with psycopg.sql identifiers; the fixed queries live here.

-- name: irradiance_sensor_exists
SELECT EXISTS (SELECT 1 FROM irradiance_sensor WHERE sensor_identifier = %s AND channel = %s)

-- name: foreign_keys_to
-- (referring table, its columns, the referred columns) of every foreign key pointing at a table
SELECT c.conrelid::regclass::text, array_agg(a.attname ORDER BY k.ord), array_agg(fa.attname ORDER BY k.ord)
FROM pg_constraint c
CROSS JOIN LATERAL unnest(c.conkey, c.confkey) WITH ORDINALITY AS k(att, fatt, ord)
JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.att
JOIN pg_attribute fa ON fa.attrelid = c.confrelid AND fa.attnum = k.fatt
WHERE c.contype = 'f' AND c.confrelid = %s::regclass
GROUP BY c.oid, c.conrelid

-- name: audit_insert
INSERT INTO audit_log (os_user, host, table_name, action, row_key, old_values, new_values)
VALUES (%s, %s, %s, %s, %s::jsonb, %s::jsonb, %s::jsonb)

-- name: audit_recent
SELECT changed_at, os_user, host, table_name, action, row_key::text, old_values::text, new_values::text
FROM audit_log ORDER BY id DESC LIMIT %s
