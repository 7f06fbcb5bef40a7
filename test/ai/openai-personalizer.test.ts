import OpenAI from 'openai';
import { Registry } from 'prom-client';
import { createPersonalizer } from '../../src/ai/build-personalizer';
import { OpenAiPersonalizer } from '../../src/ai/openai-personalizer';
import { DisabledPersonalizer, createPersonalizationMetrics, type PersonalizationMetrics } from '../../src/ai/personalizer';
import { loadConfig } from '../../src/config/config';
import { createCapturingLogger } from '../fakes/capturing-logger';
import { FAKE_EMBEDDING_DIMENSIONS, embeddingFor, startFakeOpenAI, type FakeOpenAI } from '../fakes/fake-openai';

const TEMPLATE = 'Hi Jordan, your estimate for the kitchen remodel is ready: https://crm.example/q/881. Reply to book a visit.';

describe('OpenAiPersonalizer against the fake OpenAI API', () => {
  let fake: FakeOpenAI;
  let registry: Registry;
  let metrics: PersonalizationMetrics;
  let personalizer: OpenAiPersonalizer;

  const fallbacks = async (reason: string) =>
    (await registry.getSingleMetric('crm_worker_personalization_fallbacks_total')!.get()).values.find((v) => v.labels.reason === reason)?.value ?? 0;

  beforeAll(async () => {
    fake = await startFakeOpenAI();
  });
  afterAll(async () => {
    await fake.close();
  });
  beforeEach(() => {
    fake.chatBehaviour = 'normal';
    fake.chatRequests.length = 0;
    registry = new Registry();
    metrics = createPersonalizationMetrics([registry]);
    // A deadline no busy machine reaches, so an answer is never mistaken for a timeout; the hang
    // case below takes a short one (it waits the deadline out).
    personalizer = withDeadline(15_000);
  });
  const withDeadline = (timeoutMs: number) =>
    new OpenAiPersonalizer(
      { apiKey: fake.apiKey, baseUrl: fake.baseUrl, model: 'gpt-4o-mini', timeoutMs },
      { logger: createCapturingLogger().logger, metrics },
    );

  it('rewrites the text in the requested tone with the context hints', async () => {
    fake.chatReply = (request) => {
      const asked = JSON.parse(request.messages.at(-1)!.content) as { tone: string; message: string };
      return `(${asked.tone}) ${asked.message}`;
    };
    const result = await personalizer.personalize({
      text: TEMPLATE,
      tone: 'warm',
      contextHints: { project: 'kitchen remodel', lastContact: 'site visit on Monday' },
    });

    expect(result).toEqual({ text: `(warm) ${TEMPLATE}`, personalized: true });
    expect(fake.chatRequests).toHaveLength(1);
    const request = fake.chatRequests[0]!;
    expect(request.model).toBe('gpt-4o-mini');
    expect(request.messages[0]!.role).toBe('system');
    expect(JSON.parse(request.messages[1]!.content)).toEqual({
      tone: 'warm',
      context_hints: { project: 'kitchen remodel', lastContact: 'site visit on Monday' },
      message: TEMPLATE,
    });
  });

  it.each([
    ['error', 'http_error'],
    ['hang', 'timeout'],
    ['garbage', 'malformed'],
    ['no-choices', 'malformed'],
    ['empty', 'empty'],
  ] as const)('falls back to the template when the API answers %s (reason %s) and counts it', async (behaviour, reason) => {
    fake.chatBehaviour = behaviour;
    if (behaviour === 'hang') personalizer = withDeadline(500);
    const result = await personalizer.personalize({ text: TEMPLATE, tone: 'urgent' });

    expect(result).toEqual({ text: TEMPLATE, personalized: false, fallbackReason: reason });
    expect(await fallbacks(reason)).toBe(1);
  });

  it('falls back when the answer is a runaway essay', async () => {
    fake.chatReply = () => 'Dear valued customer, '.repeat(100);
    const result = await personalizer.personalize({ text: TEMPLATE });
    expect(result).toMatchObject({ text: TEMPLATE, personalized: false, fallbackReason: 'malformed' });
  });

  it('falls back when the server is down, and when the caller aborts', async () => {
    const stopped = await startFakeOpenAI();
    const closedUrl = stopped.baseUrl;
    await stopped.close();
    const down = new OpenAiPersonalizer(
      { apiKey: 'sk-test', baseUrl: closedUrl, model: 'gpt-4o-mini', timeoutMs: 2_000 },
      { logger: createCapturingLogger().logger, metrics },
    );
    expect(await down.personalize({ text: TEMPLATE })).toMatchObject({ text: TEMPLATE, fallbackReason: 'connection' });

    fake.chatBehaviour = 'hang';
    const controller = new AbortController();
    const pending = personalizer.personalize({ text: TEMPLATE, signal: controller.signal });
    setTimeout(() => controller.abort(), 20);
    expect(await pending).toMatchObject({ text: TEMPLATE, fallbackReason: 'aborted' });
    expect(await fallbacks('connection')).toBe(1);
    expect(await fallbacks('aborted')).toBe(1);
  });

  it('falls back on a wrong API key (401)', async () => {
    const wrongKey = new OpenAiPersonalizer(
      { apiKey: 'sk-wrong-key', baseUrl: fake.baseUrl, model: 'gpt-4o-mini', timeoutMs: 2_000 },
      { logger: createCapturingLogger().logger, metrics },
    );
    expect(await wrongKey.personalize({ text: TEMPLATE })).toMatchObject({ personalized: false, fallbackReason: 'http_error' });
  });

  it('logs the failure without the API key', async () => {
    const captured = createCapturingLogger();
    const wrongKey = new OpenAiPersonalizer(
      { apiKey: 'sk-wrong-key-1234567890', baseUrl: fake.baseUrl, model: 'gpt-4o-mini', timeoutMs: 2_000 },
      { logger: captured.logger, metrics },
    );
    await wrongKey.personalize({ text: TEMPLATE });
    expect(captured.lines.join('\n')).toContain('http_error');
    expect(captured.lines.join('\n')).not.toContain('sk-wrong-key-1234567890');
  });
});

