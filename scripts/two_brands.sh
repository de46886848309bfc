#!/usr/bin/env bash
# The two-brand example of docs/guide.md: one gateway, two Punchh businesses (config/gateway.dev.toml).
# Run it against `make run` (GATEWAY_URL defaults to http://127.0.0.1:8080; brand B is the
# same port on brand-b.localhost, which curl and browsers resolve to loopback).
set -euo pipefail
A="${GATEWAY_URL:-http://127.0.0.1:8080}"
B="${A/127.0.0.1/brand-b.localhost}"
RUN="$(date +%s)-$RANDOM"  # a new guest each run: run it as often as you like
EMAIL="${TWO_BRANDS_EMAIL:-grace-$RUN@example.com}"
json() { python3 -c "import json,sys; print(json.load(sys.stdin)$1)"; }
sign_up() {
  curl -sf -X POST "$1/api/auth/customers.json" -H 'Content-Type: application/json' \
    -d '{"user":{"email":"'"$EMAIL"'","password":"correct-horse-9","first_name":"Grace","last_name":"Hopper"}}' \
    | json '["access_token"]'
}

# 1. The same guest signs up at both brands: two Punchh users, two gateway sessions.
TA=$(sign_up "$A")
TB=$(sign_up "$B")

# 2. An order at brand B only.
curl -sf -X POST "$B/api/auth/checkins/online_order" -H "Authorization: Bearer $TB" \
  -H 'Content-Type: application/json' \
  -d '{"external_uid":"b-order-'"$RUN"'","receipt_amount":18.00,"subtotal_amount":18.00,"payable":19.50,
       "receipt_datetime":"2026-11-21T12:30:00Z","transaction_no":"b-1","channel":"online_order",
       "menu_items":[{"item_name":"Pizza","item_qty":1,"item_amount":18.00,"menu_item_type":"M",
                      "menu_item_id":1,"menu_family":"Mains","menu_major_group":"Food","serial_number":"1.0"}]}' \
  >/dev/null

# 3. Each brand's balance, and brand A's token at brand B.
curl -sf "$A/api/auth/checkins/balance" -H "Authorization: Bearer $TA" | json '["points_balance"]' | sed 's/^/brand A points: /'
curl -sf "$B/api/auth/checkins/balance" -H "Authorization: Bearer $TB" | json '["points_balance"]' | sed 's/^/brand B points: /'
curl -s -o /dev/null -w 'brand A token at brand B: %{http_code}\n' "$B/api/auth/checkins/balance" -H "Authorization: Bearer $TA"

# 4. On this machine the header names the brand too, whatever the host.
curl -sf "$A/api/auth/checkins/balance" -H "Authorization: Bearer $TB" -H 'X-Loyalty-Business: brand-b' \
  | json '["points_balance"]' | sed 's/^/brand B points by header: /'
