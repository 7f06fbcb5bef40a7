import type { Channel, ChannelName } from '../../src/channels/channel';
import { EmailChannel } from '../../src/channels/email-channel';
import type { Database } from '../../src/db/database';
import { applyAutoFollowUpRule } from '../../src/delivery/auto-followup';
import { FollowUpService } from '../../src/delivery/followup-service';
import { scheduleMessages } from '../../src/delivery/outbox';
import { startSmtpSink, type SmtpSink } from '../fakes/smtp-sink';
import { deliveryConfig, openDeliveryDatabase, startDispatcher, statusOf, type InProcessDispatcher } from '../support/delivery-harness';
import { quietLogger } from '../support/harness';
import { waitFor } from '../support/wait';

/** A fresh database, a real SMTP server and an in-process dispatcher whose only channel is e-mail to it. */
async function startEmailDelivery(env: Record<string, string> = {}) {
  const { db, close: closeDb } = await openDeliveryDatabase('postgres');
  const smtp = await startSmtpSink();
  const channels = new Map<ChannelName, Channel>();
  channels.set(
    'email',
    new EmailChannel(
      { url: undefined, host: '127.0.0.1', port: smtp.port, secure: false, user: undefined, pass: undefined, from: 'CRM <crm@example.com>' },
      quietLogger,
    ),
  );
  const running = startDispatcher(db, deliveryConfig(env), { channels });
  return { db, closeDb, smtp, running };
}

describe('e-mail through the delivery engine (real SMTP server) and the auto follow-up switch', () => {
  let db: Database;
  let closeDb: () => Promise<void>;
  let smtp: SmtpSink;
  let running: InProcessDispatcher;

  beforeAll(async () => {
    ({ db, closeDb, smtp, running } = await startEmailDelivery());
  });
  afterAll(async () => {
    await running.stop();
    await smtp.close();
    await closeDb();
  });

  it('renders subject and body and sends the e-mail; a rejected recipient fails at once', async () => {
    smtp.rejectRecipients.set('gone@example.com', 550);
    const at = new Date(Date.now() + 300);
    await scheduleMessages(db, [
      {
        tenantId: 't1',
        channel: 'email',
        recipient: 'ann@example.com',
        scheduledAt: at,
        subject: 'Your {{ item }}',
        template: 'Hi {{ name }}, your {{ item }} is ready.',
        variables: { name: 'Ann', item: 'quote' },
        idempotencyKey: 'mail-1',
      },
      { tenantId: 't1', channel: 'email', recipient: 'gone@example.com', scheduledAt: at, template: 'Hello', idempotencyKey: 'mail-2' },
    ]);
    await waitFor('mail sent', async () => (await statusOf(db, 'mail-1'))?.status === 'sent');
    const mail = smtp.received.find((m) => m.subject === 'Your quote')!;
    expect(mail.text?.trim()).toBe('Hi Ann, your quote is ready.');
    const rejected = await waitFor('mail failed', async () => {
      const row = await statusOf(db, 'mail-2');
      return row?.status === 'failed' ? row : undefined;
    });
    expect(rejected.attempts).toBe(1);
  });

  it('FOLLOWUP_ENABLED=false: the rule schedules nothing', async () => {
    const service = new FollowUpService(db);
    const before = await db.query(`SELECT count(*)::int AS n FROM scheduled_messages`);
    const outcome = await applyAutoFollowUpRule(service, deliveryConfig({ FOLLOWUP_ENABLED: 'false' }), { tenantId: 't1', leadId: 'L9', predProb: 0.99 });
    expect(outcome).toEqual({ triggered: false, reason: 'disabled', threshold: 0.7 });
    const at = await applyAutoFollowUpRule(service, deliveryConfig({ FOLLOWUP_RULE_TOP_P: '0.9' }), { tenantId: 't1', leadId: 'L9', predProb: 0.9 });
    expect(at).toEqual(expect.objectContaining({ triggered: true, scheduled: 2 }));
    const after = await db.query(`SELECT count(*)::int AS n FROM scheduled_messages`);
    expect(Number(after.rows[0]!['n']) - Number(before.rows[0]!['n'])).toBe(2);
  });
});

describe('an e-mail whose send times out is unknown, never retried (the SMTP server may have it)', () => {
  let db: Database;
  let closeDb: () => Promise<void>;
  let smtp: SmtpSink;
  let running: InProcessDispatcher;

  beforeAll(async () => {
    ({ db, closeDb, smtp, running } = await startEmailDelivery({ DELIVERY_SEND_TIMEOUT_MS: '500', DELIVERY_LEASE_MS: '5000' }));
  });
  afterAll(async () => {
    await running.stop();
    await smtp.close();
    await closeDb();
  });

  it('a held SMTP transaction past the send deadline leaves the row unknown after one attempt; a later e-mail still goes', async () => {
    const release = smtp.hold('slow@example.com');
    try {
      await scheduleMessages(db, [
        {
          tenantId: 't1',
          channel: 'email',
          recipient: 'slow@example.com',
          scheduledAt: new Date(Date.now() + 200),
          template: 'Hello',
          idempotencyKey: 'mail-slow',
        },
      ]);
      const unknown = await waitFor('the timed-out e-mail to be unknown', async () => {
        const row = await statusOf(db, 'mail-slow');
        return row?.status === 'unknown' ? row : undefined;
      });
      expect(unknown.attempts).toBe(1);
      expect(unknown.last_error).toMatch(/outcome unknown/);
    } finally {
      release();
    }
    // The dispatcher goes on: a later e-mail is sent, and the unknown one was never tried again.
    await scheduleMessages(db, [
      {
        tenantId: 't1',
        channel: 'email',
        recipient: 'next@example.com',
        scheduledAt: new Date(Date.now() + 200),
        template: 'Hello',
        idempotencyKey: 'mail-next',
      },
    ]);
    await waitFor('the later e-mail sent', async () => (await statusOf(db, 'mail-next'))?.status === 'sent');
    expect(smtp.recipientsSeen.filter((r) => r === 'slow@example.com')).toHaveLength(1);
    expect((await statusOf(db, 'mail-slow'))?.status).toBe('unknown');
  });
});
