import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { startWebhookSink, type WebhookSink } from '../fakes/webhook-sink';
import { launchChromium, withScreenshotOnFailure } from '../support/chromium';
import { useProcessFixture } from '../support/process-fixture';
import { v1Client } from '../support/v1-client';
import { waitFor } from '../support/wait';
import { waitUntilStarted, type WorkerProcess } from '../support/worker-process';
import { reserveConnectionsForFile } from '../support/connection-budget';

const API_KEY = 'dashboard-test-key-0123456789';
/** What a hostile receiver answers: it lands in last_error, which the dashboard shows. */
const HOSTILE = `<script>window.__xss = 'script'</script><img src=x onerror="window.__xss = 'img'">`;

// Its peak of PostgreSQL connections, measured by scripts/pg-connections-by-file.sh, with a margin.
reserveConnectionsForFile(27);

/**
 * The operator dashboard in real headless Chromium against a real worker process on PostgreSQL
 * and Redis, with a real webhook receiver: sign in with the API key, a dead letter whose error is
 * hostile markup shown as text, redriven after a confirmation and delivered; a campaign paused; a
 * job's last run; the page refreshing itself; wrong keys and CSRF-less posts refused; reading and
 * acting with JavaScript off. A failed step leaves a screenshot in .test-results/.
 */
