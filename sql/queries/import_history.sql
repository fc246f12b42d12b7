-- The import page's list of past imports: one row per imported file, newest first.
-- name: past_imports
SELECT imported_at, path, kind, lines, rows_inserted, duplicates, bad_lines, size_bytes
FROM imported_file
ORDER BY imported_at DESC, path
LIMIT %(limit)s

-- name: import_totals
SELECT count(*) AS files, coalesce(sum(rows_inserted), 0) AS rows_inserted,
       coalesce(sum(bad_lines), 0) AS bad_lines, max(imported_at) AS last_import
FROM imported_file
