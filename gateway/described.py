"""What the gateway describes that is not a setting: the environment variables it reads
outside the settings (gateway/config.py's declarations cover theirs), and every error
code with what it means.

Read at run time (check-config's unknown-variable warnings, the OpenAPI document served at
/gateway/openapi.json) and by the docs generator (gateway/docgen.py), which checks both
against the code: one list of each.
"""

from __future__ import annotations

# Environment variables the code reads that are not a setting's override.
EXTRA_ENV: dict[str, str] = {
    "GATEWAY_CONFIG": (
        "Path of the TOML configuration file (optional: without it, defaults and the "
        "environment only). The container image sets `/etc/loyalty-gateway/gateway.toml`."
    ),
    # A business's secrets ([[businesses]]): the variable's name ends with the business's
    # name, upper-cased, '-' as '_' (brand-b: PUNCHH_CLIENT_SECRET__BRAND_B).
    "PUNCHH_CLIENT_SECRET__": (
        "**secret**. `punchh.client_secret` of the `[[businesses]]` table named `<NAME>` "
        "(its name upper-cased, `-` as `_`): `PUNCHH_CLIENT_SECRET__BRAND_B` for `brand-b`."
    ),
    "PUNCHH_BUSINESS_KEY__": (
        "**secret**. `pos.business_key` of the `[[businesses]]` table named `<NAME>` "
        "(as above): `PUNCHH_BUSINESS_KEY__BRAND_B` for `brand-b`."
    ),
    "GATEWAY_URL": (
        "Not read by the gateway: the gateway `scripts/walkthrough.sh` and "
        "`scripts/two_brands.sh` call (default `http://127.0.0.1:8080`); named here so "
        "that check-config does not warn about it."
    ),
    "PROMETHEUS_MULTIPROC_DIR": (
        "Set by the gateway itself for its worker processes when `server.workers` > 1 (a "
        "fresh temporary directory where they write their metrics). Do not set it: with one "
        "worker it would make /metrics read that directory instead of the process."
    ),
    # Tracing (gateway/tracing.py, docs/operators/tracing.md): OpenTelemetry's own variables.
    "OTEL_EXPORTER_OTLP_ENDPOINT": (
        "Tracing: the OTLP/HTTP collector's base URL (`/v1/traces` is added), e.g. "
        "`http://otel-collector:4318`. Unset or empty: tracing is off and costs nothing. "
        "See [tracing.md](tracing.md)."
    ),
    "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": (
        "Tracing: the full traces URL, used as is; wins over `OTEL_EXPORTER_OTLP_ENDPOINT`."
    ),
    "OTEL_SDK_DISABLED": "Tracing: `true` turns it off whatever the endpoint.",
    "OTEL_TRACES_EXPORTER": "Tracing: `none` turns it off; otherwise OTLP/HTTP is used.",
    "OTEL_SERVICE_NAME": "Tracing: the `service.name` of the spans (default `loyalty-gateway`).",
    "OTEL_TRACES_SAMPLER": (
        "Tracing: `parentbased_always_on` (default), `parentbased_traceidratio`, "
        "`parentbased_always_off`, `always_on`, `always_off` or `traceidratio`."
    ),
    "OTEL_TRACES_SAMPLER_ARG": (
        "Tracing: the ratio of new traces sampled by the `*traceidratio` samplers, 0 to 1 "
        "(default 1), e.g. `0.01`."
    ),
}


