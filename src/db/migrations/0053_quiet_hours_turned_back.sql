-- quiet_hours_end (0040) again, for the night the clocks turn back (issue 14). 0040 looked only for
-- the wall-clock end time, so a window the turn-back leaves held on too long: New York's
-- 01:30-02:00 at 01:40 EDT ended at 02:00 EST (07:00Z), though at 06:00Z the wall clock reads
-- 01:00 EST, outside the window; Lord Howe's 01:45-02:30 at 01:50 LHDT likewise ended an hour late
-- (test/faults/quiet-hours-dst.test.ts, worker processes under a fast fake clock, showed both).
--
-- Same contract as before: when the window [starts, ends) of wall-clock time in `zone` holds
-- `at`, the first instant after it whose wall-clock time is outside the window; NULL when `at` is
-- outside. Now: read forward with the offset in force at `at`, the wall clock reaches `ends` at
-- `naive`. When the zone's offset does not change before then, that is the end. When it does, at
-- the change (a whole second, found by halving): a wall clock that jumped out of the window (past
-- `ends` in spring, back before `starts` in autumn) ends it there; one still inside goes on from
-- the change with the new offset. Zones change their offset at most once in a night, so one change
-- is enough. A window that opens again in a repeated hour holds the message again when it comes
-- due, as before.
CREATE OR REPLACE FUNCTION quiet_hours_end(at timestamptz, zone text, starts time, ends time) RETURNS timestamptz
LANGUAGE plpgsql STABLE SET search_path FROM CURRENT AS $$
DECLARE
  local_now  timestamp;
  t          time;
  offset_at  interval;
  naive      timestamptz;
  change     timestamptz;
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
  offset_at := local_now - (at AT TIME ZONE 'UTC');
  -- The wall clock runs on from local_now; it reaches ends today, or tomorrow when it is already
  -- past it (a window crossing midnight, before midnight).
  naive := ((local_now::date + ends + CASE WHEN t >= ends THEN interval '1 day' ELSE interval '0' END) - offset_at) AT TIME ZONE 'UTC';
  IF (naive AT TIME ZONE zone) - (naive AT TIME ZONE 'UTC') = offset_at THEN
    RETURN naive;
  END IF;
  -- The offset changes in (at, naive]: the first second with the new offset. 17 halvings cover a day.
  lo := floor(extract(epoch FROM at))::bigint;
  hi := ceil(extract(epoch FROM naive))::bigint;
  WHILE hi - lo > 1 LOOP
    mid := (lo + hi) / 2;
    IF (to_timestamp(mid) AT TIME ZONE zone) - (to_timestamp(mid) AT TIME ZONE 'UTC') = offset_at THEN lo := mid; ELSE hi := mid; END IF;
  END LOOP;
  change := to_timestamp(hi);
  -- Still inside after the jump: the window goes on under the new offset (one change a night, so
  -- no further one before its end). Outside: it ended at the change.
  RETURN coalesce(quiet_hours_end(change, zone, starts, ends), change);
END $$;
