import { crmNodeFlags } from './fair-systems';
import { FAIR_HTTP_CONNECTIONS, FAIR_POOL_MAX } from './followup-work';

/** The per-message work of each system, written out at the top of every fair-bench result. */
export function workDescription(): string[] {
  return [
    '## The work each system does per message',
    '',
    "Every system delivers to the same sink, in the bench process on loopback: it checks each POST's",
    "HMAC-SHA256 signature with crm-worker's own `webhookSignature` and counts per idempotency key (a",
    'repeat is a duplicate, a bad signature is not delivered). Each consumer is its own fresh process.',
    '',
    "- **BullMQ and pg-boss peers** (bench/lib/followup-work.ts, the design's follow-up worker flow): one job",
    '  per follow-up row (job data = row id). The handler (1) SELECTs the row by primary key, (2) skips it if',
    "  sent or cancelled, (3) renders its liquid template with crm-worker's template engine, (4) POSTs the",
    "  JSON body crm-worker's webhook channel sends (same fields), signed, with the idempotency key header,",
    `  through an undici Agent of ${FAIR_HTTP_CONNECTIONS} connections (crm-worker's), (5) UPDATEs the row to sent.`,
    `  Its SQL goes through a pg Pool of ${FAIR_POOL_MAX} connections (crm-worker's DB_DISPATCHER_POOL_MAX default).`,
    '  The queue then records completion its own way (BullMQ: Redis; pg-boss: its own pool, 10 connections',
    '  by default, fetch and complete statements).',
    `- **crm-worker** (\`node ${crmNodeFlags().join(' ')} dist/main.js\`, the whole worker, ${process.env.BENCH_CRM_NODE_FLAGS === undefined ? 'with the flags `npm start` runs it with' : 'with BENCH_CRM_NODE_FLAGS, not the shipped flags'}): rows scheduled through its outbox API. Per message`,
    '  its share of a claim (`delivery_pick_due`, FOR UPDATE SKIP LOCKED, with the send-time checks:',
    '  tenant follow-ups switch, suppressions, consent, action item, reply, staleness, quiet hours,',
    '  frequency caps), a `sending` mark, the liquid render, the same signed POST through the same Agent,',
    '  and its share of a batched `sent` UPDATE; its dispatcher pool is the same 8 connections. It does',
    '  more per message than the peers (the send-time checks, the sending mark); nothing it does is skipped.',
    '',
    "Not the same by design: the peers' producer inserts the row and adds the job (two systems), crm-worker's",
    "inserts the outbox row (one). The design's AI personalisation is off for every system (no OpenAI here).",
  ];
}
