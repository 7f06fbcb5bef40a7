-- The SQL door: functions an application of any language calls inside its own transaction, e.g.
--   SELECT * FROM crm_worker.schedule_message(tenant_id => 't1', channel => 'email', ...);
-- The row exists if and only if that transaction commits, and the dispatcher is woken at commit
-- (NOTIFY is delivered then). Parameter names are the HTTP API's field names in snake_case.
-- Each function runs with the search_path it was created with (this schema, whatever
-- DATABASE_SCHEMA names), so the caller's own search_path (public) never matters.
-- Errors: SQLSTATE 22023 (invalid_parameter_value) with the field in the error's COLUMN and at
-- the start of the message; 23505 for an idempotency key already used for a different message;
-- 23503 for an unknown tenant. What these functions cannot check that the HTTP/TypeScript door
-- checks at scheduling time (Liquid syntax and missing variables, webhook addresses that resolve
-- to private networks) is checked again at send time: such a message fails alone, counted.

-- JSON.stringify's text of a number (ECMAScript Number::toString), so that a fingerprint made
-- here equals the one the TypeScript door makes (src/delivery/idempotency-keys.ts) for the same
-- request. float8's text is the shortest round-trip digits (extra_float_digits >= 1), as JS's is.
CREATE FUNCTION js_number_text(n numeric) RETURNS text
LANGUAGE plpgsql IMMUTABLE SET extra_float_digits = 1 SET search_path FROM CURRENT AS $$
DECLARE
  f float8 := n::float8;
  t text;
  negative boolean;
  mantissa text;
  exponent integer := 0;
  digits text;
  point integer;
  k integer;
  e integer;
BEGIN
  IF f = 0 THEN RETURN '0'; END IF;
  t := f::text;
  negative := left(t, 1) = '-';
  IF negative THEN t := substr(t, 2); END IF;
  IF position('e' IN t) > 0 THEN
    mantissa := split_part(t, 'e', 1);
    exponent := split_part(t, 'e', 2)::integer;
  ELSE
    mantissa := t;
  END IF;
  point := position('.' IN mantissa);
  IF point = 0 THEN
    digits := mantissa;
    point := length(mantissa);
  ELSE
    digits := replace(mantissa, '.', '');
    point := point - 1;
  END IF;
  WHILE left(digits, 1) = '0' AND length(digits) > 1 LOOP
    digits := substr(digits, 2);
    point := point - 1;
  END LOOP;
  digits := rtrim(digits, '0');
  -- The value is 0.<digits> × 10^e: ECMAScript's k digits and exponent n.
  k := length(digits);
  e := point + exponent;
  IF k <= e AND e <= 21 THEN
    t := digits || repeat('0', e - k);
  ELSIF 0 < e AND e <= 21 THEN
    t := left(digits, e) || '.' || substr(digits, e + 1);
  ELSIF -6 < e AND e <= 0 THEN
    t := '0.' || repeat('0', -e) || digits;
  ELSE
    t := left(digits, 1) || CASE WHEN k > 1 THEN '.' || substr(digits, 2) ELSE '' END
         || 'e' || CASE WHEN e - 1 >= 0 THEN '+' ELSE '-' END || abs(e - 1)::text;
  END IF;
  RETURN CASE WHEN negative THEN '-' || t ELSE t END;
END $$;

-- The TypeScript door's canonical JSON: object keys sorted, no spaces, JS number text.
-- plpgsql, not sql: an sql function's body is checked at creation, before it exists to recurse into.
CREATE FUNCTION canonical_json(v jsonb) RETURNS text
LANGUAGE plpgsql IMMUTABLE SET search_path FROM CURRENT AS $$
BEGIN
  RETURN CASE jsonb_typeof(v)
    WHEN 'object' THEN '{' || coalesce((SELECT string_agg(to_json(e.key)::text || ':' || canonical_json(e.value), ',' ORDER BY e.key COLLATE "C")
                                          FROM jsonb_each(v) AS e), '') || '}'
    WHEN 'array' THEN '[' || coalesce((SELECT string_agg(canonical_json(a.value), ',' ORDER BY a.ord)
                                         FROM jsonb_array_elements(v) WITH ORDINALITY AS a(value, ord)), '') || ']'
    WHEN 'string' THEN to_json(v #>> '{}')::text
    WHEN 'number' THEN js_number_text((v #>> '{}')::numeric)
    WHEN 'boolean' THEN v::text
    ELSE 'null'
  END;
END $$;

-- Keys crm-worker makes for itself (src/delivery/idempotency-keys.ts SYSTEM_KEY_PREFIXES; a test
-- keeps the two lists equal), and the suffix of a recurring series' next occurrences.
CREATE FUNCTION reserved_key_problem(key text) RETURNS text
LANGUAGE sql IMMUTABLE SET search_path FROM CURRENT AS $$
  SELECT CASE
    WHEN p.prefix IS NOT NULL THEN format('the prefix "%s" is reserved for keys crm-worker makes itself', p.prefix)
    WHEN key ~ '@r[0-9]+$' THEN 'a key ending in "@r<digits>" is reserved for the next occurrences of a recurring message'
  END
  FROM (SELECT (SELECT prefix FROM unnest(ARRAY['campaign:', 'nurture:', 'dunning:', 'appt:', 'lead-reminder:', 'auto-followup:', 'crm-worker:']) AS prefix
                 WHERE starts_with(key, prefix) LIMIT 1) AS prefix) AS p
$$;

CREATE FUNCTION raise_invalid(field text, problem text) RETURNS void
LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
BEGIN
  RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = field || ': ' || problem, COLUMN = field;
END $$;

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
  recurrence_interval_seconds integer DEFAULT NULL
) RETURNS TABLE (message_id bigint, duplicate boolean)
LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
#variable_conflict use_column
DECLARE
  -- Trimmed as the TypeScript door's schema trims them, so both doors store the same row.
  v_tenant text := btrim(schedule_message.tenant_id);
  v_recipient text := btrim(schedule_message.recipient);
  v_key text := btrim(schedule_message.idempotency_key);
  v_type text := btrim(coalesce(schedule_message.type, 'followup'));
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
  )), 'UTF8')), 'hex');

  INSERT INTO scheduled_messages (tenant_id, contact_id, lead_id, channel, recipient, scheduled_at, due_at,
    template, subject, variables, tone, type, personalize, context_hints, idempotency_key,
    skip_if_completed, action_item_id, stop_on_reply, recurrence_interval_seconds, request_fingerprint)
  VALUES (v_tenant, v_contact, v_lead, schedule_message.channel, v_recipient, v_at, v_at,
    schedule_message.template, schedule_message.subject, v_variables, schedule_message.tone, v_type,
    coalesce(schedule_message.personalize, false), schedule_message.context_hints, v_key,
    coalesce(schedule_message.skip_if_completed, false), v_action, coalesce(schedule_message.stop_on_reply, false),
    schedule_message.recurrence_interval_seconds, v_fingerprint)
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

