-- The import page's list of past imports: one row per imported file, newest first.
-- name: past_imports
SELECT imported_at, path, kind, lines, rows_inserted, duplicates, bad_lines, size_bytes
FROM imported_file
ORDER BY imported_at DESC, path
LIMIT %(limit)s

-- name: import_totals
SELECT count(*), coalesce(sum(rows_inserted), 0), coalesce(sum(bad_lines), 0), max(imported_at)
FROM imported_file
