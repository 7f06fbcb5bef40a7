import type { AddressInfo } from 'node:net';
import { simpleParser, type ParsedMail } from 'mailparser';
import { SMTPServer } from 'smtp-server';

export interface SmtpSink {
  readonly port: number;
  /** Parsed messages in arrival order. */
  readonly received: ParsedMail[];
  /**
   * Replies for RCPT TO by recipient address: a code such as 550 or 451 rejects that recipient
   * with that SMTP reply. Unlisted recipients are accepted.
   */
  readonly rejectRecipients: Map<string, number>;
  /** Socket errors of client connections (ECONNRESET when a sending worker is killed). */
  readonly connectionErrors: Error[];
  /** Addresses whose RCPT TO was seen, in arrival order. */
  readonly recipientsSeen: string[];
  /** Holds RCPT TO for this address (the send hangs) until the returned function is called. */
  hold(address: string): () => void;
  close(): Promise<void>;
}

/**
 * A real SMTP server (the smtp-server package) on 127.0.0.1 and a free port: plain text, no
 * STARTTLS, any or no authentication accepted. Tests send to it with the real nodemailer client.
 */
export async function startSmtpSink(): Promise<SmtpSink> {
  const received: ParsedMail[] = [];
  const rejectRecipients = new Map<string, number>();
  const recipientsSeen: string[] = [];
  const held = new Map<string, Promise<void>>();
  const server = new SMTPServer({
    authOptional: true,
    disabledCommands: ['STARTTLS'],
    logger: false,
    onAuth(_auth, _session, callback) {
      callback(null, { user: 'test' });
    },
    async onRcptTo(address, _session, callback) {
      recipientsSeen.push(address.address.toLowerCase());
      await held.get(address.address.toLowerCase());
      const code = rejectRecipients.get(address.address.toLowerCase());
      if (code === undefined) return callback();
      const err = Object.assign(new Error(`Recipient <${address.address}> rejected by the test sink`), {
        responseCode: code,
      });
      callback(err);
    },
    onData(stream, _session, callback) {
      simpleParser(stream)
        .then((mail) => {
          received.push(mail);
          callback();
        })
        .catch((err: Error) => callback(err));
    },
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  // smtp-server emits a client's socket errors on the server: a worker SIGKILLed mid-session (the
  // fault tests do that) resets its connection, which must not become an uncaught 'error' here.
  const connectionErrors: Error[] = [];
  server.on('error', (err: Error) => connectionErrors.push(err));
  const port = (server.server.address() as AddressInfo).port;
  return {
    port,
    received,
    rejectRecipients,
    recipientsSeen,
    connectionErrors,
    hold(address) {
      let release!: () => void;
      held.set(address.toLowerCase(), new Promise<void>((resolve) => (release = resolve)));
      return () => {
        held.delete(address.toLowerCase());
        release();
      };
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
