export type ChannelName = 'email' | 'sms' | 'whatsapp' | 'webhook' | 'log';
export interface OutboundMessage {
  id: string;
  tenantId: string;
  channel: ChannelName;
  recipient: string;
  subject?: string;
  body: string;
  type: string;
  metadata: Record<string, unknown>;
}
export interface SendOptions {
  idempotencyKey: string;
  signal: AbortSignal;
}
export interface SendResult {
  providerMessageId?: string;
}
export interface Channel {
  readonly name: ChannelName;
  send(message: OutboundMessage, options: SendOptions): Promise<SendResult>;
  /**
   * The destination a recipient is sent to, for channels that fan out to many independent
   * receivers (webhook: the receiver's origin), so a 429 pauses that destination only.
   */
  destinationOf?(recipient: string): string | undefined;
}
