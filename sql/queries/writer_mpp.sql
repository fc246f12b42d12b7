-- The live writer's MPP path (perocube_desktop/ingest/writer.py).

-- name: register_channels
INSERT INTO mpp_tracking_channel (board, channel)
SELECT * FROM unnest(%s::int[], %s::int[])
ON CONFLICT DO NOTHING
RETURNING board, channel

-- name: insert_staged
INSERT INTO mpp_measurement ("timestamp", power, current, voltage, tracking_channel_board, tracking_channel_channel)
SELECT "timestamp", power, current, voltage, tracking_channel_board, tracking_channel_channel FROM _stage_mpp
ON CONFLICT DO NOTHING


-- Messages the receiver could not store as samples, with the peer and the reason
-- name: copy_quarantine
COPY quarantine (received_at, source, origin, raw, reason) FROM STDIN