describe('createPersonalizer', () => {
  const deps = () => ({
    logger: createCapturingLogger().logger,
    metrics: createPersonalizationMetrics([new Registry()]),
  });

  it('is disabled without OPENAI_API_KEY: the template goes out unchanged, nothing counted', async () => {
    const personalizer = await createPersonalizer(loadConfig({}).openai, deps());
    expect(personalizer).toBeInstanceOf(DisabledPersonalizer);
    expect(await personalizer.personalize({ text: TEMPLATE, tone: 'warm' })).toEqual({
      text: TEMPLATE,
      personalized: false,
      fallbackReason: 'disabled',
    });
  });

  it('uses OpenAI with the configured base URL, model and timeout defaults', async () => {
    const config = loadConfig({ OPENAI_API_KEY: 'sk-test-key', OPENAI_BASE_URL: 'http://127.0.0.1:1/v1' }).openai;
    expect(config).toEqual({ apiKey: 'sk-test-key', baseUrl: 'http://127.0.0.1:1/v1', model: 'gpt-4o-mini', timeoutMs: 10_000 });
    expect(await createPersonalizer(config, deps())).toBeInstanceOf(OpenAiPersonalizer);
  });
});

describe('fake OpenAI embeddings (shared with the knowledge-sync job)', () => {
  let fake: FakeOpenAI;
  beforeAll(async () => {
    fake = await startFakeOpenAI();
  });
  afterAll(async () => {
    await fake.close();
  });

  it('returns deterministic 1536-dimension unit vectors through the official client', async () => {
    const client = new OpenAI({ apiKey: fake.apiKey, baseURL: fake.baseUrl, maxRetries: 0 });
    const response = await client.embeddings.create({ model: 'text-embedding-3-small', input: ['roof repair', 'kitchen'] });

    expect(response.data).toHaveLength(2);
    const [first, second] = response.data.map((d) => d.embedding);
    expect(first).toHaveLength(FAKE_EMBEDDING_DIMENSIONS);
    expect(Math.hypot(...first!)).toBeCloseTo(1, 4);
    expect(first![0]).toBeCloseTo(embeddingFor('roof repair')[0]!, 6);
    expect(first).not.toEqual(second);

    const float = await client.embeddings.create({ model: 'text-embedding-3-small', input: 'roof repair', encoding_format: 'float' });
    expect(float.data[0]!.embedding[5]).toBeCloseTo(first![5]!, 6);
    expect(fake.embeddingRequests).toHaveLength(2);
  });
});