-- Cancels the message (or the recurring series) with this key that is not yet being sent;
-- returns how many rows were cancelled (0: unknown key, or already sent or in a provider's hands).
-- The same two steps as the TypeScript door's cancelMessages (src/delivery/outbox.ts).
CREATE FUNCTION cancel_message(tenant_id text, idempotency_key text) RETURNS integer
LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
#variable_conflict use_column
DECLARE
  v_tenant text := btrim(cancel_message.tenant_id);
  v_key text := btrim(cancel_message.idempotency_key);
  v_count integer;
BEGIN
  IF v_tenant IS NULL OR v_tenant = '' THEN PERFORM raise_invalid('tenant_id', 'required'); END IF;
  IF v_key IS NULL OR v_key = '' THEN PERFORM raise_invalid('idempotency_key', 'required'); END IF;
  UPDATE scheduled_messages m
     SET recurrence_interval_seconds = CASE WHEN m.status IN ('sending', 'unknown') THEN NULL ELSE m.recurrence_interval_seconds END
   WHERE (m.idempotency_key = v_key OR m.series_key = v_key) AND m.tenant_id = v_tenant
     AND m.status IN ('scheduled', 'claimed', 'sending', 'unknown') AND m.recurrence_interval_seconds IS NOT NULL;
  UPDATE scheduled_messages m
     SET status = 'cancelled', skip_reason = 'cancelled', lease_expires_at = NULL, updated_at = now()
   WHERE (m.idempotency_key = v_key OR m.series_key = v_key) AND m.tenant_id = v_tenant
     AND m.status IN ('scheduled', 'claimed');
  GET DIAGNOSTICS v_count = ROW_COUNT;
  RETURN v_count;
END $$;

-- The one door for replies (src/delivery/replies.ts calls this too): one contact_replies row per
-- lead it answers for (none given: one row for the contact). Returns the rows recorded.
CREATE FUNCTION record_reply(
  tenant_id text,
  contact_id text DEFAULT NULL,
  lead_ids text[] DEFAULT NULL,
  message_id bigint DEFAULT NULL,
  channel text DEFAULT NULL,
  body text DEFAULT NULL,
  received_at timestamptz DEFAULT now()
) RETURNS integer
LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
#variable_conflict use_column
DECLARE
  v_count integer;
BEGIN
  IF record_reply.tenant_id IS NULL OR btrim(record_reply.tenant_id) = '' THEN PERFORM raise_invalid('tenant_id', 'required'); END IF;
  IF record_reply.received_at IS NULL THEN PERFORM raise_invalid('received_at', 'required'); END IF;
  INSERT INTO contact_replies (tenant_id, contact_id, lead_id, message_id, channel, body, received_at)
  SELECT record_reply.tenant_id, record_reply.contact_id, l.lead_id, record_reply.message_id, record_reply.channel,
         record_reply.body, record_reply.received_at
    FROM unnest(CASE WHEN cardinality(record_reply.lead_ids) > 0
                     THEN ARRAY(SELECT DISTINCT x FROM unnest(record_reply.lead_ids) AS x)
                     ELSE ARRAY[NULL::text] END) AS l(lead_id);
  GET DIAGNOSTICS v_count = ROW_COUNT;
  RETURN v_count;
END $$;

-- upsert_contact is the contacts module's: 0032_contact_upsert_function.sql.
