/**
 * The fast lane (`npm run test:unit`, jest.unit.config.js): test files that need no dist/, no
 * worker processes and no services (no PostgreSQL, Redis, Qdrant, no servers of their own, no
 * child processes). They also run in the full suite. test/lint/unit-lane.test.ts checks this list
 * both ways: a listed file imports nothing that needs a service, and a test file left out does.
 */
module.exports = [
  'test/architecture/node-flags.test.ts',
  'test/architecture/table-owners.test.ts',
  'test/calls/business-hours.test.ts',
  'test/calls/calls-config.test.ts',
  'test/channels/address-guard.test.ts',
  'test/channels/unsubscribe-links.test.ts',
  'test/crm/inbound/inbound-keywords.test.ts',
  'test/delivery/cap-decision.test.ts',
  'test/delivery/message-class.test.ts',
  'test/delivery/local-queue.test.ts',
  'test/delivery/metric-labels.test.ts',
  'test/delivery/outcome.test.ts',
  'test/http/dashboard-html.test.ts',
  'test/http/dashboard-session.test.ts',
  'test/http/pagination.test.ts',
  'test/faults/bad-config-input.test.ts',
  'test/integration/redaction.test.ts',
  'test/lint/layering-rule.test.ts',
  'test/lint/unit-lane.test.ts',
  'test/metrics/rendered-cache.test.ts',
  'test/observability/traceparent.test.ts',
  'test/scheduler/cron-timer.test.ts',
  'test/util/iso-time.test.ts',
];
