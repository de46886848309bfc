"""Resilience around calls to Punchh: per-class timeouts, safe retries under a budget,
a circuit breaker per upstream family, and idempotency keys for frontends."""
