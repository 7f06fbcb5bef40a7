import type { Config } from '../config/config';
import type { Logger } from '../logging/logger';
import { DisabledPersonalizer, type PersonalizationMetrics, type Personalizer } from './personalizer';

/**
 * The OpenAI personalizer when OPENAI_API_KEY is set, else the disabled one. Apart from the
 * interface (personalizer.ts) so that the interface never imports an implementation of itself.
 * The openai library is loaded only when a key is set.
 */
export async function createPersonalizer(config: Config['openai'], deps: { logger: Logger; metrics: PersonalizationMetrics }): Promise<Personalizer> {
  if (!config.apiKey) return new DisabledPersonalizer();
  const { OpenAiPersonalizer } = await import('./openai-personalizer');
  return new OpenAiPersonalizer({ ...config, apiKey: config.apiKey }, deps);
}
