import { setImmediate as yieldToEventLoop } from 'node:timers/promises';
import type { Personalizer } from '../../ai/personalizer';
import { PermanentDeliveryError } from '../../channels/errors';
import type { DeliveryMetrics } from '../delivery-metrics';
import type { ClaimedMessage } from '../outbox/claim';
import { TemplateRenderError, type TemplateEngine } from '../../templates/template-engine';

export interface ComposeDeps {
  templates: TemplateEngine;
  personalizer: Personalizer;
  metrics: Pick<DeliveryMetrics, 'templateFailures'>;
}

/** What a channel sends: the subject (e-mail) and the body, rendered from the same variables. */
export interface ComposedMessage {
  subject: string | undefined;
  body: string;
}

/**
 * Renders subject and body together. A template that cannot render fails this message
 * permanently (the row records why; retrying the same text and variables cannot succeed),
 * counted by reason. A render is synchronous and may use up its whole render limit: it starts
 * from a fresh macrotask, so sends finishing together do not chain their renders into one long
 * block of the event loop and /health/live is answered between them. The body is personalized
 * after the render when the row asks for it (fail-open: the personalizer never throws).
 */
export async function composeMessage(
  row: Pick<ClaimedMessage, 'subject' | 'template' | 'variables' | 'personalize' | 'tone' | 'context_hints'>,
  deps: ComposeDeps,
  signal: AbortSignal,
): Promise<ComposedMessage> {
  const { templates, metrics } = deps;
  let text: string;
  let subject: string | undefined;
  await yieldToEventLoop();
  try {
    subject = row.subject ? templates.render(row.subject, row.variables ?? {}) : undefined;
    text = templates.render(row.template, row.variables ?? {});
  } catch (err) {
    metrics.templateFailures.inc({ reason: err instanceof TemplateRenderError ? err.problem.reason : 'error' });
    throw new PermanentDeliveryError(`template not rendered: ${(err as Error).message}`);
  }
  if (!row.personalize) return { subject, body: text };
  const result = await deps.personalizer.personalize({
    text,
    tone: row.tone ?? undefined,
    contextHints: row.context_hints ?? undefined,
    signal,
  });
  return { subject, body: result.text };
}
