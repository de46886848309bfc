#!/usr/bin/env bash
# Make sure a Redis answers on 127.0.0.1:6379 (REDIS_PORT): start one, installing it from Debian if missing.
set -euo pipefail
port="${REDIS_PORT:-6379}"
ping() { redis-cli -h 127.0.0.1 -p "$port" ping 2>/dev/null | grep -q PONG; }
if command -v redis-cli >/dev/null && ping; then exit 0; fi
if ! command -v redis-server >/dev/null; then
  echo "redis-server missing: installing it with apt-get" >&2
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server >/dev/null
fi
mkdir -p /tmp/loyalty-gateway-redis
redis-server --daemonize yes --bind 127.0.0.1 --port "$port" --save "" --appendonly no \
  --dir /tmp/loyalty-gateway-redis --logfile /tmp/loyalty-gateway-redis/redis.log
for _ in $(seq 1 50); do ping && exit 0; sleep 0.1; done
echo "Redis did not answer on 127.0.0.1:$port" >&2
exit 1
