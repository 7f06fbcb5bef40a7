-- The delivery outbox: every message crm-worker sends is one row here. The database is the single
-- source of truth (no separate queue): scheduling inserts the row and notifies the dispatcher in
-- one statement, dispatchers claim due rows with FOR UPDATE SKIP LOCKED under a lease on the
-- database clock, and the row's status is the message's state. Columns follow the follow-up
-- schedule table of design 004 (contractor_followup_schedules), generalised to channels.
CREATE TABLE scheduled_messages (
  id                           bigserial PRIMARY KEY,
  tenant_id                    text        NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  contact_id                   text,
  lead_id                      text,
  channel                      text        NOT NULL
                               CHECK (channel IN ('email', 'sms', 'whatsapp', 'webhook', 'log')),
  recipient                    text        NOT NULL,
  -- When the sender asked for it; delivery lag is sent_at - scheduled_at.
  scheduled_at                 timestamptz NOT NULL,
  -- When the dispatcher may next claim it: scheduled_at, then the retry time after a failure.
  due_at                       timestamptz NOT NULL,
  template                     text        NOT NULL,
  subject                      text,
  variables                    jsonb       NOT NULL DEFAULT '{}'::jsonb,
  tone                         text,
  type                         text        NOT NULL DEFAULT 'followup',
  -- 004's ai_should_personalize / ai_context_hints.
  personalize                  boolean     NOT NULL DEFAULT false,
  context_hints                jsonb,
  status                       text        NOT NULL DEFAULT 'scheduled'
                               CHECK (status IN ('scheduled', 'sending', 'sent', 'failed', 'cancelled',
                                                 'dead', 'skipped', 'unknown')),
  skip_reason                  text,
  attempts                     integer     NOT NULL DEFAULT 0,
  last_error                   text,
  -- The claim: who holds the row and until when (database clock). A 'sending' row past its lease
  -- was held by a worker that died; it becomes 'unknown', never blindly resent.
  claimed_by                   text,
  lease_expires_at             timestamptz,
  sent_at                      timestamptz,
  sent_by                      text,
  provider_message_id          text,
  idempotency_key              text        NOT NULL,
  skip_if_completed            boolean     NOT NULL DEFAULT false,
  action_item_id               text,
  stop_on_reply                boolean     NOT NULL DEFAULT false,
  response_received_at         timestamptz,
  response_text                text,
  recurrence_interval_seconds  integer     CHECK (recurrence_interval_seconds IS NULL OR recurrence_interval_seconds > 0),
  next_occurrence_id           bigint      REFERENCES scheduled_messages (id) ON DELETE SET NULL,
  previous_occurrence_id       bigint      REFERENCES scheduled_messages (id) ON DELETE SET NULL,
  -- Operator notes: reconciliation and redrive leave their trace here.
  resolution                   text,
  created_at                   timestamptz NOT NULL DEFAULT now(),
  updated_at                   timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT scheduled_messages_idempotency_key UNIQUE (idempotency_key)
);
-- The dispatcher's two questions: what is due next, and whose lease ran out.
CREATE INDEX scheduled_messages_due ON scheduled_messages (due_at) WHERE status = 'scheduled';
CREATE INDEX scheduled_messages_lease ON scheduled_messages (lease_expires_at) WHERE status = 'sending';
CREATE INDEX scheduled_messages_contact ON scheduled_messages (tenant_id, contact_id, scheduled_at);
CREATE INDEX scheduled_messages_lead ON scheduled_messages (tenant_id, lead_id) WHERE lead_id IS NOT NULL;
CREATE INDEX scheduled_messages_status ON scheduled_messages (status, updated_at);

-- Opt-outs per tenant and channel; channel '*' suppresses every channel for that recipient.
CREATE TABLE suppressions (
  tenant_id   text        NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  channel     text        NOT NULL CHECK (channel IN ('*', 'email', 'sms', 'whatsapp', 'webhook', 'log')),
  recipient   text        NOT NULL,
  reason      text,
  created_at  timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, channel, recipient)
);

-- Action items a follow-up may be about (004's contractor_action_items): a message with
-- skip_if_completed is skipped once its item is completed.
CREATE TABLE action_items (
  id            text PRIMARY KEY,
  tenant_id     text        NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  contact_id    text,
  title         text,
  completed_at  timestamptz,
  created_at    timestamptz NOT NULL DEFAULT now()
);

-- Replies from contacts or leads; a stop_on_reply message is skipped when one arrived after it
-- was scheduled.
CREATE TABLE contact_replies (
  id           bigserial PRIMARY KEY,
  tenant_id    text        NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  contact_id   text,
  lead_id      text,
  message_id   bigint      REFERENCES scheduled_messages (id) ON DELETE SET NULL,
  channel      text,
  body         text,
  received_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX contact_replies_contact ON contact_replies (tenant_id, contact_id, received_at);
CREATE INDEX contact_replies_lead ON contact_replies (tenant_id, lead_id, received_at);

-- One row per dispatcher instance: its last tick, for GET /api/worker/health across processes.
CREATE TABLE delivery_heartbeats (
  instance    text PRIMARY KEY,
  last_tick   timestamptz NOT NULL
);
