#!/usr/bin/env python3
"""Schedules a message from a Python application, inside the application's own transaction.

    python3 schedule_from_python.py DATABASE_URL TENANT_ID WEBHOOK_TARGET IDEMPOTENCY_KEY DELAY_SECONDS [commit|rollback]

The application writes its own row and schedules the follow-up in one transaction: both exist
if and only if it commits, and crm-worker's dispatcher is woken at commit. Nothing here knows
crm-worker's tables: the functions in its schema (crm_worker) are the whole contract. Needs
psycopg 3 (Debian: python3-psycopg).
"""
import datetime
import json
import sys

import psycopg


def main() -> None:
    url, tenant_id, target, key, delay, *rest = sys.argv[1:]
    outcome = rest[0] if rest else "commit"
    send_at = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(seconds=float(delay))
    with psycopg.connect(url) as conn:
        # The application's own work in the same transaction (a table in its own schema).
        conn.execute("CREATE TABLE IF NOT EXISTS public.app_orders (id serial PRIMARY KEY, note text)")
        conn.execute("INSERT INTO public.app_orders (note) VALUES (%s)", (f"order for {key}",))
        row = conn.execute(
            """SELECT message_id, duplicate FROM crm_worker.schedule_message(
                   tenant_id => %s, channel => 'webhook', recipient => %s,
                   scheduled_at => %s, template => 'Thanks for your order, {{ name }}!',
                   idempotency_key => %s, variables => %s::jsonb)""",
            (tenant_id, target, send_at, key, json.dumps({"name": "Ada"})),
        ).fetchone()
        if outcome == "rollback":
            conn.rollback()
        else:
            conn.commit()
    print(json.dumps({"messageId": row[0], "duplicate": row[1], "outcome": outcome}))


if __name__ == "__main__":
    main()
