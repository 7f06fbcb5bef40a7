/**
 * A message's class: what the dispatcher serves first when more is due than it can send at once
 * (issue 14, item 5). Transactional messages (a reminder of an appointment, a payment notice) go
 * ahead of follow-ups, which go ahead of marketing (campaigns, nurture drips); inside a class the
 * tenants share the sends fairly (migration 0051, delivery_pick_due).
 *
 * The class is stored on the row (`scheduled_messages.class`, migration 0050), set at scheduling
 * from the message's type by classOfType below unless the caller gives one (`class` in the
 * schedule API and the SQL door). The SQL door and the rows stored before 0050 use the same
 * mapping in SQL (message_class_of, migration 0050); test/delivery/message-class.test.ts keeps the
 * two equal.
 */

/** In the order the dispatcher serves them. */
export const MESSAGE_CLASSES = ['transactional', 'followup', 'marketing'] as const;

export type MessageClass = (typeof MESSAGE_CLASSES)[number];

/**
 * The types crm-worker's own modules schedule, and their class. Dunning is transactional: it is
 * about an obligation of the recipient (an unpaid invoice), not a promotion, and a campaign of the
 * same tenant must not hold it back. A type not listed (a caller's own) is a follow-up, the
 * default type's class: a caller who means otherwise says so with `class`.
 */
export const TYPE_CLASSES: Readonly<Record<string, MessageClass>> = {
  'appointment-reminder': 'transactional',
  dunning: 'transactional',
  followup: 'followup',
  'lead-reminder': 'followup',
  campaign: 'marketing',
  nurture: 'marketing',
};

/** The class of a message of this type when the caller gave none. */
export function classOfType(type: string | undefined | null): MessageClass {
  const key = type ?? 'followup';
  // hasOwn: a type named like an Object.prototype member ('constructor') is a caller's own type.
  return Object.hasOwn(TYPE_CLASSES, key) ? TYPE_CLASSES[key]! : 'followup';
}