# Every error code the gateway answers with: when it happens.
ERRORS: dict[str, str] = {
    "bad_request": "A malformed request that no more precise code describes.",
    "invalid_json": "The body is not valid JSON, or is nested deeper than 32 levels.",
    "invalid_body": "The body is JSON but not an object.",
    "query_not_allowed": (
        "A sign-in, sign-up, OTP or password-reset call with query parameters: the "
        "identifiers its abuse budgets are keyed by are read from the body only, so none "
        "may travel beside it. Punchh is not called."
    ),
    "invalid_identifier": (
        "An OTP send or a sign-in whose email or phone is not a string (a phone may be a "
        "number), or whose `user` is not an object: refused before any budget or call."
    ),
    "invalid_path": (
        "An unsafe path: encoded slashes, backslashes, control characters, double "
        "encoding. Punchh is not called."
    ),
    "malformed_request": (
        "A request aiohttp's parser refused (request line, header, Content-Length, chunked "
        "framing), answered by the connection with a fresh request id; the input is never "
        "echoed. The connection closes."
    ),
    "headers_too_large": (
        "A request line or header field longer than 8190 bytes. The connection closes."
    ),
    "not_refreshable": "A refresh was asked for a session that has no refresh token.",
    "unauthorized": "Authentication failed in a way no more precise code describes.",
    "session_required": "A guest route without a gateway session token.",
    "invalid_session": (
        "A forged, expired, idle or ended gateway session token, or one of another business."
    ),
    "session_expired": "Punchh refused to refresh the session's tokens: sign in again.",
    "invalid_device_key": "A POS route without a known device key.",
    "unknown_business": (
        "No business is served on the request's host (`hosts` of `[[businesses]]`, and no "
        "`default` business), or `X-Loyalty-Business` names none. Punchh is not called."
    ),
    "admin_token_required": (
        "/metrics or the status page on the main port without the admin token "
        "(`GATEWAY_ADMIN_TOKEN`)."
    ),
    "forbidden": "Refused in a way no more precise code describes.",
    "admin_only": (
        "/metrics or the status page on the main port when no admin token is configured: "
        "they are served on the admin port (`GATEWAY_ADMIN_PORT`), or here with "
        "`GATEWAY_ADMIN_TOKEN`."
    ),
    "browser_forbidden": (
        "A POS route called by a browser (`Origin`, `Sec-Fetch-*` or `Cookie` present)."
    ),
    "origin_forbidden": (
        "Cookie mode: an unsafe method without an allowed `Origin`; or a CORS preflight "
        "from an origin not in `GATEWAY_ALLOWED_ORIGINS`."
    ),
    "not_found": "No such resource (aiohttp's own 404).",
    "route_not_found": "The path and method are not in the route table. Punchh is not called.",
    "method_not_allowed": "The path exists with other methods (listed in `Allow`).",
    "body_timeout": (
        "The body did not arrive within `server.body_timeout` seconds of the headers; the "
        "connection closes."
    ),
    "payload_too_large": "The body is larger than `server.max_body_bytes`.",
    "unsupported_media_type": "A body that is not JSON.",
    "conflict": "The request conflicts with another one (no more precise code).",
    "upstream_retry_refused": (
        "Punchh answered a 4xx to a retry of a write whose earlier attempt was sent and "
        "may have applied (outcome `unknown`): repeat it later with the same "
        "`external_uid` or `Idempotency-Key` (`Retry-After` is Punchh's)."
    ),
    "idempotency_key_in_flight": (
        "A request with the same `Idempotency-Key` is still being handled (here or on "
        "another replica) and did not finish in time: retry with the same key later."
    ),
    "unprocessable": "The request cannot be processed as sent (no more precise code).",
    "invalid_idempotency_key": (
        "An `Idempotency-Key` header that is not 1 to 255 visible ASCII characters."
    ),
    "idempotency_key_reused": (
        "An `Idempotency-Key` already used for a different request: a new request needs a new key."
    ),
    "rate_limited": "A rate-limit policy is exhausted (`Retry-After` says for how long).",
    "http_error": "Any other HTTP error aiohttp raised itself (its own status).",
    "internal_error": "A bug in the gateway, logged with its traceback.",
    "upstream_unavailable": (
        "Punchh unreachable, a connection reset, an unreadable answer, a refresh that could "
        "not be made; or (503, with `Retry-After`) the upstream family's circuit breaker is "
        "open: nothing was sent."
    ),
    "not_ready": "`/readyz` before start-up completes.",
    "draining": (
        "`/readyz` from SIGTERM on, while the gateway shuts down: load balancers stop "
        "sending it requests."
    ),
    "session_store_unavailable": "Redis did not answer within `store.timeout`.",
    "rate_limiter_unavailable": "A fail-closed (abuse) policy's store cannot answer.",
    "upstream_busy": (
        "Punchh asked for a pause on this route (a 429 or 503 with `Retry-After`); the "
        "gateway answers the route itself until the time has passed."
    ),
    "upstream_overloaded": (
        "Too many calls to Punchh in flight (`rate_limit.max_concurrent_upstream`) and the "
        "queue is full or waited too long; `Retry-After: 1`."
    ),
    "overloaded": (
        "The connection was opened beyond `server.max_connections` in this process: it is "
        "served /healthz and /readyz only, and closes after its answer; `Retry-After: 1`."
    ),
    "upstream_timeout": "Punchh slower than the timeouts (`PUNCHH_*_TIMEOUT`).",
}
