-- Tenants of the CRM. trial-expiration suspends trials that ended; followup_enabled is read by
-- the delivery engine at send time.
CREATE TABLE tenants (
  id                 text PRIMARY KEY,
  name               text        NOT NULL,
  status             text        NOT NULL DEFAULT 'trial'
                     CHECK (status IN ('trial', 'active', 'suspended', 'cancelled')),
  trial_ends_at      timestamptz,
  suspended_at       timestamptz,
  suspension_reason  text,
  followup_enabled   boolean     NOT NULL DEFAULT true,
  timezone           text        NOT NULL DEFAULT 'UTC',
  created_at         timestamptz NOT NULL DEFAULT now(),
  updated_at         timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX tenants_trial_due ON tenants (trial_ends_at) WHERE status = 'trial';

-- Call records. call-cleanup removes finished calls older than CALL_RETENTION_DAYS; calls still
-- queued or in progress are never removed, however old.
CREATE TABLE calls (
  id             bigserial PRIMARY KEY,
  tenant_id      text        NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  contact_id     text,
  to_number      text,
  status         text        NOT NULL DEFAULT 'queued'
                 CHECK (status IN ('queued', 'dialing', 'in-progress', 'completed', 'no-answer', 'busy', 'failed', 'cancelled')),
  attempts       integer     NOT NULL DEFAULT 0,
  scheduled_for  timestamptz,
  placed_at      timestamptz,
  ended_at       timestamptz,
  created_at     timestamptz NOT NULL DEFAULT now(),
  updated_at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX calls_finished_created ON calls (created_at)
  WHERE status IN ('completed', 'no-answer', 'busy', 'failed', 'cancelled');
