/**
 * Label values of the delivery metrics come from closed sets. A message's `variables.strategy`
 * and its `type` are supplied by API callers: used as labels as they come, every new value is a
 * new time series kept for the life of the process (unbounded memory and scrape size), and a
 * caller's free text (an e-mail address, a name) would be published on the public /metrics.
 */

/** The message types crm-worker's own modules schedule; any other type is counted as `other`. */
export const KNOWN_MESSAGE_TYPES = ['followup', 'campaign', 'lead-reminder', 'appointment-reminder', 'nurture', 'dunning'] as const;

/** The bucket for every strategy or type outside the closed set. */
export const OTHER_LABEL = 'other';

/** What the strategy label is read from. */
export interface LabelledMessage {
  type: string;
  variables: Record<string, unknown> | null;
}

/**
 * The `strategy` label of a message: its `variables.strategy` when that is one of the auto
 * follow-up rule's delays (`<seconds>s`, the former FOLLOWUP_JOBS_TOTAL strategy, from
 * FOLLOWUP_SCHEDULES), else its type when crm-worker knows the type, else `other`. The set of
 * values is fixed once the configuration is read: at most |FOLLOWUP_SCHEDULES| + 7.
 */
export function strategyLabeler(followupScheduleSeconds: readonly number[]): (message: LabelledMessage) => string {
  const delays = new Set(followupScheduleSeconds.map((seconds) => `${seconds}s`));
  const types = new Set<string>(KNOWN_MESSAGE_TYPES);
  return (message) => {
    const strategy = message.variables?.['strategy'];
    if (strategy !== undefined && strategy !== null) {
      return typeof strategy === 'string' && delays.has(strategy) ? strategy : OTHER_LABEL;
    }
    return types.has(message.type) ? message.type : OTHER_LABEL;
  };
}
