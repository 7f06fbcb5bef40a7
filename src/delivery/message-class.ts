/**
 * The class of a message, which the delivery policies act on: transactional messages (an
 * appointment reminder, a payment reminder) bypass quiet hours and frequency caps; marketing
 * (campaigns, nurture drips) and follow-ups (lead reminders, follow-ups) are held and capped.
 *
 * This is the one place the type -> class mapping lives. A row's `class` column, when set, wins
 * (set by the scheduler of the message); when NULL the claim derives it from the type with
 * classOfTypeSql below. Migration 0040 backfills stored rows with the same mapping
 * (test/delivery/message-class.test.ts checks the two agree).
 */

/** In the order the dispatcher serves them (migration 0051). */
export const MESSAGE_CLASSES = ['transactional', 'followup', 'marketing'] as const;
export type MessageClass = (typeof MESSAGE_CLASSES)[number];

/** The class of each type crm-worker's modules schedule; any other type is a follow-up. */
export const CLASS_BY_TYPE: Readonly<Record<string, MessageClass>> = Object.freeze({
  'appointment-reminder': 'transactional',
  dunning: 'transactional',
  campaign: 'marketing',
  nurture: 'marketing',
  followup: 'followup',
  'lead-reminder': 'followup',
});

/** The class of a message type when the row names none. */
export const DEFAULT_CLASS: MessageClass = 'followup';

/** The same mapping under the name the scheduling side reads it by. */
export const TYPE_CLASSES = CLASS_BY_TYPE;

/**
 * The class of a message of `type`, when the caller (or its row) names none. Set at scheduling
 * (`scheduled_messages.class`, migration 0050) and served in MESSAGE_CLASSES order by the fair
 * pick (migration 0051). hasOwn: a type named like an Object.prototype member ('constructor')
 * is a caller's own type.
 */
export function classOfType(type: string | undefined | null): MessageClass {
  const key = type ?? 'followup';
  return Object.hasOwn(CLASS_BY_TYPE, key) ? CLASS_BY_TYPE[key]! : DEFAULT_CLASS;
}

const quote = (text: string): string => `'${text.replaceAll("'", "''")}'`;

/**
 * SQL for the class of the row aliased `alias`: its class column, else the mapping above on its
 * type. Built from CLASS_BY_TYPE, so the claim's SQL and this module cannot disagree.
 */
export function classOfRowSql(alias: string): string {
  const cases = Object.entries(CLASS_BY_TYPE)
    .map(([type, cls]) => `WHEN ${quote(type)} THEN ${quote(cls)}`)
    .join(' ');
  return `coalesce(${alias}.class, CASE ${alias}.type ${cases} ELSE ${quote(DEFAULT_CLASS)} END)`;
}
