-- Traces (issue 15, item 3): a message scheduled with a W3C traceparent keeps it, and its send's
-- span is that span's child. The column is the outbox's (written by src/delivery/outbox and by the
-- SQL door below); the format is checked here too, so no writer can store a value the dispatcher
-- would have to distrust.
ALTER TABLE scheduled_messages ADD COLUMN traceparent text
  CONSTRAINT scheduled_messages_traceparent_check
  CHECK (traceparent ~ '^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}(-.*)?$' AND length(traceparent) <= 128);

-- The SQL door's schedule_message (0052) takes the caller's `traceparent` (22023 naming
-- traceparent when it is not one). It is not part of the request's fingerprint: the same message
-- scheduled again from another trace is still a duplicate. A new parameter is a new signature, so
-- the old function goes; calls by name (the documented way) keep working, and the parameter has a
-- default, so callers that do not trace change nothing. The body is 0052's with the traceparent added.
DROP FUNCTION schedule_message(text, text, text, timestamptz, text, text, text, jsonb, text, text, text, text,
  boolean, jsonb, boolean, text, boolean, integer, text);

CREATE FUNCTION schedule_message(
  tenant_id text,
  channel text,
  recipient text,
  scheduled_at timestamptz,
  template text,
  idempotency_key text,
  subject text DEFAULT NULL,
  variables jsonb DEFAULT '{}',
  contact_id text DEFAULT NULL,
  lead_id text DEFAULT NULL,
  type text DEFAULT 'followup',
  tone text DEFAULT NULL,
  personalize boolean DEFAULT false,
  context_hints jsonb DEFAULT NULL,
  skip_if_completed boolean DEFAULT false,
  action_item_id text DEFAULT NULL,
  stop_on_reply boolean DEFAULT false,
  recurrence_interval_seconds integer DEFAULT NULL,
  class text DEFAULT NULL,
  traceparent text DEFAULT NULL
) RETURNS TABLE (message_id bigint, duplicate boolean)
LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
#variable_conflict use_column
DECLARE
  -- Trimmed as the TypeScript door's schema trims them, so both doors store the same row.
  v_tenant text := btrim(schedule_message.tenant_id);
  v_recipient text := btrim(schedule_message.recipient);
  v_key text := btrim(schedule_message.idempotency_key);
  v_type text := btrim(coalesce(schedule_message.type, 'followup'));
  v_class text := btrim(schedule_message.class);
  v_traceparent text := nullif(btrim(schedule_message.traceparent), '');
  v_contact text := nullif(btrim(schedule_message.contact_id), '');
  v_lead text := nullif(btrim(schedule_message.lead_id), '');
  v_action text := nullif(btrim(schedule_message.action_item_id), '');
  v_variables jsonb := coalesce(schedule_message.variables, '{}');
  -- JavaScript's Date holds milliseconds.
  v_at timestamptz := date_trunc('milliseconds', schedule_message.scheduled_at);
  v_fingerprint text;
  v_id bigint;
  v_stored text;
  v_problem text;
