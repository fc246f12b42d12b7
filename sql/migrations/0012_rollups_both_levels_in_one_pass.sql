-- The plain-PostgreSQL rollup refresh reads the raw rows once for both levels (#23).
--
-- 0010 recomputed each level from the raw table: two scans and two aggregations of every raw row
-- in the range. Here the minute level is aggregated once, with each value column's count and sum
-- beside its min, max and mean, and the hour level is aggregated from those minute rows: the
-- hour's mean is the sum of the minute sums over the sum of the minute counts, which is avg() of
-- the raw values exactly (avg skips NULLs as count(column) does; a bucket whose values are all
-- NULL gets NULL, as avg gives), up to floating-point rounding in the last digits. Count, min and
-- max of an hour are those of its minutes. Same rows as before otherwise: tests/test_rollups.py
-- compares every rollup with a fresh aggregate of the raw table, means to 1e-9 relative.
-- TimescaleDB is untouched (its continuous aggregates are refreshed by db/rollups.py).

CREATE OR REPLACE FUNCTION perocube_recompute_rollups(p_kind text, lo timestamptz, hi timestamptz,
                                                      p_board integer DEFAULT NULL,
                                                      p_channel integer DEFAULT NULL)
RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    s record;
    ids text;
    cols text;
    minute_aggs text;
    minute_cols text;
    hour_aggs text;
    scope text := '';
BEGIN
    SELECT * INTO STRICT s FROM perocube_rollup_series() AS r WHERE r.kind = p_kind;
    SELECT string_agg(format('%I', c), ', ') INTO ids FROM unnest(s.id_columns) AS c;
    SELECT string_agg(format('%I, %I, %I', c || '_min', c || '_max', c || '_mean'), ', '),
           string_agg(format('min(%1$I) AS %2$I, max(%1$I) AS %3$I, avg(%1$I) AS %4$I, count(%1$I) AS %5$I, sum(%1$I) AS %6$I',
                             c, c || '_min', c || '_max', c || '_mean', c || '_count', c || '_sum'), ', '),
           string_agg(format('%1$I, %2$I, %3$I', c || '_min', c || '_max', c || '_mean'), ', '),
           string_agg(format('min(%1$I), max(%2$I), sum(%3$I) / nullif(sum(%4$I), 0)',
                             c || '_min', c || '_max', c || '_sum', c || '_count'), ', ')
      INTO cols, minute_aggs, minute_cols, hour_aggs FROM unnest(s.value_columns) AS c;
    IF p_board IS NOT NULL THEN
        scope := ' AND tracking_channel_board = $3 AND tracking_channel_channel = $4';
    END IF;
    EXECUTE format('DELETE FROM %I WHERE bucket >= $1 AND bucket < $2', p_kind || '_rollup_1m') || scope
        USING lo, hi, p_board, p_channel;
    EXECUTE format('DELETE FROM %I WHERE bucket >= $1 AND bucket < $2', p_kind || '_rollup_1h') || scope
        USING lo, hi, p_board, p_channel;
    EXECUTE format(
        'WITH m AS MATERIALIZED (SELECT date_bin(interval ''1 minute'', "timestamp", ''epoch'') AS bucket, %1$s, '
        'count(*) AS n, %2$s FROM %3$I WHERE "timestamp" >= $1 AND "timestamp" < $2%4$s GROUP BY 1, %1$s), '
        'minute AS (INSERT INTO %5$I (bucket, %1$s, n, %6$s) SELECT bucket, %1$s, n, %7$s FROM m) '
        'INSERT INTO %8$I (bucket, %1$s, n, %6$s) SELECT date_bin(interval ''1 hour'', bucket, ''epoch''), %1$s, '
        'sum(n), %9$s FROM m GROUP BY 1, %1$s',
        ids, minute_aggs, s.raw_table, scope, p_kind || '_rollup_1m', cols, minute_cols, p_kind || '_rollup_1h',
        hour_aggs)
        USING lo, hi, p_board, p_channel;
END $$;
