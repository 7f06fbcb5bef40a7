/**
 * The outbox (scheduled_messages) has one owner: this folder. Every INSERT, UPDATE and DELETE on
 * the table in TypeScript is here, one file per group of transitions, and every wake-up NOTIFY
 * goes through wakeup.ts (test/architecture/table-owners.test.ts holds the rest of src/ to it).
 * The database side of the same owner is the SQL door (migration 0009: schedule_message,
 * cancel_message, ...). Other rooms read the table where they need to, and write it through these:
 *
 * - schedule.ts    schedule (validate, insert, refuse a reused key), new-rows.ts its column list
 * - claim.ts       claim (with the send-time skip), mark sending, renew, release
 * - sent.ts        mark sent (the dispatcher's, and a caller's by key); recurrence.ts the next occurrence
 * - fail.ts        fail an attempt (retry, failed, dead, unknown)
 * - cancel.ts      cancel, reschedule
 * - recovery.ts    expire leases, reconcile unknowns, redrive, an operator's verdict
 * - responses.ts   a reply kept on its message
 */
export type { ChannelName } from '../../channels/channel';
export { ValidationError } from '../validation-error';
export { IdempotencyKeyConflictError } from '../key-conflict-error';
export { WAKEUP_CHANNEL, wakeUpAfter, sendWakeUp, type WakeUpPayload } from './wakeup';
export { MESSAGE_STATUSES, type MessageStatus } from './statuses';
export { scheduleMessages, type ScheduleRequest, type ScheduleResult } from './schedule';
export { insertOutboxRows, NEW_ROW_COLUMNS, type NewRowColumn } from './new-rows';
export { assertKeysUnambiguous, cancelMessages, rescheduleMessage } from './cancel';
