-- CRM data the CRM jobs read and write: contacts and their lists/segments, campaigns and their
-- recipients, leads and lead reminders, appointments, nurture sequences, dunning invoices and
-- daily KPI snapshots. Every message itself lives in the delivery engine's outbox
-- (scheduled_messages, 0003); the tables here only remember which idempotency keys they used.

CREATE TABLE contacts (
  id          text PRIMARY KEY DEFAULT gen_random_uuid()::text,
  tenant_id   text        NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  name        text,
  email       text,
  -- E.164; used for SMS and, unless whatsapp is set, WhatsApp.
  phone       text,
  whatsapp    text,
  tags        text[]      NOT NULL DEFAULT '{}',
  attributes  jsonb       NOT NULL DEFAULT '{}',
  created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX contacts_tenant ON contacts (tenant_id, id);

-- Static lists: explicit membership.
CREATE TABLE contact_lists (
  id          text PRIMARY KEY DEFAULT gen_random_uuid()::text,
  tenant_id   text        NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  name        text        NOT NULL,
  created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE contact_list_members (
  list_id     text NOT NULL REFERENCES contact_lists (id) ON DELETE CASCADE,
  contact_id  text NOT NULL REFERENCES contacts (id) ON DELETE CASCADE,
  added_at    timestamptz NOT NULL DEFAULT now(),
  -- (list_id, contact_id) is also the keyset order a campaign walks the list in.
  PRIMARY KEY (list_id, contact_id)
);

-- Dynamic segments: a tenant's contacts carrying every one of these tags, evaluated at send time.
CREATE TABLE segments (
  id          text PRIMARY KEY DEFAULT gen_random_uuid()::text,
  tenant_id   text        NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  name        text        NOT NULL,
  tags        text[]      NOT NULL CHECK (cardinality(tags) > 0),
  created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE campaigns (
  id                 text PRIMARY KEY DEFAULT gen_random_uuid()::text,
  tenant_id          text        NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  name               text        NOT NULL,
  channel            text        NOT NULL CHECK (channel IN ('email', 'whatsapp')),
  subject            text,
  template           text        NOT NULL,
  send_at            timestamptz NOT NULL,
  list_id            text REFERENCES contact_lists (id),
  segment_id         text REFERENCES segments (id),
  status             text        NOT NULL DEFAULT 'scheduled'
                     -- 'failed': see 0006_campaign_failed_status.sql (which widens this check on older databases).
                     CONSTRAINT campaigns_status_check CHECK (status IN ('scheduled', 'sending', 'sent', 'failed', 'paused', 'cancelled')),
  -- Keyset cursor: the last contact id expanded. A batch and its cursor move commit together,
  -- so a crash or a lost lease resumes exactly after the last committed batch.
  cursor_contact_id  text,
  expanded_at        timestamptz,
  targeted           integer     NOT NULL DEFAULT 0,
  queued             integer     NOT NULL DEFAULT 0,
  sent               integer     NOT NULL DEFAULT 0,
  failed             integer     NOT NULL DEFAULT 0,
  skipped            integer     NOT NULL DEFAULT 0,
  cancelled          integer     NOT NULL DEFAULT 0,
  started_at         timestamptz,
  completed_at       timestamptz,
  created_at         timestamptz NOT NULL DEFAULT now(),
  updated_at         timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT campaigns_one_audience CHECK ((list_id IS NULL) <> (segment_id IS NULL))
);
CREATE INDEX campaigns_due ON campaigns (send_at) WHERE status IN ('scheduled', 'sending');

-- One row per (campaign, contact) ever considered: the second line of defence against a
-- contact receiving a campaign twice (the first is the outbox's idempotency key).
CREATE TABLE campaign_recipients (
  campaign_id  text NOT NULL REFERENCES campaigns (id) ON DELETE CASCADE,
  contact_id   text NOT NULL,
  status       text NOT NULL CHECK (status IN ('queued', 'skipped')),
  skip_reason  text CHECK (skip_reason IN ('opted-out', 'no-address', 'invalid-address')),
  PRIMARY KEY (campaign_id, contact_id)
);

CREATE TABLE leads (
  id             text PRIMARY KEY DEFAULT gen_random_uuid()::text,
  tenant_id      text        NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  contact_id     text        NOT NULL REFERENCES contacts (id) ON DELETE CASCADE,
  status         text        NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'converted', 'lost')),
  -- The lead's last reply; the no-reply clock runs from max(created_at, last_reply_at).
  last_reply_at  timestamptz,
  converted_at   timestamptz,
  created_at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX leads_open ON leads (tenant_id) WHERE status = 'open';
CREATE INDEX leads_contact ON leads (contact_id);

-- Per-tenant lead reminder rules. tenants.followup_enabled remains the master switch.
CREATE TABLE lead_reminder_settings (
  tenant_id                  text PRIMARY KEY REFERENCES tenants (id) ON DELETE CASCADE,
  enabled                    boolean NOT NULL DEFAULT true,
  no_reply_minutes           integer NOT NULL DEFAULT 1440 CHECK (no_reply_minutes > 0),
  max_reminders_per_contact  integer NOT NULL DEFAULT 3 CHECK (max_reminders_per_contact >= 0),
  channel                    text    NOT NULL DEFAULT 'email' CHECK (channel IN ('email', 'sms', 'whatsapp')),
  subject                    text,
  template                   text    NOT NULL,
  updated_at                 timestamptz NOT NULL DEFAULT now()
);

-- Every reminder ever issued: (lead, silent period, number) is unique, so the same reminder is
-- never issued twice, and the rows since a contact's last reply count against its cap.
CREATE TABLE lead_reminders (
  id               bigserial PRIMARY KEY,
  tenant_id        text        NOT NULL,
  lead_id          text        NOT NULL REFERENCES leads (id) ON DELETE CASCADE,
  contact_id       text        NOT NULL,
  silent_since     timestamptz NOT NULL,
  reminder_no      integer     NOT NULL,
  idempotency_key  text        NOT NULL UNIQUE,
  -- Set when the delivery engine refused the message (e.g. the tenant's template is invalid).
  error            text,
  created_at       timestamptz NOT NULL DEFAULT now(),
  UNIQUE (lead_id, silent_since, reminder_no)
);
CREATE INDEX lead_reminders_contact ON lead_reminders (contact_id, created_at);

CREATE TABLE appointments (
  id          text PRIMARY KEY DEFAULT gen_random_uuid()::text,
  tenant_id   text        NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  contact_id  text        NOT NULL REFERENCES contacts (id) ON DELETE CASCADE,
  title       text        NOT NULL DEFAULT 'Appointment',
  starts_at   timestamptz NOT NULL,
  channel     text        NOT NULL DEFAULT 'email' CHECK (channel IN ('email', 'sms', 'whatsapp')),
  status      text        NOT NULL DEFAULT 'scheduled' CHECK (status IN ('scheduled', 'cancelled', 'completed', 'no-show')),
  -- Bumped on every move: reminder keys carry it, so a moved reminder is a new message.
  version     integer     NOT NULL DEFAULT 0,
  created_at  timestamptz NOT NULL DEFAULT now(),
  updated_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE nurture_sequences (
  id          text PRIMARY KEY DEFAULT gen_random_uuid()::text,
  tenant_id   text        NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  name        text        NOT NULL,
  channel     text        NOT NULL CHECK (channel IN ('email', 'sms', 'whatsapp')),
  created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE nurture_steps (
  sequence_id    text    NOT NULL REFERENCES nurture_sequences (id) ON DELETE CASCADE,
  step_no        integer NOT NULL CHECK (step_no >= 1),
  -- Delay after the previous step (after enrolment for step 1).
  delay_minutes  integer NOT NULL CHECK (delay_minutes >= 0),
  subject        text,
  template       text    NOT NULL,
  PRIMARY KEY (sequence_id, step_no)
);
CREATE TABLE nurture_enrollments (
  id           text PRIMARY KEY DEFAULT gen_random_uuid()::text,
  tenant_id    text        NOT NULL,
  sequence_id  text        NOT NULL REFERENCES nurture_sequences (id) ON DELETE CASCADE,
  contact_id   text        NOT NULL REFERENCES contacts (id) ON DELETE CASCADE,
  lead_id      text REFERENCES leads (id) ON DELETE SET NULL,
  status       text        NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'completed', 'stopped')),
  stop_reason  text,
  steps        integer     NOT NULL,
  enrolled_at  timestamptz NOT NULL DEFAULT now(),
  ends_at      timestamptz NOT NULL,
  stopped_at   timestamptz,
  UNIQUE (sequence_id, contact_id)
);
CREATE INDEX nurture_enrollments_active ON nurture_enrollments (contact_id) WHERE status = 'active';

CREATE TABLE invoices (
  id                    text PRIMARY KEY DEFAULT gen_random_uuid()::text,
  tenant_id             text        NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  contact_id            text        NOT NULL REFERENCES contacts (id) ON DELETE CASCADE,
  amount_cents          bigint      NOT NULL CHECK (amount_cents > 0),
  currency              text        NOT NULL DEFAULT 'USD',
  due_at                timestamptz NOT NULL,
  payment_link          text        NOT NULL,
  channel               text        NOT NULL DEFAULT 'email' CHECK (channel IN ('email', 'sms', 'whatsapp')),
  status                text        NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'paid', 'void')),
  paid_at               timestamptz,
  -- Set by dunning-scheduler once the reminders are in the outbox; reset never.
  dunning_scheduled_at  timestamptz,
  -- The reminder days planned at scheduling time: closing cancels exactly these keys even if
  -- DUNNING_REMINDER_DAYS changed since.
  dunning_days          integer[],
  -- Set when paid after at least one dunning reminder went out: the KPI "recovered by dunning".
  recovered_by_dunning  boolean     NOT NULL DEFAULT false,
  dunning_closed_at     timestamptz,
  created_at            timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX invoices_dunning_todo ON invoices (created_at) WHERE dunning_scheduled_at IS NULL AND status = 'open';
CREATE INDEX invoices_dunning_close ON invoices (paid_at) WHERE dunning_scheduled_at IS NOT NULL AND dunning_closed_at IS NULL;

CREATE TABLE kpi_snapshots (
  tenant_id               text        NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  snapshot_date           date        NOT NULL,
  timezone                text        NOT NULL,
  leads_created           integer     NOT NULL,
  messages_sent           jsonb       NOT NULL,
  messages_failed         jsonb       NOT NULL,
  calls_placed            integer     NOT NULL,
  calls_answered          integer     NOT NULL,
  appointments_kept       integer     NOT NULL,
  payments_recovered      integer     NOT NULL,
  payments_recovered_cents bigint     NOT NULL,
  computed_at             timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, snapshot_date)
);