BEGIN
  IF v_tenant IS NULL OR v_tenant = '' THEN PERFORM raise_invalid('tenant_id', 'required'); END IF;
  IF schedule_message.channel IS NULL OR schedule_message.channel NOT IN ('email', 'sms', 'whatsapp', 'webhook', 'log') THEN
    PERFORM raise_invalid('channel', 'must be one of email, sms, whatsapp, webhook, log');
  END IF;
  IF v_recipient IS NULL OR v_recipient = '' THEN PERFORM raise_invalid('recipient', 'required'); END IF;
  IF length(v_recipient) > 2048 THEN PERFORM raise_invalid('recipient', 'at most 2048 characters'); END IF;
  IF schedule_message.channel = 'email' AND v_recipient !~ '^[^@\s]+@[^@\s]+\.[^@\s]+$' THEN
    PERFORM raise_invalid('recipient', 'not a valid e-mail address');
  END IF;
  IF schedule_message.channel IN ('sms', 'whatsapp') AND regexp_replace(v_recipient, '^whatsapp:', '') !~ '^\+[1-9][0-9]{6,14}$' THEN
    PERFORM raise_invalid('recipient', 'not an E.164 phone number (e.g. +14155550123)');
  END IF;
  IF v_at IS NULL THEN PERFORM raise_invalid('scheduled_at', 'required'); END IF;
  IF schedule_message.template IS NULL OR schedule_message.template = '' THEN PERFORM raise_invalid('template', 'required'); END IF;
  IF length(schedule_message.template) > 20000 THEN PERFORM raise_invalid('template', 'at most 20000 characters'); END IF;
  IF length(schedule_message.subject) > 998 THEN PERFORM raise_invalid('subject', 'at most 998 characters'); END IF;
  IF v_key IS NULL OR v_key = '' THEN PERFORM raise_invalid('idempotency_key', 'required'); END IF;
  IF length(v_key) > 512 THEN PERFORM raise_invalid('idempotency_key', 'at most 512 characters'); END IF;
  v_problem := reserved_key_problem(v_key);
  IF v_problem IS NOT NULL THEN PERFORM raise_invalid('idempotency_key', v_problem); END IF;
  IF jsonb_typeof(v_variables) <> 'object' THEN PERFORM raise_invalid('variables', 'must be a JSON object'); END IF;
  IF schedule_message.context_hints IS NOT NULL AND jsonb_typeof(schedule_message.context_hints) <> 'object' THEN
    PERFORM raise_invalid('context_hints', 'must be a JSON object');
  END IF;
  IF v_type !~ '^[A-Za-z0-9_-]{1,64}$' THEN PERFORM raise_invalid('type', 'letters, digits, - and _ only (at most 64)'); END IF;
  IF v_class IS NOT NULL AND v_class NOT IN ('transactional', 'followup', 'marketing') THEN
    PERFORM raise_invalid('class', 'must be one of transactional, followup, marketing');
  END IF;
  -- As src/observability/traceparent.ts reads it: version ff and all-zero ids are invalid.
  IF v_traceparent IS NOT NULL AND (
       v_traceparent !~ '^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}(-.*)?$' OR length(v_traceparent) > 128
       OR left(v_traceparent, 2) = 'ff' OR (left(v_traceparent, 2) = '00' AND length(v_traceparent) <> 55)
       OR substr(v_traceparent, 4, 32) ~ '^0+$' OR substr(v_traceparent, 37, 16) ~ '^0+$') THEN
    PERFORM raise_invalid('traceparent', 'not a W3C traceparent (00-<32 hex trace id>-<16 hex span id>-<2 hex flags>)');
  END IF;
  IF schedule_message.recurrence_interval_seconds IS NOT NULL
     AND schedule_message.recurrence_interval_seconds NOT BETWEEN 60 AND 366 * 86400 THEN
    PERFORM raise_invalid('recurrence_interval_seconds', 'must be between 60 seconds and 366 days');
  END IF;
  IF coalesce(schedule_message.skip_if_completed, false) AND v_action IS NULL THEN
    PERFORM raise_invalid('action_item_id', 'required when skip_if_completed is true');
  END IF;
  IF NOT EXISTS (SELECT 1 FROM tenants t WHERE t.id = v_tenant) THEN
    RAISE EXCEPTION USING ERRCODE = '23503', MESSAGE = format('tenant_id: unknown tenant "%s"', v_tenant), COLUMN = 'tenant_id';
  END IF;

  v_fingerprint := encode(sha256(convert_to(canonical_json(jsonb_build_object(
    'contactId', v_contact, 'leadId', v_lead, 'channel', schedule_message.channel, 'recipient', v_recipient,
    'scheduledAt', (extract(epoch FROM v_at) * 1000)::bigint, 'template', schedule_message.template,
    'subject', schedule_message.subject, 'variables', v_variables, 'tone', schedule_message.tone, 'type', v_type,
    'skipIfCompleted', coalesce(schedule_message.skip_if_completed, false), 'actionItemId', v_action,
    'stopOnReply', coalesce(schedule_message.stop_on_reply, false), 'personalize', coalesce(schedule_message.personalize, false),
    'contextHints', schedule_message.context_hints, 'recurrenceIntervalSeconds', schedule_message.recurrence_interval_seconds
  -- The class only when given, as the TypeScript door does: a request without one keeps its digest.
  ) || CASE WHEN v_class IS NULL THEN '{}'::jsonb ELSE jsonb_build_object('class', v_class) END), 'UTF8')), 'hex');

  INSERT INTO scheduled_messages (tenant_id, contact_id, lead_id, channel, recipient, scheduled_at, due_at,
    template, subject, variables, tone, type, class, personalize, context_hints, idempotency_key,
    skip_if_completed, action_item_id, stop_on_reply, recurrence_interval_seconds, request_fingerprint, traceparent)
  VALUES (v_tenant, v_contact, v_lead, schedule_message.channel, v_recipient, v_at, v_at,
    schedule_message.template, schedule_message.subject, v_variables, schedule_message.tone, v_type,
    coalesce(v_class, message_class_of(v_type)),
    coalesce(schedule_message.personalize, false), schedule_message.context_hints, v_key,
    coalesce(schedule_message.skip_if_completed, false), v_action, coalesce(schedule_message.stop_on_reply, false),
    schedule_message.recurrence_interval_seconds, v_fingerprint, v_traceparent)
  ON CONFLICT ON CONSTRAINT scheduled_messages_tenant_idempotency_key DO NOTHING
  RETURNING id INTO v_id;

  IF v_id IS NOT NULL THEN
    -- Delivered to the dispatchers when the caller's transaction commits; never if it rolls back.
    PERFORM pg_notify('crm_delivery_wakeup', floor(extract(epoch FROM v_at) * 1000)::bigint::text);
    RETURN QUERY SELECT v_id, false;
    RETURN;
  END IF;
  -- The key is taken (the insert waited for a concurrent holder to commit): the same request is
  -- a duplicate, another one a conflict. NULL: a row from before fingerprints were recorded.
  SELECT m.id, m.request_fingerprint INTO v_id, v_stored
    FROM scheduled_messages m WHERE m.tenant_id = v_tenant AND m.idempotency_key = v_key;
  IF v_stored IS NOT NULL AND v_stored <> v_fingerprint THEN
    RAISE EXCEPTION USING ERRCODE = '23505', COLUMN = 'idempotency_key',
      MESSAGE = format('idempotency_key: "%s" is already used by a different message of tenant "%s"', v_key, v_tenant);
  END IF;
  RETURN QUERY SELECT v_id, true;
END $$;
