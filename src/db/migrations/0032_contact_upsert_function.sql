-- The SQL door's contact upsert (see 0009_sql_api.sql for the door's conventions), owned with the
-- contacts table by the contacts module: the same full replacement as PUT /api/v1/contacts/:id
-- (src/crm/contacts/contact-store.ts), the same checks (contact-schema.ts), the same row. A field
-- left out is stored empty; an upsert that changes nothing leaves the row, updated_at included.
-- Returns 'created', 'updated' or 'unchanged'. A contact id of another tenant is refused, never
-- moved (23505); an unknown tenant is 23503; a bad field 22023 naming it.
CREATE FUNCTION upsert_contact(
  id text,
  tenant_id text,
  name text DEFAULT NULL,
  email text DEFAULT NULL,
  phone text DEFAULT NULL,
  whatsapp text DEFAULT NULL,
  timezone text DEFAULT NULL,
  tags text[] DEFAULT '{}',
  attributes jsonb DEFAULT '{}',
  consent jsonb DEFAULT '{}'
) RETURNS text
LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
#variable_conflict use_column
DECLARE
  v_id text := btrim(upsert_contact.id);
  v_tenant text := btrim(upsert_contact.tenant_id);
  v_name text := nullif(btrim(upsert_contact.name), '');
  v_email text := btrim(upsert_contact.email);
  v_phone text := btrim(upsert_contact.phone);
  v_whatsapp text := btrim(upsert_contact.whatsapp);
  v_tags text[];
  v_attributes jsonb := coalesce(upsert_contact.attributes, '{}');
  v_consent jsonb := coalesce(upsert_contact.consent, '{}');
  v_owner text;
  v_outcome text;
BEGIN
  IF v_id IS NULL OR v_id = '' THEN PERFORM raise_invalid('id', 'must not be empty'); END IF;
  IF length(v_id) > 200 THEN PERFORM raise_invalid('id', 'must be at most 200 characters'); END IF;
  IF v_tenant IS NULL OR v_tenant = '' THEN PERFORM raise_invalid('tenant_id', 'must not be empty'); END IF;
  IF length(v_name) > 500 THEN PERFORM raise_invalid('name', 'must be at most 500 characters'); END IF;
  IF v_email IS NOT NULL AND (length(v_email) > 320 OR v_email !~ '^[^@\s]+@[^@\s]+\.[^@\s]+$') THEN
    PERFORM raise_invalid('email', 'must be an e-mail address such as ann@example.com');
  END IF;
  IF v_phone IS NOT NULL AND v_phone !~ '^\+[1-9][0-9]{6,14}$' THEN
    PERFORM raise_invalid('phone', 'must be a phone number in E.164 form such as +14155550100');
  END IF;
  IF v_whatsapp IS NOT NULL AND v_whatsapp !~ '^\+[1-9][0-9]{6,14}$' THEN
    PERFORM raise_invalid('whatsapp', 'must be a phone number in E.164 form such as +14155550100');
  END IF;
  -- PostgreSQL's zone names (the API checks with Node's; the two may differ on rare legacy aliases).
  IF upsert_contact.timezone IS NOT NULL AND NOT EXISTS (SELECT 1 FROM pg_timezone_names z WHERE z.name = upsert_contact.timezone) THEN
    PERFORM raise_invalid('timezone', 'must be an IANA time zone such as America/New_York');
  END IF;
  v_tags := ARRAY(SELECT btrim(t) FROM unnest(coalesce(upsert_contact.tags, '{}')) WITH ORDINALITY AS x(t, n) ORDER BY n);
  IF cardinality(v_tags) > 100 THEN PERFORM raise_invalid('tags', 'must hold at most 100 tags'); END IF;
  IF EXISTS (SELECT 1 FROM unnest(v_tags) AS t WHERE t IS NULL OR t = '' OR length(t) > 100) THEN
    PERFORM raise_invalid('tags', 'each tag must be 1 to 100 characters');
  END IF;
  IF jsonb_typeof(v_attributes) <> 'object' THEN PERFORM raise_invalid('attributes', 'must be an object'); END IF;
  IF length(v_attributes::text) > 16384 THEN PERFORM raise_invalid('attributes', 'must be at most 16384 characters as JSON'); END IF;
  IF jsonb_typeof(v_consent) <> 'object'
     OR EXISTS (SELECT 1 FROM jsonb_each(v_consent) AS e WHERE e.key NOT IN ('email', 'sms', 'whatsapp') OR jsonb_typeof(e.value) <> 'boolean') THEN
    PERFORM raise_invalid('consent', 'must be an object such as {"email": true, "sms": false}');
  END IF;
  IF NOT EXISTS (SELECT 1 FROM tenants t WHERE t.id = v_tenant) THEN
    RAISE EXCEPTION USING ERRCODE = '23503', MESSAGE = format('tenant_id: unknown tenant "%s"', v_tenant), COLUMN = 'tenant_id';
  END IF;
  SELECT c.tenant_id INTO v_owner FROM contacts c WHERE c.id = v_id FOR UPDATE;
  IF v_owner IS NOT NULL AND v_owner <> v_tenant THEN
    RAISE EXCEPTION USING ERRCODE = '23505', COLUMN = 'id', MESSAGE = format('id: contact "%s" belongs to another tenant', v_id);
  END IF;
  INSERT INTO contacts AS c (id, tenant_id, name, email, phone, whatsapp, timezone, tags, attributes, consent)
  VALUES (v_id, v_tenant, v_name, v_email, v_phone, v_whatsapp, upsert_contact.timezone, v_tags, v_attributes, v_consent)
  ON CONFLICT (id) DO UPDATE
     SET name = EXCLUDED.name, email = EXCLUDED.email, phone = EXCLUDED.phone, whatsapp = EXCLUDED.whatsapp,
         timezone = EXCLUDED.timezone, tags = EXCLUDED.tags, attributes = EXCLUDED.attributes, consent = EXCLUDED.consent,
         updated_at = now()
   WHERE c.tenant_id = EXCLUDED.tenant_id
     AND (c.name, c.email, c.phone, c.whatsapp, c.timezone, c.tags, c.attributes, c.consent)
         IS DISTINCT FROM (EXCLUDED.name, EXCLUDED.email, EXCLUDED.phone, EXCLUDED.whatsapp, EXCLUDED.timezone, EXCLUDED.tags, EXCLUDED.attributes, EXCLUDED.consent)
  RETURNING CASE WHEN xmax = 0 THEN 'created' ELSE 'updated' END INTO v_outcome;
  RETURN coalesce(v_outcome, 'unchanged');
END $$;
