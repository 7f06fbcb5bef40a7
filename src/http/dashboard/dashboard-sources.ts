/**
 * What the operator dashboard reads and does, as the modules offer it (WorkerModule.dashboard):
 * the delivery module answers for the outbox, the CRM module for campaigns. The HTTP layer knows
 * these shapes only; the SQL stays with the module that owns each table, and every action is the
 * same service call the /api/v1 route makes.
 */
export interface DashboardSources {
  messages?: DashboardMessages;
  campaigns?: DashboardCampaigns;
}

/** One (status, channel) cell of the outbox. */
export interface OutboxCount {
  status: string;
  channel: string;
  count: number;
}

/** How late one channel's messages are. */
export interface ChannelLag {
  channel: string;
  /** Scheduled rows whose due time has passed (the dispatcher has not picked them up yet). */
  dueNow: number;
  /** Age of the oldest such row: the lag building up now (null when none is due). */
  oldestDueSeconds: number | null;
  /** Sent within the last hour, and how late after their scheduled time on average and at worst. */
  sentLastHour: number;
  averageLagSeconds: number | null;
  maxLagSeconds: number | null;
}

/** Scheduled messages a delivery policy holds back until a later time, by policy. */
export interface HeldCounts {
  /** Held to the end of the contact's quiet hours. */
  quietHours: number;
  /** Deferred until the contact's frequency cap allows another. */
  frequencyCap: number;
}

export interface OutboxOverview {
  counts: OutboxCount[];
  lag: ChannelLag[];
  dueNow: number;
  /** Scheduled and not due yet, the held ones included. */
  scheduledLater: number;
  held: HeldCounts;
}

/** A message as the dead and unknown lists show it (a subset of the API's message view). */
export interface DashboardMessage {
  id: string;
  tenantId: string;
  channel: string;
  recipient: string;
  type: string;
  status: string;
  attempts: number;
  lastError: string | null;
  scheduledAt: string;
  dueAt: string;
}

export type UnknownVerdict = 'sent' | 'failed' | 'resend';

export interface DashboardMessages {
  overview(): Promise<OutboxOverview>;
  /** The newest first, at most `limit`. */
  list(status: 'dead' | 'unknown', limit: number): Promise<DashboardMessage[]>;
  get(id: string): Promise<DashboardMessage | undefined>;
  /** Whether the message was dead and is now scheduled again. */
  redrive(id: string): Promise<boolean>;
  /** Whether the message was unknown and took the verdict. */
  resolve(id: string, verdict: UnknownVerdict): Promise<boolean>;
}

export interface DashboardCampaign {
  id: string;
  tenantId: string;
  name: string;
  channel: string;
  status: string;
  sendAt: string;
  targeted: number;
  queued: number;
  sent: number;
  failed: number;
  skipped: number;
  cancelled: number;
}

export type CampaignAction = 'pause' | 'resume' | 'cancel';

export interface DashboardCampaigns {
  /** Campaigns still moving first (sending, paused, scheduled), then the latest finished ones. */
  list(limit: number): Promise<DashboardCampaign[]>;
  /** Throws NotFoundError or ConflictError (naming the states the action needs), as the API does. */
  act(id: string, action: CampaignAction): Promise<DashboardCampaign>;
}