describe('the operator dashboard in headless Chromium', () => {
  const fixture = useProcessFixture();
  let worker: WorkerProcess;
  let sink: WebhookSink;
  let browser: Browser;
  /** Keys the receiver refuses with HOSTILE until a test lets them through. */
  const refused = new Set<string>();
  const contexts: BrowserContext[] = [];

  beforeAll(async () => {
    sink = await startWebhookSink();
    sink.respond((info) => ([...refused].some((key) => info.key.includes(key)) ? { status: 500, body: HOSTILE } : { status: 200 }));
    worker = fixture.spawn('dashboard', {
      ...fixture.serviceEnv(),
      API_KEY,
      LOG_LEVEL: 'info',
      WEBHOOK_TARGETS: `crm=${sink.url}`,
      WEBHOOK_ALLOW_PRIVATE: 'true',
      // One attempt: a 500 makes the message dead at once.
      DELIVERY_MAX_ATTEMPTS: '1',
      // A job that runs every second, so its last run shows up soon.
      TRIAL_EXPIRATION_CRON: '* * * * * *',
      DASHBOARD_REFRESH_SECONDS: '1',
    });
    [browser] = await Promise.all([launchChromium(), waitUntilStarted(worker)]);
    expect((await call('PUT', '/v1/tenants/t1', { name: 'Tenant one', status: 'active' })).status).toBe(201);
  });
  afterAll(async () => {
    await Promise.all(contexts.map((c) => c.close().catch(() => undefined)));
    await browser?.close();
    await sink?.close();
  });

  const call = v1Client(() => worker, API_KEY);
  const base = () => `http://127.0.0.1:${worker.port()}`;
  const message = (key: string) => ({
    tenantId: 't1',
    channel: 'webhook',
    recipient: 'crm',
    scheduledAt: new Date().toISOString(),
    template: 'Hello',
    idempotencyKey: key,
  });
  const statusOf = async (id: string): Promise<string> => (await call('GET', `/v1/messages/${id}`)).body.status;
  const deadMessage = async (key: string): Promise<string> => {
    refused.add(key);
    const created = await call('POST', '/v1/messages', { messages: [message(key)] });
    expect(created.status).toBe(201);
    const id: string = created.body.ids[0];
    await waitFor(`message ${key} dead`, async () => (await statusOf(id)) === 'dead');
    return id;
  };

  async function newPage(options: { javaScriptEnabled?: boolean } = {}): Promise<Page> {
    const context = await browser.newContext(options);
    contexts.push(context);
    const page = await context.newPage();
    page.setDefaultTimeout(30_000);
    return page;
  }

  async function signIn(page: Page, key = API_KEY) {
    await page.goto(`${base()}/dashboard`);
    // Not signed in: the dashboard sends the browser to the sign-in form.
    expect(new URL(page.url()).pathname).toBe('/dashboard/login');
    await page.fill('input[name="apiKey"]', key);
    const [response] = await Promise.all([page.waitForNavigation(), page.click('button[type="submit"]')]);
    return response!;
  }

  it('refuses a wrong API key with 401 and sets no cookie', async () => {
    const page = await newPage();
    await withScreenshotOnFailure(page, 'dashboard-wrong-key', async () => {
      const response = await signIn(page, 'not-the-key-0123456789');
      expect(response.status()).toBe(401);
      expect(await page.textContent('.problem')).toContain('Wrong API key');
      expect(await page.context().cookies()).toEqual([]);
      // Still not in: the dashboard sends it back to the form.
      await page.goto(`${base()}/dashboard`);
      expect(new URL(page.url()).pathname).toBe('/dashboard/login');
    });
  });

  it('shows a dead letter with its hostile error as text; a dismissed confirmation changes nothing; redriven, it is delivered', async () => {
    const id = await deadMessage('dead-hostile');
    const page = await newPage();
    await withScreenshotOnFailure(page, 'dashboard-redrive', async () => {
      expect((await signIn(page)).status()).toBe(200);
      const cookies = await page.context().cookies();
      expect(cookies).toEqual([expect.objectContaining({ name: 'crmw_dashboard', httpOnly: true, sameSite: 'Strict', path: '/dashboard' })]);

      const row = page.locator(`#dead tr[data-message-id="${id}"]`);
      await row.waitFor();
      // The receiver's markup is shown as the text it is, and none of it ran.
      expect(await row.locator('td.error').textContent()).toContain(HOSTILE);
      expect(await row.locator('td.error img, td.error script').count()).toBe(0);
      expect(await page.evaluate(() => (globalThis as { __xss?: string }).__xss)).toBeUndefined();

      // Dismissed: nothing is posted, the message stays dead.
      const asked: string[] = [];
      page.once('dialog', (dialog) => void (asked.push(dialog.message()), dialog.dismiss()));
      await row.locator('button', { hasText: 'Redrive' }).click();
      await waitFor('the confirmation dialog', () => asked.length === 1);
      expect(asked[0]).toContain(`Send dead message ${id} again`);
      expect(await statusOf(id)).toBe('dead');

      refused.delete('dead-hostile');
      page.once('dialog', (dialog) => void dialog.accept());
      await Promise.all([page.waitForURL(/done=redrive/), row.locator('button', { hasText: 'Redrive' }).click()]);
      expect(await page.textContent('.notice')).toContain(`Message ${id} redriven`);
      await waitFor('the redriven message delivered', () => sink.deliveredKeys().size > 0 && [...sink.deliveredKeys()].some((k) => k.includes('dead-hostile')));
      // The page refreshes itself: without a reload, the dead list empties and the sent count appears.
      await page.locator(`#dead tr[data-message-id="${id}"]`).waitFor({ state: 'detached' });
      await page.waitForSelector('#outbox td[data-status="sent"][data-channel="webhook"]');
      expect(Number(await page.textContent('#outbox td[data-status="sent"][data-channel="webhook"]'))).toBeGreaterThanOrEqual(1);
      expect(await statusOf(id)).toBe('sent');
    });
  });

  it('pauses a campaign after confirmation, and shows a job with its last run', async () => {
    expect((await call('PUT', '/v1/contacts/c1', { tenantId: 't1', name: 'Ann', email: 'ann@example.com' })).status).toBe(201);
    expect((await call('PUT', '/v1/lists/l1', { tenantId: 't1', name: 'Newsletter' })).status).toBe(201);
    expect((await call('PUT', '/v1/lists/l1/members', { contactIds: ['c1'] })).status).toBe(200);
    const created = await call('POST', '/v1/campaigns', {
      tenantId: 't1',
      name: 'Spring <b>sale</b>',
      channel: 'email',
      subject: 'Hi',
      template: 'Hello {{ contact.name }}',
      sendAt: new Date(Date.now() + 3_600_000).toISOString(),
      listId: 'l1',
    });
    expect(created.status).toBe(201);
    const campaignId: string = created.body.id;

    const page = await newPage();
    await withScreenshotOnFailure(page, 'dashboard-campaign-and-job', async () => {
      await signIn(page);
      const row = page.locator(`#campaigns tr[data-campaign-id="${campaignId}"]`);
      await row.waitFor();
      expect(await row.locator('[data-field="status"]').textContent()).toBe('scheduled');
      expect(await row.locator('td').first().textContent()).toContain('Spring <b>sale</b>');
      page.once('dialog', (dialog) => void dialog.accept());
      await Promise.all([page.waitForURL(/done=campaign-pause/), row.locator('button', { hasText: 'Pause' }).click()]);
      expect(await page.locator(`#campaigns tr[data-campaign-id="${campaignId}"] [data-field="status"]`).textContent()).toBe('paused');
      expect((await call('GET', `/v1/campaigns/${campaignId}`)).body.status).toBe('paused');

      // trial-expiration runs every second: its row, with a schedule, a next fire time and a succeeded run.
      const job = page.locator('#jobs tr[data-job="trial-expiration"]');
      await job.locator('li[data-outcome="succeeded"]').first().waitFor();
      expect(await job.locator('code').textContent()).toBe('* * * * * *');
      expect(await job.textContent()).toMatch(/\d{4}-\d\d-\d\dT/);
      // Dependencies: the database and Redis as /health sees them.
      expect(await page.textContent('#health tr[data-service="database"]')).toContain('connected');
      expect(await page.textContent('#health tr[data-service="redis"]')).toContain('connected');
    });
  });

  it('refuses a POST without the CSRF token, also from a page of another origin, and changes nothing', async () => {
    const id = await deadMessage('dead-csrf');
    const page = await newPage();
    await withScreenshotOnFailure(page, 'dashboard-csrf', async () => {
      await signIn(page);
      // The session's own cookie, but no token / a wrong one: 403.
      const noToken = await page.request.post(`${base()}/dashboard/messages/${id}/redrive`, { form: { confirm: 'yes' }, maxRedirects: 0 });
      expect(noToken.status()).toBe(403);
      const wrongToken = await page.request.post(`${base()}/dashboard/messages/${id}/redrive`, {
        form: { confirm: 'yes', csrf: 'x'.repeat(43) },
        maxRedirects: 0,
      });
      expect(wrongToken.status()).toBe(403);
      // Without a session at all: 401.
      const anonymous = await fetch(`${base()}/dashboard/messages/${id}/redrive`, {
        method: 'POST',
        body: new URLSearchParams({ confirm: 'yes' }),
        redirect: 'manual',
      });
      expect(anonymous.status).toBe(401);

      // A page on another port of the same host is same-site, so the browser sends the
      // SameSite=Strict cookie along: only the token stops its form.
      const evil = http.createServer((_req, res) =>
        res
          .writeHead(200, { 'content-type': 'text/html' })
          .end(
            `<form id="f" method="post" action="${base()}/dashboard/messages/${id}/redrive"><input name="confirm" value="yes"></form><script>document.getElementById('f').submit()</script>`,
          ),
      );
      await new Promise<void>((resolve) => evil.listen(0, '127.0.0.1', resolve));
      try {
        const [response] = await Promise.all([
          page.waitForResponse((r) => r.url().endsWith(`/dashboard/messages/${id}/redrive`)),
          page.goto(`http://127.0.0.1:${(evil.address() as AddressInfo).port}/`),
        ]);
        expect(response.status()).toBe(403);
      } finally {
        await new Promise((resolve) => evil.close(resolve));
      }
      expect(await statusOf(id)).toBe('dead');
    });
  });

  it('reads and acts with JavaScript off: counts shown, an unknown outcome resolved through the confirmation page', async () => {
    // An e-mail: an unknown webhook is resent by the dispatcher itself (the receiver deduplicates), an unknown e-mail waits for an operator.
    const later = new Date(Date.now() + 3_600_000).toISOString();
    const created = await call('POST', '/v1/messages', {
      messages: [{ ...message('unknown-1'), channel: 'email', recipient: 'ann@example.com', subject: 'Hi', scheduledAt: later }],
    });
    expect(created.status).toBe(201);
    const id: string = created.body.ids[0];
    // Arranged as the API tests do: an outcome only a crash mid-send would leave.
    await fixture.sql(`UPDATE scheduled_messages SET status = 'unknown', last_error = 'lease expired while sending' WHERE id = $1`, [id]);

    const page = await newPage({ javaScriptEnabled: false });
    await withScreenshotOnFailure(page, 'dashboard-no-javascript', async () => {
      expect((await signIn(page)).status()).toBe(200);
      expect(Number(await page.textContent('#outbox td[data-status="unknown"][data-channel="email"]'))).toBe(1);
      expect(Number(await page.textContent('#outbox [data-count="due-now"]'))).toBeGreaterThanOrEqual(0);
      const row = page.locator(`#unknown tr[data-message-id="${id}"]`);
      expect(await row.locator('td.error').textContent()).toBe('lease expired while sending');

      // No dialog without JavaScript: the form leads to a confirmation page first; nothing changed yet.
      await Promise.all([page.waitForNavigation(), row.locator('button', { hasText: 'Resolve: failed' }).click()]);
      expect(await page.textContent('#confirm')).toContain(`Record message ${id} as failed`);
      expect(await statusOf(id)).toBe('unknown');
      await Promise.all([page.waitForURL(/done=resolve-failed/), page.click('#confirm button[type="submit"]')]);
      expect(await page.textContent('.notice')).toContain(`Message ${id} recorded as failed`);
      expect(await page.locator(`#unknown tr[data-message-id="${id}"]`).count()).toBe(0);
      expect(await statusOf(id)).toBe('failed');
    });
  });

  it('counts a message held by quiet hours, and no longer once it is released', async () => {
    // Quiet hours around now for tenant 'qh' only (UTC wall clock, an hour back to two ahead): a
    // campaign due now is claimed, held to the window's end and put back to 'scheduled'.
    expect((await call('PUT', '/v1/tenants/qh', { name: 'Quiet', status: 'active', timezone: 'UTC' })).status).toBe(201);
    const hhmm = (t: number) => new Date(t).toISOString().slice(11, 16);
    const now = Date.now();
    expect((await call('PUT', '/v1/quiet-hours', { tenantId: 'qh', starts: hhmm(now - 3_600_000), ends: hhmm(now + 2 * 3_600_000) })).status).toBe(201);
    const created = await call('POST', '/v1/messages', { messages: [{ ...message('held-1'), tenantId: 'qh', type: 'campaign' }] });
    expect(created.status).toBe(201);
    const id: string = created.body.ids[0];
    await waitFor('the campaign held by quiet hours', async () => {
      const m = (await call('GET', `/v1/messages/${id}`)).body;
      return m.status === 'scheduled' && m.holdReason === 'quiet-hours';
    });

    const page = await newPage();
    await withScreenshotOnFailure(page, 'dashboard-held', async () => {
      expect((await signIn(page)).status()).toBe(200);
      expect(Number(await page.textContent('#outbox [data-count="held-quiet-hours"]'))).toBe(1);
      expect(Number(await page.textContent('#outbox [data-count="held-frequency-cap"]'))).toBe(0);
      // Held is part of "scheduled for later", not of "due now".
      expect(Number(await page.textContent('#outbox [data-count="scheduled-later"]'))).toBeGreaterThanOrEqual(1);

      // Released (the window removed, the hold cut short as the end of a window would): due now,
      // held no more, though the row keeps its hold_reason.
      expect((await call('DELETE', '/v1/quiet-hours?tenantId=qh')).status).toBe(204);
      await fixture.sql(`UPDATE scheduled_messages SET due_at = now(), held_until = now() WHERE id = $1`, [id]);
      await waitFor(`message ${id} sent`, async () => (await statusOf(id)) === 'sent');
      await page.reload();
      expect(Number(await page.textContent('#outbox [data-count="held-quiet-hours"]'))).toBe(0);
    });
  });

  it('signs out: the cookie is gone and the dashboard asks for the key again', async () => {
    const page = await newPage();
    await withScreenshotOnFailure(page, 'dashboard-sign-out', async () => {
      await signIn(page);
      await Promise.all([page.waitForURL(/\/dashboard\/login$/), page.click('form.logout button')]);
      expect(await page.context().cookies()).toEqual([]);
      await page.goto(`${base()}/dashboard`);
      expect(new URL(page.url()).pathname).toBe('/dashboard/login');
    });
  });

  it('is disabled, saying why, on a worker without API_KEY', async () => {
    const keyless = fixture.spawn('dashboard-keyless', {
      ...fixture.serviceEnv(':keyless:'),
      JOBS_ENABLED: 'false',
      DELIVERY_ENABLED: 'false',
      LOG_LEVEL: 'info',
    });
    await waitUntilStarted(keyless);
    for (const path of ['/dashboard', '/dashboard/login']) {
      const response = await fetch(`http://127.0.0.1:${keyless.port()}${path}`, { redirect: 'manual' });
      expect(response.status).toBe(403);
      expect(await response.text()).toContain('The dashboard is disabled: set API_KEY');
    }
    const login = await fetch(`http://127.0.0.1:${keyless.port()}/dashboard/login`, {
      method: 'POST',
      body: new URLSearchParams({ apiKey: 'anything-at-all-1234' }),
    });
    expect(login.status).toBe(403);
    expect(login.headers.get('set-cookie')).toBeNull();
  });
});
