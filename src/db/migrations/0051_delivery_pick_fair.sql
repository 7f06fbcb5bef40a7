-- The dispatcher's pick, by class and fair across tenants (issue 14, item 5). 0005 walked the due
-- index in plain due order: 100,000 marketing messages of one tenant due at 09:00 then held back
-- every message due after them, another tenant's appointment reminder included, until the
-- backlog drained. Now:
--   * classes in order: transactional rows due now first, then follow-ups, then marketing; a class
--     is reached only while the pick has room left (strict priority);
--   * inside a class, the tenants with due rows share the pick: each takes ceil(room / tenants)
--     of its oldest due rows (a round), a tenant with fewer drops out and the next round shares
--     what is left among the others, until the pick is full or no tenant has more; when there are
--     more tenants than room, the tenants waiting longest (oldest due row) go first;
--   * the ids come back round-robin (a round's first row of every tenant, then its second ...),
--     the order the dispatcher's local queue keeps them in;
--   * inside a tenant and class, due order (then scheduling order) holds.
-- Every step is an index probe of scheduled_messages_class_due (class, tenant_id, due_at, id)
-- WHERE status = 'scheduled' (0050): one to find each tenant with scheduled rows of the class (a
-- loose index scan), one for its oldest row, one per round for its next rows; no step reads or
-- sorts all due rows, so the cost does not grow with one tenant's backlog
-- (test/delivery/fair-pick-plan.test.ts EXPLAINs every statement of it). The planner settings are
-- 0005's: with the statistics of a table before its backlog arrived, they keep the walks in index
-- order (jit off: see below). FOR UPDATE SKIP LOCKED as before: several dispatchers pick side by side, each skipping
-- the rows another one is claiming. Paused channels (rate limits) are skipped inside a tenant's walk.
CREATE OR REPLACE FUNCTION delivery_pick_due(max_rows integer, paused_channels text[])
  RETURNS SETOF bigint
  LANGUAGE plpgsql VOLATILE
  SET enable_sort = off
  SET enable_bitmapscan = off
  -- The last statement sorts what was picked; enable_sort = off prices that sort at 10^10, which
  -- made the server JIT-compile it (0.8 s per claim). Nothing here is worth compiling.
  SET jit = off
AS $$
DECLARE
  classes CONSTANT text[] := ARRAY['transactional', 'followup', 'marketing'];
  room integer := coalesce(max_rows, 0);
  tenant_ids text[];
  tenant_count integer;
  open_count integer;
  is_open boolean[];
  after_due timestamptz[];
  after_id bigint[];
  share integer;
  round_no integer;
  took integer;
  picked record;
  -- What was picked and where it goes in the answer: class, round, rank in the round, tenant.
  ids bigint[] := '{}';
  class_keys integer[] := '{}';
  round_keys integer[] := '{}';
  rank_keys integer[] := '{}';
  tenant_keys integer[] := '{}';
BEGIN
  FOR class_no IN 1 .. cardinality(classes) LOOP
    EXIT WHEN room <= 0;
    -- The tenants with a row of this class due now, longest-waiting first.
    SELECT array_agg(w.tenant_id ORDER BY w.oldest, w.tenant_id) INTO tenant_ids
      FROM (
        WITH RECURSIVE walk(tenant_id) AS (
          (SELECT m.tenant_id FROM scheduled_messages m
            WHERE m.status = 'scheduled' AND m.class = classes[class_no]
            ORDER BY m.class, m.tenant_id LIMIT 1)
          UNION ALL
          SELECT (SELECT m.tenant_id FROM scheduled_messages m
                   WHERE m.status = 'scheduled' AND m.class = classes[class_no] AND m.tenant_id > walk.tenant_id
                   ORDER BY m.class, m.tenant_id LIMIT 1)
            FROM walk WHERE walk.tenant_id IS NOT NULL
        )
        SELECT walk.tenant_id, first.due_at AS oldest
          FROM walk CROSS JOIN LATERAL (
            SELECT m.due_at FROM scheduled_messages m
             WHERE m.status = 'scheduled' AND m.class = classes[class_no] AND m.tenant_id = walk.tenant_id
             ORDER BY m.class, m.tenant_id, m.due_at LIMIT 1) first
         WHERE walk.tenant_id IS NOT NULL
      ) w
     WHERE w.oldest <= now();
    CONTINUE WHEN tenant_ids IS NULL;

    tenant_count := cardinality(tenant_ids);
    open_count := tenant_count;
    is_open := array_fill(true, ARRAY[tenant_count]);
    after_due := array_fill('-infinity'::timestamptz, ARRAY[tenant_count]);
    after_id := array_fill(0::bigint, ARRAY[tenant_count]);
    round_no := 0;
    WHILE room > 0 AND open_count > 0 LOOP
      round_no := round_no + 1;
      share := ceil(room::numeric / open_count)::integer;
      FOR tenant_no IN 1 .. tenant_count LOOP
        EXIT WHEN room <= 0;
        CONTINUE WHEN NOT is_open[tenant_no];
        took := 0;
        FOR picked IN
          SELECT m.id, m.due_at FROM scheduled_messages m
           WHERE m.status = 'scheduled' AND m.class = classes[class_no] AND m.tenant_id = tenant_ids[tenant_no]
             AND m.due_at <= now() AND (m.due_at, m.id) > (after_due[tenant_no], after_id[tenant_no])
             AND NOT (m.channel = ANY (paused_channels))
           ORDER BY m.class, m.tenant_id, m.due_at, m.id
           LIMIT least(share, room)
           FOR UPDATE SKIP LOCKED
        LOOP
          took := took + 1;
          ids := ids || picked.id;
          class_keys := class_keys || class_no;
          round_keys := round_keys || round_no;
          rank_keys := rank_keys || took;
          tenant_keys := tenant_keys || tenant_no;
          after_due[tenant_no] := picked.due_at;
          after_id[tenant_no] := picked.id;
        END LOOP;
        room := room - took;
        IF took < share THEN
          is_open[tenant_no] := false;
          open_count := open_count - 1;
        END IF;
      END LOOP;
    END LOOP;
  END LOOP;
  -- Sorts only what was picked (at most max_rows rows).
  RETURN QUERY
    SELECT p.id FROM unnest(ids, class_keys, round_keys, rank_keys, tenant_keys) AS p(id, c, r, k, t)
     ORDER BY p.c, p.r, p.k, p.t;
END $$;
