-- The dispatcher's pick of due rows, in due order, stopping after max_rows.
--
-- Why a function with planner settings: right after a backlog is inserted (a campaign of 100,000
-- due at 09:00) the table's statistics still say few rows are due, and the planner then fetches
-- every due row with a bitmap scan and sorts them all, on every claim: a claim of 100 took 40 ms
-- with 80,000 due, and the cost grew with the backlog. Walking the due index in order stops after
-- max_rows whatever the statistics say (0.4 ms for the same claim). A SQL function with SET is
-- planned under its own settings and is not inlined into the caller.
CREATE FUNCTION delivery_pick_due(max_rows integer, paused_channels text[])
  RETURNS SETOF bigint
  LANGUAGE sql VOLATILE
  SET enable_sort = off
  SET enable_bitmapscan = off
AS $$
  SELECT id FROM scheduled_messages
   WHERE status = 'scheduled' AND due_at <= now() AND NOT (channel = ANY (paused_channels))
   ORDER BY due_at
   LIMIT max_rows
   FOR UPDATE SKIP LOCKED
$$;
