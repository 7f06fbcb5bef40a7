-- The data contract (docs/data-contract.md): the CRM upserts contacts through PUT /api/v1/contacts,
-- batches and bulk imports, so a contact carries what the CRM owns about it. Only columns are
-- added, each with a default, so no existing row or column is changed: tenants already carry
-- status, timezone, followup_enabled and updated_at (0002); business hours live in
-- call_business_hours (0020).

-- The contact's IANA time zone; NULL = the tenant's (tenants.timezone). Checked by the API.
ALTER TABLE contacts ADD COLUMN timezone text;

-- What the contact agreed to, per channel: {"email": true, "sms": false, "whatsapp": true}; a
-- channel absent from the object is unknown. Opt-outs that the send-time check enforces are
-- still the suppressions table (0003).
ALTER TABLE contacts ADD COLUMN consent jsonb NOT NULL DEFAULT '{}'::jsonb
  CONSTRAINT contacts_consent_object CHECK (jsonb_typeof(consent) = 'object');

-- When the CRM last changed the row; an upsert that changes nothing leaves it as it was. Rows
-- from before this migration start from created_at.
ALTER TABLE contacts ADD COLUMN updated_at timestamptz;
UPDATE contacts SET updated_at = created_at;
ALTER TABLE contacts ALTER COLUMN updated_at SET DEFAULT now(), ALTER COLUMN updated_at SET NOT NULL;
