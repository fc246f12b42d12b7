-- Compression that never fights an import, and policies that are left alone once right.
--
-- * perocube_ensure_policies (0007) looked its refresh jobs up by the materialisation hypertable;
--   TimescaleDB 2.28 reports the view's name there, so it re-created the six policies on every
--   start. Now both names match.
-- * perocube_set_compression_age re-created the compression policies on every start (new job ids,
--   and a policy paused by a running import started again); now only when the age changed, keeping
--   the job's paused state.
-- * perocube_resume_compression(): the importer pauses the compression policies while it loads
--   (historical chunks are older than the compression age the moment they arrive) and resumes them
--   when done; after a crash the runner resumes them once no import holds the advisory lock.

CREATE OR REPLACE FUNCTION perocube_ensure_policies() RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    v record;
    j record;
    batches boolean;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'timescaledb') THEN
        RETURN;
    END IF;
    batches := EXISTS (SELECT 1 FROM pg_proc WHERE proname = 'add_continuous_aggregate_policy'
                       AND 'buckets_per_batch' = ANY (proargnames));
    FOR v IN SELECT * FROM (VALUES
            ('mpp_rollup_1m', interval '1 minute', interval '1 minute'),
            ('temperature_rollup_1m', interval '1 minute', interval '1 minute'),
            ('irradiance_rollup_1m', interval '1 minute', interval '1 minute'),
            ('mpp_rollup_1h', interval '1 hour', interval '30 minutes'),
            ('temperature_rollup_1h', interval '1 hour', interval '30 minutes'),
            ('irradiance_rollup_1h', interval '1 hour', interval '30 minutes')) AS t(view_name, width, sched) LOOP
        SELECT * INTO j FROM timescaledb_information.jobs
        WHERE proc_name = 'policy_refresh_continuous_aggregate'
          AND hypertable_schema IN (current_schema(), '_timescaledb_internal')
          AND hypertable_name IN (v.view_name, (SELECT materialization_hypertable_name
                                                FROM timescaledb_information.continuous_aggregates
                                                WHERE view_schema = current_schema() AND view_name = v.view_name));
        IF FOUND AND j.config ? 'start_offset' AND j.config->'start_offset' = 'null'::jsonb
           AND (NOT batches OR j.config->>'buckets_per_batch' = '0') THEN
            CONTINUE;  -- already the right policy
        END IF;
        PERFORM remove_continuous_aggregate_policy(v.view_name::regclass, if_exists => true);
        IF batches THEN
            -- one batch per run: TimescaleDB 2.19+ would otherwise refresh a back-fill a few buckets
            -- per transaction (40 times slower for a 1-minute aggregate)
            PERFORM add_continuous_aggregate_policy(v.view_name::regclass, start_offset => NULL, end_offset => v.width,
                        schedule_interval => v.sched, initial_start => now() + v.sched, buckets_per_batch => 0);
        ELSE
            PERFORM add_continuous_aggregate_policy(v.view_name::regclass, start_offset => NULL, end_offset => v.width,
                        schedule_interval => v.sched, initial_start => now() + v.sched);
        END IF;
    END LOOP;
END $$;


CREATE OR REPLACE FUNCTION perocube_set_compression_age(age interval) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    t text;
    j record;
    was_paused boolean;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'timescaledb') THEN
        RETURN;
    END IF;
    FOREACH t IN ARRAY ARRAY['mpp_measurement', 'temperature_measurement', 'irradiance_measurement'] LOOP
        SELECT * INTO j FROM timescaledb_information.jobs
        WHERE proc_name = 'policy_compression' AND hypertable_schema = current_schema() AND hypertable_name = t;
        IF FOUND AND (j.config->>'compress_after')::interval = age THEN
            CONTINUE;
        END IF;
        was_paused := FOUND AND NOT j.scheduled;
        PERFORM remove_compression_policy(t, if_exists => true);
        PERFORM add_compression_policy(t, age, if_not_exists => true);
        IF was_paused THEN  -- paused by a running import: stays paused
            PERFORM alter_job(job_id, scheduled => false) FROM timescaledb_information.jobs
            WHERE proc_name = 'policy_compression' AND hypertable_schema = current_schema() AND hypertable_name = t;
        END IF;
    END LOOP;
END $$;

-- Pause (false) or resume (true, starting at once) the compression policies of the measurement
-- tables; returns the jobs changed. A no-op on plain PostgreSQL.
CREATE OR REPLACE FUNCTION perocube_hold_compression(resume boolean) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
    n integer := 0;
    j record;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'timescaledb') THEN
        RETURN 0;
    END IF;
    FOR j IN SELECT job_id FROM timescaledb_information.jobs
             WHERE proc_name = 'policy_compression' AND hypertable_schema = current_schema()
               AND hypertable_name IN ('mpp_measurement', 'temperature_measurement', 'irradiance_measurement')
               AND scheduled = NOT resume LOOP
        IF resume THEN
            PERFORM alter_job(j.job_id, scheduled => true, next_start => now());
        ELSE
            PERFORM alter_job(j.job_id, scheduled => false);
        END IF;
        n := n + 1;
    END LOOP;
    RETURN n;
END $$;
