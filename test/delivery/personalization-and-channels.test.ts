import { Registry } from 'prom-client';
import { createPersonalizationMetrics } from '../../src/ai/personalizer';
import { OpenAiPersonalizer } from '../../src/ai/openai-personalizer';
import { PermanentDeliveryError } from '../../src/channels/errors';
import { WebhookChannel } from '../../src/channels/webhook-channel';
import { ConfigError, loadConfig } from '../../src/config/config';
import type { Database } from '../../src/db/database';
import { scheduleMessages } from '../../src/delivery/outbox';
import { retryDelayMs } from '../../src/delivery/retry-policy';
import { startFakeOpenAI, type FakeOpenAI } from '../fakes/fake-openai';
import { startWebhookSink, type WebhookSink } from '../fakes/webhook-sink';
import { createCapturingLogger } from '../fakes/capturing-logger';
import { deliveryConfig, openDeliveryDatabase, startDispatcher, statusOf, type InProcessDispatcher } from '../support/delivery-harness';
import { quietLogger } from '../support/harness';
import { waitFor } from '../support/wait';

describe('AI personalization at send time (fake OpenAI through the official client)', () => {
  let db: Database;
  let closeDb: () => Promise<void>;
  let sink: WebhookSink;
  let openai: FakeOpenAI;
  let running: InProcessDispatcher;
  let registry: Registry;

  beforeAll(async () => {
    ({ db, close: closeDb } = await openDeliveryDatabase('postgres'));
    sink = await startWebhookSink();
    openai = await startFakeOpenAI();
    registry = new Registry();
    const personalizer = new OpenAiPersonalizer(
      { apiKey: openai.apiKey, baseUrl: openai.baseUrl, model: 'gpt-4o-mini', timeoutMs: 500 },
      { logger: createCapturingLogger().logger, metrics: createPersonalizationMetrics([registry]) },
    );
    running = startDispatcher(db, deliveryConfig({ WEBHOOK_TARGETS: `sink=${sink.url}` }), { personalizer });
  });
  afterAll(async () => {
    await running.stop();
    await openai.close();
    await sink.close();
    await closeDb();
  });

  const send = async (key: string) => {
    await scheduleMessages(db, [
      {
        tenantId: 't1',
        channel: 'webhook',
        recipient: 'sink',
        scheduledAt: new Date(Date.now() + 100),
        template: 'Hi {{ name }}, checking in',
        variables: { name: 'Ann' },
        idempotencyKey: key,
        personalize: true,
        tone: 'warm',
        contextHints: { project: 'kitchen' },
      },
    ]);
    await waitFor(key, async () => (await statusOf(db, key))?.status === 'sent');
    return sink.deliveries.find((d) => d.key === key)!.body['message'];
  };

  it('sends the rewrite in the requested tone with the context hints', async () => {
    openai.chatBehaviour = 'normal';
    openai.chatReply = (request) => {
      const asked = JSON.parse(request.messages.at(-1)!.content) as { tone: string; message: string; context_hints: { project: string } };
      return `(${asked.tone}, ${asked.context_hints.project}) ${asked.message}`;
    };
    expect(await send('ai-ok')).toBe('(warm, kitchen) Hi Ann, checking in');
  });

  it('fails open: an OpenAI error sends the rendered template, and the fallback is counted', async () => {
    openai.chatBehaviour = 'error';
    expect(await send('ai-down')).toBe('Hi Ann, checking in');
    const counted = (await registry.getSingleMetric('crm_worker_personalization_fallbacks_total')!.get()).values;
    expect(counted.find((v) => v.labels['reason'] === 'http_error')?.value).toBe(1);
  });
});

