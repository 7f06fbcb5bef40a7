import { withClient } from '../support/probe';

/** Scheduled runs that succeeded per job, fired after `instant` (the failover tests' "jobs fire again"). */
export async function succeededRunsAfter(databaseUrl: string, instant: Date): Promise<Map<string, number>> {
  return withClient(databaseUrl, async (c) => {
    const r = await c.query<{ job: string; n: string }>(
      `SELECT job, count(*) AS n FROM job_runs WHERE trigger = 'schedule' AND outcome = 'succeeded' AND fire_time > $1 GROUP BY job`,
      [instant],
    );
    return new Map(r.rows.map((row) => [row.job, Number(row.n)]));
  });
}

/**
 * Two runs of one job by two instances whose time in job_runs overlaps (both stamped by the
 * database's clock): both believed they held lock:<job> at once, which a Redis that lost a lease
 * write allows. The fence decides which of them may write.
 */
export async function leaseOverlaps(databaseUrl: string) {
  return withClient(databaseUrl, async (c) => {
    const r = await c.query<{ job: string; first: string; second: string; first_outcome: string; second_outcome: string }>(
      `SELECT a.job, a.instance AS first, b.instance AS second, a.outcome AS first_outcome, b.outcome AS second_outcome
         FROM job_runs a JOIN job_runs b
           ON a.job = b.job AND a.id < b.id AND a.instance <> b.instance
          AND b.started_at < coalesce(a.finished_at, 'infinity') AND a.started_at < coalesce(b.finished_at, 'infinity')`,
    );
    return r.rows;
  });
}
