-- Delivery policies a tenant sets (issue 14): quiet hours and frequency caps, checked by the
-- dispatcher's claim (src/delivery/outbox/claim.ts) on the database clock, so every worker process
-- agrees. Owner of both tables: src/delivery/policy-store.ts.

-- A message held by a policy: due_at moves to held_until and hold_reason says which policy
-- ('quiet-hours', 'frequency-cap'). Both stay on the row once it is released, so the API shows
-- why it went out later than asked.
ALTER TABLE scheduled_messages
  ADD COLUMN held_until  timestamptz,
  ADD COLUMN hold_reason text;

-- The message class ('transactional' | 'followup' | 'marketing'), filled from the type for rows
-- stored before this migration. 0050 makes it NOT NULL, gives it its CHECK and a trigger for
-- INSERTs that name none; src/delivery/message-class.ts is the mapping the worker uses
-- (test/delivery/message-class checks the SQL agrees).
ALTER TABLE scheduled_messages ADD COLUMN IF NOT EXISTS class text;
UPDATE scheduled_messages SET class = CASE type
    WHEN 'appointment-reminder' THEN 'transactional'
    WHEN 'dunning' THEN 'transactional'
    WHEN 'campaign' THEN 'marketing'
    WHEN 'nurture' THEN 'marketing'
    ELSE 'followup'
  END
 WHERE class IS NULL;

-- Quiet hours: a daily window [starts_at, ends_at) of wall-clock time in the contact's zone (the
-- tenant's when the contact has none). starts_at > ends_at crosses midnight (21:00-08:00, the
-- usual case). channel '*' is every channel; applies_to '*' is every message, 'type:<type>' or
-- 'campaign:<id>' an override for those messages. The most specific row wins: campaign, then
-- type, then '*', and within each a named channel before '*'. mode: hold (deliver at the end),
-- skip (skipped 'quiet-hours'), off (no quiet hours for what the row names: an override).
CREATE TABLE tenant_quiet_hours (
  tenant_id   text        NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  channel     text        NOT NULL CHECK (channel IN ('*', 'email', 'sms', 'whatsapp', 'webhook', 'log')),
  applies_to  text        NOT NULL DEFAULT '*' CHECK (applies_to = '*' OR applies_to ~ '^(type|campaign):.+$'),
  starts_at   time        NOT NULL,
  ends_at     time        NOT NULL,
  mode        text        NOT NULL DEFAULT 'hold' CHECK (mode IN ('hold', 'skip', 'off')),
  updated_at  timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, channel, applies_to),
  CHECK (starts_at <> ends_at)
);

-- Frequency caps: at most max_messages of a class per contact in any period_seconds (a rolling
-- window), counted over every channel and source. class '*' is every class but transactional,
-- which is never capped. mode: defer (to the moment the cap allows) or skip ('frequency-cap').
CREATE TABLE tenant_frequency_caps (
  tenant_id       text        NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  class           text        NOT NULL CHECK (class IN ('*', 'followup', 'marketing')),
  max_messages    integer     NOT NULL CHECK (max_messages BETWEEN 1 AND 10000),
  period_seconds  integer     NOT NULL CHECK (period_seconds BETWEEN 60 AND 31622400),
  mode            text        NOT NULL DEFAULT 'defer' CHECK (mode IN ('defer', 'skip')),
  updated_at      timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, class)
);

-- The cap counts a contact's recent sends: sent rows by contact and sent_at.
CREATE INDEX scheduled_messages_contact_sent ON scheduled_messages (tenant_id, contact_id, sent_at)
  WHERE status = 'sent' AND contact_id IS NOT NULL;

-- When the quiet-hours window [starts, ends) of wall-clock time in `zone` holds instant `at`, the
-- first instant after it whose wall-clock time is outside the window; NULL when `at` is outside.
-- The end is a wall-clock time on the local day it falls on (the next day for a window crossing
-- midnight that `at` is in before midnight). Daylight saving: when that wall-clock time does not
-- exist (clocks jumped past it), the window ends at the jump; when it exists twice (clocks turned
-- back), at its first occurrence after `at`, because PostgreSQL's own reading of such a local time
-- is the second one. The dispatcher checks again when the message comes due, so a window that
-- opens again in a repeated hour holds it again. Tested on PostgreSQL and PGlite against
-- injected instants across 2026's changes (test/delivery/quiet-hours-sql.test.ts).
CREATE FUNCTION quiet_hours_end(at timestamptz, zone text, starts time, ends time) RETURNS timestamptz
LANGUAGE plpgsql STABLE SET search_path FROM CURRENT AS $$
DECLARE
  local_now  timestamp;
  t          time;
  target     timestamp;
  candidate  timestamptz;
  earlier    timestamptz;
  lo         bigint;
  hi         bigint;
  mid        bigint;
BEGIN
  IF starts = ends THEN RETURN NULL; END IF;
  BEGIN
    local_now := at AT TIME ZONE zone;
  EXCEPTION WHEN invalid_parameter_value THEN
    -- A zone this server does not know (the API checks zones, a direct write may not): UTC
    -- rather than an error, which would fail every claim that picked the message.
    zone := 'UTC';
    local_now := at AT TIME ZONE zone;
  END;
  t := local_now::time;
  IF starts < ends THEN
    IF NOT (t >= starts AND t < ends) THEN RETURN NULL; END IF;
  ELSIF NOT (t >= starts OR t < ends) THEN
    RETURN NULL;
  END IF;
  target := local_now::date + ends + CASE WHEN t >= ends THEN interval '1 day' ELSE interval '0' END;
  candidate := target AT TIME ZONE zone;
  IF (candidate AT TIME ZONE zone) = target THEN
    -- The target exists; read with the offset in force at `at`, it may exist earlier too (the
    -- first of a repeated hour).
    earlier := (target AT TIME ZONE 'UTC') - ((at AT TIME ZONE zone) - (at AT TIME ZONE 'UTC'));
    IF earlier > at AND earlier < candidate AND (earlier AT TIME ZONE zone) = target THEN
      RETURN earlier;
    END IF;
    RETURN candidate;
  END IF;
  -- The target fell into a gap: the window ends at the jump, the first second whose wall-clock
  -- time is at or past the target. Transitions are on whole seconds; 17 halvings cover a day.
  lo := floor(extract(epoch FROM at))::bigint;
  hi := ceil(extract(epoch FROM candidate))::bigint;
  WHILE hi - lo > 1 LOOP
    mid := (lo + hi) / 2;
    IF (to_timestamp(mid) AT TIME ZONE zone) >= target THEN hi := mid; ELSE lo := mid; END IF;
  END LOOP;
  RETURN to_timestamp(hi);
END $$;
