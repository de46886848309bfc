#!/usr/bin/env bash
# Make sure a Redis answers on 127.0.0.1:6379 (REDIS_PORT): start one, installing it from
# Debian if missing (scripts/ensure-apt.sh: as root, or through sudo).
set -euo pipefail
port="${REDIS_PORT:-6379}"
ping() { redis-cli -h 127.0.0.1 -p "$port" ping 2>/dev/null | grep -q PONG; }
if command -v redis-cli >/dev/null && ping; then exit 0; fi
if ! "$(dirname "$0")/ensure-apt.sh" redis-server:redis-server,redis-cli; then
  echo "ensure-redis: the tests need a Redis on 127.0.0.1:$port: start one, or install" \
    "redis-server (Debian, Ubuntu: sudo apt-get install redis-server; macOS: brew install redis)" >&2
  exit 1
fi
mkdir -p /tmp/loyalty-gateway-redis
redis-server --daemonize yes --bind 127.0.0.1 --port "$port" --save "" --appendonly no \
  --dir /tmp/loyalty-gateway-redis --logfile /tmp/loyalty-gateway-redis/redis.log
for _ in $(seq 1 50); do ping && exit 0; sleep 0.1; done
echo "Redis did not answer on 127.0.0.1:$port" >&2
exit 1
