-- Idempotency keys belong to a tenant (issue 10, item 4). 0003 made them one global namespace:
-- tenant B scheduling with a key tenant A had used got "duplicate" and its message never existed.
-- Keys are now unique per (tenant, key). The columns are in (key, tenant) order so the index
-- also serves the lookups by key alone (cancel, reschedule, mark-sent, responses; dunning and
-- campaign counts); ON CONFLICT (tenant_id, idempotency_key) infers it whatever the order.
-- Every existing row was unique by key alone, so it is unique by (key, tenant) too: the new
-- constraint is added before the old one goes, and no row is touched.
ALTER TABLE scheduled_messages
  ADD CONSTRAINT scheduled_messages_tenant_idempotency_key UNIQUE (idempotency_key, tenant_id);
ALTER TABLE scheduled_messages DROP CONSTRAINT scheduled_messages_idempotency_key;

-- What the caller asked for, as a digest (src/delivery/request-fingerprint.ts): a key reused with
-- a different payload is refused with 409 instead of silently keeping the first. NULL on rows
-- scheduled before this migration and on next occurrences of a series (derived by the worker):
-- those repeat as idempotent duplicates, as before.
ALTER TABLE scheduled_messages ADD COLUMN request_fingerprint text;
