-- A campaign none of whose messages could be delivered (typically a template that cannot render
-- for its recipients: every message failed permanently at send time) ends 'failed', not 'sent'.
--
-- This number runs before 0030_crm.sql, which creates campaigns: on a fresh database the table
-- does not exist yet and 0030 itself creates the widened check. On a database where 0030 was
-- applied before this change, the old check is replaced here.
DO $$
BEGIN
  IF to_regclass('campaigns') IS NOT NULL THEN
    ALTER TABLE campaigns DROP CONSTRAINT IF EXISTS campaigns_status_check;
    ALTER TABLE campaigns ADD CONSTRAINT campaigns_status_check
      CHECK (status IN ('scheduled', 'sending', 'sent', 'failed', 'paused', 'cancelled'));
  END IF;
END
$$;
