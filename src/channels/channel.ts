export type ChannelName = 'email' | 'sms' | 'whatsapp' | 'webhook' | 'log';
export interface OutboundMessage { id: string; tenantId: string; channel: ChannelName; recipient: string; subject?: string; body: string; type: string; metadata: Record<string, unknown>; }
export interface SendOptions { idempotencyKey: string; signal: AbortSignal; }
export interface SendResult { providerMessageId?: string; }
export interface Channel { readonly name: ChannelName; send(message: OutboundMessage, options: SendOptions): Promise<SendResult>; }
