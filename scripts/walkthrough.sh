#!/usr/bin/env bash
# The README's walk-through: sign up, check in an online order, read the balance, sign out.
# Run it against `make run` (GATEWAY_URL defaults to http://127.0.0.1:8080).
set -euo pipefail
G="${GATEWAY_URL:-http://127.0.0.1:8080}"
EMAIL="${WALKTHROUGH_EMAIL:-ada@example.com}"
json() { python3 -c "import json,sys; print(json.load(sys.stdin)$1)"; }

# 1. Sign up (seed 001). The answer's access_token is the gateway's session token.
TOKEN=$(curl -sf -X POST "$G/api/auth/customers.json" -H 'Content-Type: application/json' \
  -d '{"user":{"email":"'"$EMAIL"'","password":"correct-horse-9","first_name":"Ada","last_name":"Lovelace"}}' \
  | json '["access_token"]')
echo "session token: ${TOKEN:0:24}..."

# 2. Check in an online order (seed 002): 42.50 earns 42 points in the sandbox.
curl -sf -X POST "$G/api/auth/checkins/online_order" -H "Authorization: Bearer $TOKEN" \
  -H 'Content-Type: application/json' \
  -d '{"external_uid":"order-1001","receipt_amount":42.50,"subtotal_amount":42.50,"payable":46.02,
       "receipt_datetime":"2026-11-21T12:30:00Z","transaction_no":"1001","channel":"online_order",
       "menu_items":[{"item_name":"Burrito","item_qty":1,"item_amount":42.50,"menu_item_type":"M",
                      "menu_item_id":1,"menu_family":"Mains","menu_major_group":"Food","serial_number":"1.0"}]}' \
  | json '["checkin"]["points_earned"]' | sed 's/^/points earned: /'

# 3. Balance.
curl -sf "$G/api/auth/checkins/balance" -H "Authorization: Bearer $TOKEN" \
  | json '["points_balance"]' | sed 's/^/points balance: /'

# 4. Sign out of the gateway: the token stops working.
curl -sf -o /dev/null -w 'logout: %{http_code}\n' -X POST "$G/gateway/logout" -H "Authorization: Bearer $TOKEN"
curl -s -o /dev/null -w 'balance after logout: %{http_code}\n' "$G/api/auth/checkins/balance" \
  -H "Authorization: Bearer $TOKEN"
