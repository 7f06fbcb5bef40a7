/**
 * Every status a scheduled message can have. Final: sent, failed, cancelled, dead, skipped.
 * 'claimed': taken by a dispatcher, send not started (can still be cancelled); 'sending': send started.
 */
export const MESSAGE_STATUSES = ['scheduled', 'claimed', 'sending', 'sent', 'failed', 'cancelled', 'dead', 'skipped', 'unknown'] as const;
export type MessageStatus = (typeof MESSAGE_STATUSES)[number];
