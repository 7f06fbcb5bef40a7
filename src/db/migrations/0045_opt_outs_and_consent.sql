-- Issue 14, items 3 and 4: one store for every opt-out, consent read at send time.
--
-- suppressions (0003) stays the one place every opt-out lands, whichever door it came through:
-- the API (PUT /api/v1/suppressions), an inbound STOP (SMS/WhatsApp) or a one-click e-mail
-- unsubscribe. `source` names the door of the latest opt-out for that (tenant, channel,
-- recipient) and `updated_at` when it was set; every row is lifted the same way (DELETE
-- /api/v1/suppressions, or an inbound START for its channel). Existing rows came from the API.
ALTER TABLE suppressions ADD COLUMN source text NOT NULL DEFAULT 'api'
  CONSTRAINT suppressions_source CHECK (source IN ('api', 'inbound-stop', 'unsubscribe'));
ALTER TABLE suppressions ADD COLUMN updated_at timestamptz;
UPDATE suppressions SET updated_at = created_at;
ALTER TABLE suppressions ALTER COLUMN updated_at SET DEFAULT now(), ALTER COLUMN updated_at SET NOT NULL;

-- A tenant's messaging settings (GET/PUT /api/v1/messaging-settings/:tenantId). No row = the
-- defaults: recorded consent not required, the default HELP answer.
CREATE TABLE messaging_settings (
  tenant_id                 text PRIMARY KEY REFERENCES tenants (id) ON DELETE CASCADE,
  -- SMS and WhatsApp go only to contacts whose consent records true for that channel.
  require_recorded_consent  boolean     NOT NULL DEFAULT false,
  -- The answer to an inbound HELP; NULL = the default text.
  help_text                 text,
  updated_at                timestamptz NOT NULL DEFAULT now()
);

-- What the contact a message is for recorded for its channel (contacts.consent, 0031): true,
-- false, or NULL when unknown (no contact, no such key). The contact is the message's own, else
-- its lead's. Read by the dispatcher's claim (src/delivery/outbox/claim.ts).
CREATE FUNCTION recorded_consent(p_tenant_id text, p_contact_id text, p_lead_id text, p_channel text) RETURNS boolean
LANGUAGE sql STABLE SET search_path FROM CURRENT AS $$
  SELECT CASE c.consent -> p_channel WHEN 'true'::jsonb THEN true WHEN 'false'::jsonb THEN false END
    FROM contacts c
   WHERE c.tenant_id = p_tenant_id
     AND c.id = coalesce(p_contact_id, (SELECT l.contact_id FROM leads l WHERE l.id = p_lead_id AND l.tenant_id = p_tenant_id))
$$;

-- The inbound webhook finds the contacts behind a sender's number (contact-store.ts contactIdsByNumber).
CREATE INDEX contacts_phone ON contacts (tenant_id, phone);
