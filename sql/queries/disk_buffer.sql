-- SQLite, not PostgreSQL: the receiver's local disk buffer (perocube_desktop/ingest/buffer.py).
-- Every accepted sample is committed here (WAL, synchronous=FULL) before its ACK is sent; the
-- writer moves the rows to PostgreSQL in id order and deletes them after the PostgreSQL commit.
-- Parameters are SQLite's "?".

-- name: schema
CREATE TABLE IF NOT EXISTS segment (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    kind TEXT NOT NULL,        -- mpp | temperature | irradiance
    rows INTEGER NOT NULL,
    t_lo INTEGER, t_hi INTEGER, -- the rows' time range, microseconds since the epoch
    channels TEXT,             -- mpp: 'board/channel' pairs separated by spaces
    body TEXT NOT NULL         -- COPY text: mpp_measurement columns for mpp, _stage_ingest columns otherwise
);
CREATE TABLE IF NOT EXISTS quarantine (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    received_us INTEGER NOT NULL, origin TEXT, raw TEXT NOT NULL, reason TEXT NOT NULL
);

-- name: rows_waiting
SELECT coalesce(sum(rows), 0) FROM segment

-- A buffer file of an earlier version kept one row per sample in "pending"
-- name: has_pending_table
SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'pending'

-- name: pending_rows
SELECT kind, ts_us, a, b, c, board, channel, sensor, ident, ichan FROM pending ORDER BY id

-- name: drop_pending
DROP TABLE pending

-- name: insert_segment
INSERT INTO segment (kind, rows, t_lo, t_hi, channels, body) VALUES (?, ?, ?, ?, ?, ?)

-- name: insert_quarantine
INSERT INTO quarantine (received_us, origin, raw, reason) VALUES (?, ?, ?, ?)

-- The last segment id of the batch (about max_rows rows, at least one segment): (max id, last id)
-- name: batch_end
SELECT max(id), coalesce(max(CASE WHEN run >= ? THEN NULL ELSE id END), min(id)) FROM (
    SELECT id, sum(rows) OVER (ORDER BY id ROWS UNBOUNDED PRECEDING) - rows AS run
    FROM (SELECT id, rows FROM segment ORDER BY id LIMIT ?))

-- SQLite concatenates the COPY texts: many small segments cost no Python per segment
-- name: batch_by_kind
SELECT kind, sum(rows), min(t_lo), max(t_hi), group_concat(body, '') FROM segment WHERE id <= ? GROUP BY kind

-- name: batch_channels
SELECT DISTINCT channels FROM segment WHERE id <= ? AND kind = 'mpp'

-- name: read_quarantine
SELECT id, received_us, origin, raw, reason FROM quarantine ORDER BY id LIMIT ?

-- name: rows_upto
SELECT coalesce(sum(rows), 0) FROM segment WHERE id <= ?

-- name: delete_segments_upto
DELETE FROM segment WHERE id <= ?

-- name: delete_quarantine_upto
DELETE FROM quarantine WHERE id <= ?
