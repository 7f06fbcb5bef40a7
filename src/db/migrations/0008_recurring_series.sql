-- A recurring message is a series of rows: each sent occurrence inserts the next one under the key
-- <series key>@r<epoch seconds of its time> (src/delivery/claims.ts scheduleNextOccurrences). The
-- series key is the idempotency key the series was created with; every occurrence carries it, so
-- a cancel by that key reaches whichever occurrence is current (src/delivery/outbox.ts). Generated
-- from the row itself: no writer can forget it, and rows older than this migration have it too.
ALTER TABLE scheduled_messages
  ADD COLUMN series_key text GENERATED ALWAYS AS (
    CASE WHEN recurrence_interval_seconds IS NOT NULL THEN regexp_replace(idempotency_key, '@r[0-9]+$', '') END
  ) STORED;
CREATE INDEX scheduled_messages_series ON scheduled_messages (series_key) WHERE series_key IS NOT NULL;
