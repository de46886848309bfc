#!/usr/bin/env bash
# The README's walk-through: sign up, check in an online order, read the balance, sign out.
# Run it against `make run` (GATEWAY_URL defaults to http://127.0.0.1:8080), as often as you
# like: each run signs up a new guest (WALKTHROUGH_EMAIL chooses the email).
set -euo pipefail
G="${GATEWAY_URL:-http://127.0.0.1:8080}"
RUN="$(date +%s)-$RANDOM"
EMAIL="${WALKTHROUGH_EMAIL:-ada-$RUN@example.com}"
fail() { echo "walkthrough: $*" >&2; exit 1; }
# call METHOD PATH [BODY [CURL ARGS...]]: the answer's body; any status but 2xx stops here.
call() {
  local out data=()
  [ -n "${3:-}" ] && data=(-H 'Content-Type: application/json' -d "$3")
  out=$(curl -sS -X "$1" "$G$2" "${data[@]}" "${@:4}" -w '\n%{http_code}') ||
    fail "no answer from $G: is the gateway running (make run)?"
  [[ "${out##*$'\n'}" == 2* ]] || fail "$1 $2 answered ${out##*$'\n'}: ${out%$'\n'*}"
  printf '%s\n' "${out%$'\n'*}"
}
# field KEY...: that value of the JSON answer on stdin.
field() {
  python3 -c 'import json, sys
try:
    value = json.load(sys.stdin)
except ValueError:
    value = None
for key in sys.argv[1:]:
    value = value.get(key) if isinstance(value, dict) else None
if value is None:
    sys.exit("walkthrough: no " + ".".join(sys.argv[1:]) + " in the answer")
print(value)' "$@"
}

# 1. Sign up (seed 001). The answer's access_token is the gateway's session token.
SIGNED_UP=$(call POST /api/auth/customers.json \
  '{"user":{"email":"'"$EMAIL"'","password":"correct-horse-9","first_name":"Ada","last_name":"Lovelace"}}')
TOKEN=$(field access_token <<<"$SIGNED_UP")
AUTH=(-H "Authorization: Bearer $TOKEN")
echo "session token: ${TOKEN:0:24}..."

# 2. Check in an online order (seed 002): 42.50 earns 42 points in the sandbox.
CHECKIN=$(call POST /api/auth/checkins/online_order \
  '{"external_uid":"order-'"$RUN"'","receipt_amount":42.50,"subtotal_amount":42.50,"payable":46.02,
    "receipt_datetime":"2026-11-21T12:30:00Z","transaction_no":"1001","channel":"online_order",
    "menu_items":[{"item_name":"Burrito","item_qty":1,"item_amount":42.50,"menu_item_type":"M",
                   "menu_item_id":1,"menu_family":"Mains","menu_major_group":"Food","serial_number":"1.0"}]}' \
  "${AUTH[@]}")
field checkin points_earned <<<"$CHECKIN" | sed 's/^/points earned: /'

# 3. Balance.
BALANCE=$(call GET /api/auth/checkins/balance "" "${AUTH[@]}")
field points_balance <<<"$BALANCE" | sed 's/^/points balance: /'

# 4. Sign out of the gateway: the token stops working.
curl -sS -o /dev/null -w 'logout: %{http_code}\n' -X POST "$G/gateway/logout" "${AUTH[@]}"
curl -sS -o /dev/null -w 'balance after logout: %{http_code}\n' "$G/api/auth/checkins/balance" "${AUTH[@]}"
