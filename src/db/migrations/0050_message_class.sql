-- A message's class: 'transactional' > 'followup' > 'marketing', the order the
-- dispatcher serves due messages in (0051). Set at scheduling from the type unless the caller gives
-- one; the type -> class mapping is src/delivery/message-class.ts, mirrored here for the SQL door,
-- for the rows stored before this migration and for an INSERT that names no class
-- (test/delivery/message-class.test.ts keeps the two equal).
-- 0040 (quiet hours, caps) added the column; this migration owns its constraints. IF NOT EXISTS
-- keeps it whole should it run on a schema where 0040's column is missing.
ALTER TABLE scheduled_messages ADD COLUMN IF NOT EXISTS class text;

CREATE FUNCTION message_class_of(type text) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
  SELECT CASE coalesce(type, 'followup')
    WHEN 'appointment-reminder' THEN 'transactional'
    WHEN 'dunning' THEN 'transactional'
    WHEN 'followup' THEN 'followup'
    WHEN 'lead-reminder' THEN 'followup'
    WHEN 'campaign' THEN 'marketing'
    WHEN 'nurture' THEN 'marketing'
    ELSE 'followup'
  END
$$;

-- Rows stored before: every row gets the class its type means (one pass over the table).
UPDATE scheduled_messages SET class = message_class_of(type) WHERE class IS NULL;

-- An INSERT that names no class (another application's own INSERT, a test fixture) gets its
-- type's class; every insert crm-worker makes names it (outbox/new-rows.ts), so this never fires
-- for them. A class given explicitly is kept.
CREATE FUNCTION scheduled_messages_default_class() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  NEW.class := message_class_of(NEW.type);
  RETURN NEW;
END $$;
CREATE TRIGGER scheduled_messages_default_class BEFORE INSERT ON scheduled_messages
  FOR EACH ROW WHEN (NEW.class IS NULL) EXECUTE FUNCTION scheduled_messages_default_class();

ALTER TABLE scheduled_messages ALTER COLUMN class SET NOT NULL;
ALTER TABLE scheduled_messages ADD CONSTRAINT scheduled_messages_class_check
  CHECK (class IN ('transactional', 'followup', 'marketing'));

-- The fair pick's walk (0051): per class, per tenant, in due order, over scheduled rows only.
-- id last, so a second round of the pick continues a tenant's walk after the rows it took.
CREATE INDEX scheduled_messages_class_due ON scheduled_messages (class, tenant_id, due_at, id) WHERE status = 'scheduled';
