import OpenAI, { APIConnectionError, APIConnectionTimeoutError, APIError } from 'openai';
import type { Config } from '../config/config';
import type { Logger } from '../logging/logger';
import { startDeadline } from '../util/deadline';
import type { PersonalizationMetrics, PersonalizeInput, PersonalizeResult, Personalizer } from './personalizer';

const SYSTEM_PROMPT = [
  'You rewrite messages that a CRM sends to its contacts (SMS, WhatsApp or e-mail).',
  'Rewrite the message in the requested tone, using the context hints only where they fit naturally.',
  'Keep every fact, name, date, time, amount, link and phone number exactly as written.',
  'Add no facts, promises, offers or questions that are in neither the message nor the hints.',
  'Keep the language of the message and roughly its length.',
  'Answer with the rewritten message text only: no preamble, no quotes, no subject line.',
].join(' ');

/** A reply this much longer than the template is a runaway answer, not a rewrite. */
const MAX_GROWTH = 3;
const MAX_EXTRA_CHARS = 300;

class Fallback extends Error {
  constructor(
    readonly reason: string,
    message: string,
  ) {
    super(message);
  }
}

/**
 * Personalization through the official openai client (chat completions), pointed at
 * OPENAI_BASE_URL when set. No client retries: the timeout bounds the whole call, and the
 * template is the fallback, so a retry would only delay a message that can go out as is.
 */
export class OpenAiPersonalizer implements Personalizer {
  private readonly client: OpenAI;
  private readonly model: string;
  private readonly timeoutMs: number;
  private readonly logger: Logger;

  constructor(
    config: Pick<Config['openai'], 'baseUrl' | 'model' | 'timeoutMs'> & { apiKey: string },
    private readonly deps: { logger: Logger; metrics: PersonalizationMetrics },
  ) {
    this.client = new OpenAI({
      apiKey: config.apiKey,
      baseURL: config.baseUrl,
      // The deadline below ends the call; the client's own timeout is only a backstop.
      timeout: config.timeoutMs + 1_000,
      maxRetries: 0,
    });
    this.model = config.model;
    this.timeoutMs = config.timeoutMs;
    this.logger = deps.logger.child({ component: 'personalizer' });
  }

  async personalize(input: PersonalizeInput): Promise<PersonalizeResult> {
    if (input.text.trim() === '') return { text: input.text, personalized: false, fallbackReason: 'empty_template' };
    // Our own deadline rather than the client's timeout: which signal fired tells a timeout from
    // the caller's abort without reading error classes, which differ between fetch realms.
    const deadline = startDeadline(this.timeoutMs, 'personalization', input.signal);
    try {
      const text = await this.rewrite(input, deadline.signal);
      return { text, personalized: true };
    } catch (err) {
      const fallback =
        err instanceof Fallback
          ? err
          : input.signal?.aborted
            ? new Fallback('aborted', 'the caller aborted')
            : deadline.expired
              ? new Fallback('timeout', `no answer within ${this.timeoutMs} ms`)
              : classify(err);
      this.deps.metrics.fallbacks.inc({ reason: fallback.reason });
      this.logger.warn('personalization failed; sending the rendered template', {
        reason: fallback.reason,
        error: fallback.message,
      });
      return { text: input.text, personalized: false, fallbackReason: fallback.reason };
    } finally {
      deadline.clear();
    }
  }

  private async rewrite(input: PersonalizeInput, signal: AbortSignal): Promise<string> {
    const request = {
      tone: input.tone ?? 'friendly and professional',
      context_hints: input.contextHints ?? {},
      message: input.text,
    };
    const completion = await this.client.chat.completions.create(
      {
        model: this.model,
        temperature: 0.7,
        messages: [
          { role: 'system', content: SYSTEM_PROMPT },
          { role: 'user', content: JSON.stringify(request) },
        ],
      },
      { signal },
    );
    // The client returns whatever the server sent; an OpenAI-compatible server may send anything.
    const choice = (completion as Partial<typeof completion>)?.choices?.[0];
    if (!choice || typeof choice.message !== 'object' || choice.message === null) {
      throw new Fallback('malformed', 'the answer has no choices[0].message');
    }
    if (choice.message.refusal) throw new Fallback('refused', 'the model refused');
    if (choice.finish_reason === 'length') throw new Fallback('truncated', 'the answer was cut off');
    if (choice.finish_reason === 'content_filter') throw new Fallback('refused', 'the answer was filtered');
    const content = choice.message.content;
    if (content !== null && content !== undefined && typeof content !== 'string') {
      throw new Fallback('malformed', 'choices[0].message.content is not text');
    }
    const text = (content ?? '').trim();
    if (text === '') throw new Fallback('empty', 'the answer is empty');
    if (text.length > input.text.length * MAX_GROWTH + MAX_EXTRA_CHARS) {
      throw new Fallback('malformed', `the answer is ${text.length} characters for a ${input.text.length}-character message`);
    }
    return text;
  }
}

function classify(err: unknown): Fallback {
  const message = err instanceof Error ? err.message : String(err);
  if (err instanceof APIConnectionTimeoutError) return new Fallback('timeout', message);
  if (err instanceof APIConnectionError) return new Fallback('connection', message);
  if (err instanceof APIError && err.status === 429) return new Fallback('rate_limited', message);
  if (err instanceof APIError) return new Fallback('http_error', `${err.status ?? ''} ${message}`.trim());
  // By name, not instanceof: fetch's Response.json() may throw another realm's SyntaxError.
  if ((err as { name?: unknown } | null)?.name === 'SyntaxError') return new Fallback('malformed', `unparseable answer: ${message}`);
  return new Fallback('error', message);
}
