import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parse } from 'yaml';
import { REPO_ROOT } from '../support/worker-process';

// The alerting rules and their promtool unit tests (observability/prometheus/), run by the real
// promtool (Debian's prometheus package; scripts/test.sh installs it).
const DIR = path.join(REPO_ROOT, 'observability', 'prometheus');
const RULES = 'crm-worker-alerts.yml';
const TESTS = 'crm-worker-alerts.test.yml';

interface AlertTest {
  alert_rule_test?: Array<{ alertname: string; exp_alerts?: unknown[] }>;
}

function alertNames(): string[] {
  const rules = parse(fs.readFileSync(path.join(DIR, RULES), 'utf8')) as { groups: Array<{ rules: Array<{ alert?: string }> }> };
  return rules.groups.flatMap((g) => g.rules.flatMap((r) => (r.alert ? [r.alert] : [])));
}

function promtoolTestRules(dir: string): { status: number | null; output: string } {
  const run = spawnSync('promtool', ['test', 'rules', TESTS], { cwd: dir, encoding: 'utf8' });
  return { status: run.status, output: `${run.stdout}${run.stderr}` };
}

describe('Prometheus alerting rules', () => {
  it('pass promtool check rules', () => {
    const output = execFileSync('promtool', ['check', 'rules', RULES], { cwd: DIR, encoding: 'utf8' });
    expect(output).toContain(`SUCCESS: ${alertNames().length} rules found`);
  });

  it('pass their promtool unit tests', () => {
    const run = promtoolTestRules(DIR);
    expect(run.output).toContain('SUCCESS');
    expect(run.status).toBe(0);
  });

  it('every alert is tested firing and tested silent', () => {
    const tests = (parse(fs.readFileSync(path.join(DIR, TESTS), 'utf8')) as { tests: AlertTest[] }).tests;
    const cases = tests.flatMap((t) => t.alert_rule_test ?? []);
    for (const alert of alertNames()) {
      const mine = cases.filter((c) => c.alertname === alert);
      expect({ alert, fires: mine.some((c) => (c.exp_alerts ?? []).length > 0) }).toEqual({ alert, fires: true });
      expect({ alert, silent: mine.some((c) => (c.exp_alerts ?? []).length === 0) }).toEqual({ alert, silent: true });
    }
  });

  it('the unit tests fail when an alert can never fire (they are not vacuous)', () => {
    // Each alert in turn replaced by one that never fires: promtool must report that alert.
    const original = fs.readFileSync(path.join(DIR, RULES), 'utf8');
    for (const alert of alertNames()) {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'crmw-rules-'));
      const rules = parse(original) as { groups: Array<{ rules: Array<{ alert?: string; expr: string }> }> };
      for (const rule of rules.groups.flatMap((g) => g.rules)) if (rule.alert === alert) rule.expr = 'vector(1) == 0';
      fs.writeFileSync(path.join(dir, RULES), JSON.stringify(rules));
      fs.copyFileSync(path.join(DIR, TESTS), path.join(dir, TESTS));
      const run = promtoolTestRules(dir);
      fs.rmSync(dir, { recursive: true, force: true });
      expect({ alert, status: run.status }).toEqual({ alert, status: 1 });
      expect(run.output).toContain(`alertname: ${alert}`);
    }
  });
});