describe('webhook channel address guard', () => {
  let sink: WebhookSink;
  beforeAll(async () => {
    sink = await startWebhookSink();
  });
  afterAll(async () => {
    await sink.close();
  });
  const message = (recipient: string) => ({
    id: '1',
    tenantId: 't1',
    channel: 'webhook' as const,
    recipient,
    body: 'x',
    type: 'followup',
    metadata: {},
  });
  const options = { idempotencyKey: 'guard-1', signal: new AbortController().signal };

  it.each([
    ['a loopback IP', (url: string) => url],
    ['localhost by name', (url: string) => url.replace('127.0.0.1', 'localhost')],
    ['a private network address', () => 'http://10.1.2.3/hook'],
    ['the cloud metadata address', () => 'http://169.254.169.254/latest'],
  ])('refuses %s unless WEBHOOK_ALLOW_PRIVATE', async (_name, target) => {
    const channel = new WebhookChannel({ targets: { t: target(sink.url) }, secret: undefined, allowPrivate: false, logger: quietLogger });
    try {
      const error = await channel.send(message('t'), options).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(PermanentDeliveryError);
      expect((error as Error).message).toContain('WEBHOOK_ALLOW_PRIVATE');
    } finally {
      channel.close();
    }
    expect(sink.requests).toEqual([]);
  });

  it('sends to the same loopback sink when allowed', async () => {
    const channel = new WebhookChannel({ targets: { t: sink.url }, secret: 's', allowPrivate: true, logger: quietLogger });
    try {
      await channel.send(message('t'), options);
    } finally {
      channel.close();
    }
    expect(sink.deliveries.map((d) => d.key)).toEqual(['guard-1']);
  });
});

describe('delivery configuration', () => {
  const problemsOf = (env: Record<string, string>) => {
    try {
      loadConfig(env);
      return [];
    } catch (err) {
      return (err as ConfigError).problems.map((p) => p.variable + ': ' + p.message);
    }
  };

  it('reads the defaults of designs 002 and 004', () => {
    const { delivery } = loadConfig({});
    expect(delivery).toEqual(expect.objectContaining({ concurrency: 5, rateLimits: { sms: { points: 10, durationSeconds: 60 } } }));
    expect(delivery.followup).toEqual(expect.objectContaining({ enabled: true, ruleTopP: 0.7, scheduleSeconds: [1800, 7200], channel: 'log' }));
    expect(delivery.retry.maxAttempts).toBe(3);
    expect(loadConfig({ FOLLOWUP_SCHEDULES: '15m,1h,120,1d', WEBHOOK_URL: 'https://n8n.example/hook' }).delivery.followup).toEqual(
      expect.objectContaining({ scheduleSeconds: [900, 3600, 120, 86400], channel: 'webhook' }),
    );
  });

  it('names the variable and the bad entry', () => {
    expect(problemsOf({ FOLLOWUP_SCHEDULES: '30m,soon' })).toEqual([expect.stringMatching(/^FOLLOWUP_SCHEDULES: "soon" is not a delay/)]);
    expect(problemsOf({ DELIVERY_RATE_LIMITS: 'sms=ten/1m' })).toEqual([expect.stringMatching(/^DELIVERY_RATE_LIMITS: "sms=ten\/1m"/)]);
    expect(problemsOf({ DELIVERY_RETRY_POLICIES: 'campaign=0:1s' })).toEqual([expect.stringMatching(/^DELIVERY_RETRY_POLICIES: /)]);
    expect(problemsOf({ WEBHOOK_TARGETS: 'n8n=ftp://x' })).toEqual([expect.stringMatching(/^WEBHOOK_TARGETS: target "n8n" must be http\(s\)/)]);
    expect(problemsOf({ FOLLOWUP_RULE_TOP_P: '1.5' })).toEqual([expect.stringMatching(/^FOLLOWUP_RULE_TOP_P: must be between 0 and 1/)]);
  });

  it('backs off exponentially with jitter, per message type', () => {
    const retry = loadConfig({ DELIVERY_RETRY_BASE_MS: '1000', DELIVERY_RETRY_POLICIES: 'dunning=5:1m' }).delivery.retry;
    expect([1, 2, 3].map((n) => retryDelayMs(retry, 'followup', n, () => 0))).toEqual([500, 1000, 2000]);
    expect([1, 2, 3].map((n) => retryDelayMs(retry, 'followup', n, () => 1))).toEqual([1000, 2000, 4000]);
    expect(retryDelayMs(retry, 'dunning', 1, () => 1)).toBe(60_000);
    expect(retry.byType['dunning']?.maxAttempts).toBe(5);
  });
});
