-- 'claimed' separates "taken by a dispatcher, send not started" from 'sending' (send started).
-- A dispatcher claims a batch ahead of its free send slots ('claimed', with a lease) and marks
-- each row 'sending' just before its send starts. A 'claimed' row whose lease runs out was never
-- handed to a provider, so it simply goes back to 'scheduled'; only an expired 'sending' row
-- has an unknown outcome. 0003 is deployed as is; this adjusts its constraint and lease index.
ALTER TABLE scheduled_messages DROP CONSTRAINT scheduled_messages_status_check;
ALTER TABLE scheduled_messages ADD CONSTRAINT scheduled_messages_status_check
  CHECK (status IN ('scheduled', 'claimed', 'sending', 'sent', 'failed', 'cancelled', 'dead', 'skipped', 'unknown'));
DROP INDEX scheduled_messages_lease;
CREATE INDEX scheduled_messages_lease ON scheduled_messages (lease_expires_at) WHERE status IN ('claimed', 'sending');
