"""The operations of the gateway's own routes (gateway/local.py: /healthz, /readyz, the
logouts, the OpenAPI document) and of the admin pages (gateway/admin.py), for
gateway/openapi.py: what each answers, all of it defined by the gateway.
"""

from __future__ import annotations

from gateway.openapi_schemas import Doc, obj, ref, response


def _errors() -> Doc:
    return {"4XX": ref("responses", "GatewayError"), "5XX": ref("responses", "GatewayError")}


def own_operations() -> dict[tuple[str, str], Doc]:
    """The gateway's own routes (gateway/local.py): (method, path) → operation."""
    ended = {"204": response("Ended; in cookie mode the cookie is cleared.")}
    return {
        ("GET", "/healthz"): {
            "summary": "Liveness: 200 while the process runs",
            "responses": {
                "200": response("Alive.", obj({"status": {"const": "ok"}}, ["status"], closed=True))
            }
            | _errors(),
        },
        ("GET", "/readyz"): {
            "summary": "Readiness: 503 `not_ready` before start-up, `draining` from SIGTERM on",
            "responses": {
                "200": response(
                    "Ready; the session store's state is reported, not failed on.",
                    obj(
                        {"status": {"const": "ready"}, "store": {"enum": ["ok", "unavailable"]}},
                        ["status", "store"],
                        closed=True,
                    ),
                )
            }
            | _errors(),
        },
        ("POST", "/gateway/logout"): {
            "summary": "End this session (and sign out at Punchh where Punchh has a sign-out)",
            "responses": ended | _errors(),
        },
        ("POST", "/gateway/logout/all"): {
            "summary": "End every session of this guest, on every replica",
            "responses": ended | _errors(),
        },
        ("GET", "/gateway/openapi.json"): {
            "summary": "This document",
            "description": "With an `ETag` (changed only by a new version of the gateway); "
            "`If-None-Match` with it answers 304.",
            "responses": {
                "200": response("The OpenAPI document.", {"type": "object"}),
                "304": {"description": "Not modified: the client's copy is this one."},
            }
            | _errors(),
        },
    }


_WHERE = (
    "Served here only when admin.port is 0 (GATEWAY_ADMIN_PORT unset), with the admin token "
    "(403 admin_only without GATEWAY_ADMIN_TOKEN); otherwise on the admin listener alone, "
    "without a token, and this listener answers 404."
)

ADMIN_ROUTES: dict[tuple[str, str], Doc] = {
    # gateway/admin.py: on the main port only when admin.port is 0 (and then 403 admin_only
    # without GATEWAY_ADMIN_TOKEN set); else on the admin port only.
    ("GET", "/metrics"): {
        "summary": "Prometheus metrics (docs/operators/metrics.md)",
        "description": _WHERE,
        "responses": {"200": response("Prometheus text.", {"type": "string"}, "text/plain")}
        | _errors(),
    },
    ("GET", "/gateway/status"): {
        "summary": "The status page",
        "description": _WHERE,
        "responses": {"200": response("HTML.", {"type": "string"}, "text/html")} | _errors(),
    },
}
