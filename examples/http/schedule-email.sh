#!/usr/bin/env bash
# Schedules an e-mail through a running worker's HTTP API, then waits until it is sent.
#
#   API_KEY=change-me-at-least-16-chars npm start          # the worker, in another terminal
#   API_KEY=change-me-at-least-16-chars bash examples/http/schedule-email.sh
#
# Without SMTP settings the e-mail goes to the worker's log channel and is marked sent, so the
# worker's log shows it. Needs curl, jq and GNU date. test/package/http-example.test.ts runs it.
set -euo pipefail

WORKER_URL=${WORKER_URL:-http://127.0.0.1:3002}
: "${API_KEY:?set API_KEY to the API key the worker runs with}"
TENANT_ID=${TENANT_ID:-example-tenant}
RECIPIENT=${RECIPIENT:-ann@example.com}
SEND_IN_SECONDS=${SEND_IN_SECONDS:-5}

api() { # api METHOD PATH [JSON body]: prints the body, fails on a status other than 2xx
  curl --silent --show-error --fail-with-body -X "$1" "$WORKER_URL/api$2" \
    -H "x-api-key: $API_KEY" -H 'content-type: application/json' ${3:+--data "$3"}
}

# The CRM feeds crm-worker its tenants (and contacts) through the data contract: an idempotent PUT.
echo "tenant:    $(api PUT "/v1/tenants/$TENANT_ID" '{"name": "Example tenant", "status": "active"}')"

key="example-http-$(date +%s)-$RANDOM"
scheduled_at=$(date -u -d "+${SEND_IN_SECONDS} seconds" +%Y-%m-%dT%H:%M:%SZ)
body=$(jq -n --arg tenant "$TENANT_ID" --arg to "$RECIPIENT" --arg at "$scheduled_at" --arg key "$key" '{
  tenantId: $tenant, channel: "email", recipient: $to, scheduledAt: $at,
  subject: "Your visit on {{ day }}", template: "Hi {{ name }}, see you on {{ day }}.",
  variables: { name: "Ann", day: "Monday" }, idempotencyKey: $key }')

created=$(api POST /followups "$body")
echo "scheduled: $created"
# The same request again is a duplicate, not a second message.
echo "again:     $(api POST /followups "$body")"
id=$(jq -r '.ids[0]' <<<"$created")

while :; do
  message=$(api GET "/followups/$id")
  status=$(jq -r .status <<<"$message")
  case $status in
    scheduled|claimed|sending) sleep 1 ;;
    *) break ;;
  esac
done
echo "final:     $(jq -c '{id, idempotencyKey, status, scheduledAt, sentAt, attempts}' <<<"$message")"
[[ $status == sent ]]
