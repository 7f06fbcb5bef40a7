-- The call queue on top of the calls table of 0002. A queued call waits until next_attempt_at;
-- the call-scheduler places it only inside its tenant's business hours, evaluated in the
-- contact's time zone (contact_timezone, else the tenant's), and stores the next open slot
-- for calls that fall outside them.
ALTER TABLE calls
  ADD COLUMN contact_timezone  text,
  ADD COLUMN max_attempts      integer NOT NULL DEFAULT 3 CHECK (max_attempts BETWEEN 1 AND 20),
  ADD COLUMN next_attempt_at   timestamptz,
  ADD COLUMN last_outcome      text,
  ADD COLUMN last_error        text,
  ADD COLUMN provider_call_id  text;

-- Calls queued before this migration become due at once (the scheduler then applies the hours).
UPDATE calls SET next_attempt_at = coalesce(scheduled_for, created_at) WHERE status = 'queued';

CREATE INDEX calls_queue_due ON calls (next_attempt_at, id) WHERE status = 'queued';
CREATE INDEX calls_awaiting_outcome ON calls (placed_at) WHERE status = 'dialing';
CREATE INDEX calls_tenant_status ON calls (tenant_id, status, id);

-- Per-tenant retry policy; NULL columns fall back to CALL_MAX_ATTEMPTS / CALL_RETRY_SPACING_SECONDS.
CREATE TABLE call_settings (
  tenant_id              text PRIMARY KEY REFERENCES tenants (id) ON DELETE CASCADE,
  max_attempts           integer CHECK (max_attempts BETWEEN 1 AND 20),
  retry_spacing_seconds  integer CHECK (retry_spacing_seconds BETWEEN 1 AND 604800),
  updated_at             timestamptz NOT NULL DEFAULT now()
);

-- Opening hours per ISO weekday (1 = Monday) as wall-clock times; several intervals a day are
-- allowed (a lunch break). An interval never spans midnight: split it into two days.
CREATE TABLE call_business_hours (
  tenant_id  text     NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  weekday    smallint NOT NULL CHECK (weekday BETWEEN 1 AND 7),
  opens      time     NOT NULL,
  closes     time     NOT NULL,
  PRIMARY KEY (tenant_id, weekday, opens),
  CHECK (opens < closes)
);

-- Days without calls, as local dates in the contact's time zone.
CREATE TABLE call_holidays (
  tenant_id  text NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  day        date NOT NULL,
  name       text,
  PRIMARY KEY (tenant_id, day)
);
