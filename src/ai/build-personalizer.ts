import type { Config } from '../config/config';
import type { Logger } from '../logging/logger';
import { OpenAiPersonalizer } from './openai-personalizer';
import { DisabledPersonalizer, type PersonalizationMetrics, type Personalizer } from './personalizer';

/**
 * The OpenAI personalizer when OPENAI_API_KEY is set, else the disabled one. Apart from the
 * interface (personalizer.ts) so that the interface never imports an implementation of itself.
 */
export function createPersonalizer(config: Config['openai'], deps: { logger: Logger; metrics: PersonalizationMetrics }): Personalizer {
  return config.apiKey ? new OpenAiPersonalizer({ ...config, apiKey: config.apiKey }, deps) : new DisabledPersonalizer();
}
