import { Counter } from 'prom-client';
import type { Metrics } from '../metrics/metrics';

export interface PersonalizeInput {
  /** The rendered template: what goes out when personalization is off or fails. */
  text: string;
  /** Requested tone, such as "friendly", "professional" or "urgent". */
  tone?: string;
  /** Facts the rewrite may use (the follow-up schedule's ai_context_hints). */
  contextHints?: Record<string, unknown>;
  signal?: AbortSignal;
}

export interface PersonalizeResult {
  text: string;
  /** True only when the text is the model's rewrite. */
  personalized: boolean;
  /** Why the rendered template was used instead (disabled, timeout, http_error, malformed, ...). */
  fallbackReason?: string;
}

/**
 * Rewrites a rendered message for its recipient. Never throws and never blocks a send for long:
 * any failure returns the input text (fail-open), because a plain message on time beats a
 * personalized one late or not at all.
 */
export interface Personalizer {
  personalize(input: PersonalizeInput): Promise<PersonalizeResult>;
}

/** Used when OPENAI_API_KEY is unset: every message goes out as rendered. */
export class DisabledPersonalizer implements Personalizer {
  async personalize(input: PersonalizeInput): Promise<PersonalizeResult> {
    return { text: input.text, personalized: false, fallbackReason: 'disabled' };
  }
}

/** crm_worker_personalization_fallbacks_total{reason}: failures that sent the template instead. */
export function createPersonalizationMetrics(registers: Metrics['registers']) {
  return {
    fallbacks: new Counter({
      name: 'crm_worker_personalization_fallbacks_total',
      help: 'AI personalizations that failed and sent the rendered template instead, by reason (timeout, connection, http_error, rate_limited, malformed, empty, truncated, refused, aborted, error).',
      labelNames: ['reason'] as const,
      registers,
    }),
  };
}

export type PersonalizationMetrics = ReturnType<typeof createPersonalizationMetrics>;
