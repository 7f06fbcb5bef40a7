-- The fence: one row per (job, fire time), whoever runs it. A replica that loses the race to
-- insert this row does not run the tick, whatever the Redis lock said.
CREATE TABLE job_runs (
  id           bigserial PRIMARY KEY,
  job          text        NOT NULL,
  fire_time    timestamptz NOT NULL,
  trigger      text        NOT NULL DEFAULT 'schedule' CHECK (trigger IN ('schedule', 'manual')),
  instance     text        NOT NULL,
  run_id       uuid        NOT NULL UNIQUE,
  lease_epoch  bigint      NOT NULL,
  started_at   timestamptz NOT NULL DEFAULT now(),
  finished_at  timestamptz,
  outcome      text        NOT NULL DEFAULT 'running'
               CHECK (outcome IN ('running', 'succeeded', 'failed', 'aborted', 'lease-lost', 'abandoned')),
  items        integer     NOT NULL DEFAULT 0,
  error        text,
  CONSTRAINT job_runs_one_per_tick UNIQUE (job, fire_time)
);
CREATE INDEX job_runs_job_started ON job_runs (job, started_at DESC);

-- The lease epoch per job: bumped by every new holder. Writes made through a job's fenced
-- database handle re-check it under FOR SHARE, so a holder that lost its lease (paused, partitioned)
-- cannot write after a newer holder took over, even if Redis forgot the lock.
CREATE TABLE job_leases (
  job          text PRIMARY KEY,
  epoch        bigint      NOT NULL,
  holder       text        NOT NULL,
  acquired_at  timestamptz NOT NULL DEFAULT now()
);
