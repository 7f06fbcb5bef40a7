import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parse, stringify } from 'yaml';
import { createTestDatabase, type TestDatabase } from '../support/services';
import { killAll, REPO_ROOT, spawnWorker, waitUntilStarted, type WorkerProcess } from '../support/worker-process';

// The Grafana dashboard (observability/grafana/) and the alert rules must query only metrics the
// worker really exports: read from a real /metrics scrape, so a renamed metric fails here.
const DASHBOARD = path.join(REPO_ROOT, 'observability', 'grafana', 'crm-worker-dashboard.json');
const RULES = path.join(REPO_ROOT, 'observability', 'prometheus', 'crm-worker-alerts.yml');

interface Panel {
  id: number;
  title: string;
  datasource?: { uid?: string };
  targets?: Array<{ expr: string; refId: string }>;
  panels?: Panel[];
}

const dashboard = JSON.parse(fs.readFileSync(DASHBOARD, 'utf8')) as { uid: string; panels: Panel[]; templating: { list: Array<{ query?: string }> } };
const panels = dashboard.panels.flatMap((p) => [p, ...(p.panels ?? [])]);
const queries = [
  ...panels.flatMap((p) => (p.targets ?? []).map((t) => ({ where: `${p.title} ${t.refId}`, expr: t.expr }))),
  ...dashboard.templating.list.flatMap((v, i) => (v.query && v.query.includes('crm_worker_') ? [{ where: `variable ${i}`, expr: v.query }] : [])),
];

/** Metric names a query reads (crm_worker_*), with a histogram's _bucket/_sum/_count as written. */
const metricsIn = (expr: string): string[] => [...new Set(expr.match(/\bcrm_worker_[a-z0-9_]+/g) ?? [])];

/** Names a scrape offers: each TYPE line's family, and for histograms and summaries their series. */
function exportedNames(text: string): Set<string> {
  const names = new Set<string>();
  for (const match of text.matchAll(/^# TYPE (\S+) (\S+)$/gm)) {
    const [, name, type] = match as unknown as [string, string, string];
    names.add(name);
    if (type === 'histogram') for (const suffix of ['_bucket', '_sum', '_count']) names.add(name + suffix);
    if (type === 'summary') for (const suffix of ['_sum', '_count']) names.add(name + suffix);
  }
  return names;
}

describe('Grafana dashboard over the metrics the worker exports', () => {
  const workers: WorkerProcess[] = [];
  let db: TestDatabase;
  let exported: Set<string>;

  beforeAll(async () => {
    db = await createTestDatabase();
    const worker = spawnWorker('grafana', { DATABASE_URL: db.url });
    workers.push(worker);
    await waitUntilStarted(worker);
    const scrape = await worker.get('/metrics', { accept: 'text/plain' });
    expect(scrape.status).toBe(200);
    exported = exportedNames(scrape.body);
  });
  afterAll(async () => {
    await killAll(workers);
    await db.drop();
  });

  it('every panel has a unique id, the datasource variable and at least one query', () => {
    expect(new Set(panels.map((p) => p.id)).size).toBe(panels.length);
    for (const panel of panels) {
      expect({ panel: panel.title, uid: panel.datasource?.uid }).toEqual({ panel: panel.title, uid: '${datasource}' });
      expect({ panel: panel.title, targets: (panel.targets ?? []).length > 0 }).toEqual({ panel: panel.title, targets: true });
    }
  });

  it('every query of the dashboard and of the alert rules names only metrics the worker exports', () => {
    const rules = parse(fs.readFileSync(RULES, 'utf8')) as { groups: Array<{ rules: Array<{ alert: string; expr: string }> }> };
    const ruleExprs = rules.groups.flatMap((g) => g.rules.map((r) => ({ where: r.alert, expr: r.expr })));
    expect(ruleExprs.length).toBeGreaterThanOrEqual(7);
    const unknown = [...queries, ...ruleExprs].flatMap(({ where, expr }) =>
      metricsIn(expr)
        .filter((m) => !exported.has(m))
        .map((m) => `${where}: ${m}`),
    );
    expect(unknown).toEqual([]);
    // Not vacuous: every query reads a metric of the worker, and the check sees a wrong name.
    for (const { where, expr } of [...queries, ...ruleExprs]) expect({ where, metrics: metricsIn(expr).length > 0 }).toEqual({ where, metrics: true });
    expect(exported.has('crm_worker_delivery_lag_seconds_bucket')).toBe(true);
    expect(exported.has('crm_worker_delivery_lag_second_bucket')).toBe(false);
  });

  it('every query is valid PromQL (checked by promtool with the Grafana variables filled in)', () => {
    const exprs = queries.filter((q) => !q.expr.startsWith('label_values('));
    const rules = {
      groups: [
        {
          name: 'grafana-queries',
          rules: exprs.map((q, i) => ({
            record: `grafana:query_${i}`,
            expr: q.expr.replaceAll('$__rate_interval', '5m').replaceAll('$instance', '.*'),
          })),
        },
      ],
    };
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'crmw-grafana-'));
    const file = path.join(dir, 'queries.yml');
    fs.writeFileSync(file, stringify(rules));
    try {
      expect(execFileSync('promtool', ['check', 'rules', file], { encoding: 'utf8' })).toContain(`SUCCESS: ${exprs.length} rules found`);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
