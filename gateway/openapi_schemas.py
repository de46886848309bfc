"""The components of the OpenAPI document (gateway/openapi.py puts it together): what the
gateway itself defines, its error answer, the session token fields of a sign-in answer,
the security schemes and the headers it reads. Punchh's own bodies stay loosely typed:
the gateway passes them on.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, get_args

from gateway.errors import Outcome
from gateway.headers import FORWARDED_FROM_CLIENT

JSON = "application/json"
Doc = dict[str, Any]

# An operation's `security`: any one of the requirements in the list will do.
SESSION: list[dict[str, list[str]]] = [{"gatewaySession": []}, {"gatewaySessionCookie": []}]
POS_DEVICE: list[dict[str, list[str]]] = [{"posDeviceKey": []}]
ADMIN: list[dict[str, list[str]]] = [{"adminToken": []}]


def ref(kind: str, name: str) -> Doc:
    return {"$ref": f"#/components/{kind}/{name}"}


def response(description: str, schema: Doc | None = None, media: str = JSON) -> Doc:
    """Every answer carries X-Request-ID (middleware/request_id.py)."""
    out: Doc = {
        "description": description,
        "headers": {"X-Request-ID": ref("headers", "RequestId")},
    }
    if schema is not None:
        out["content"] = {media: {"schema": schema}}
    return out


def obj(props: Doc, required: list[str] | None = None, *, closed: bool = False) -> Doc:
    out: Doc = {"type": "object", "properties": props, "additionalProperties": not closed}
    if required:
        out["required"] = required
    return out


_TOKEN = ref("schemas", "SessionToken")
_LIFETIME = ref("schemas", "SessionLifetime")


def _security_schemes() -> Doc:
    return {
        "gatewaySession": {
            "type": "http",
            "scheme": "bearer",
            "bearerFormat": "JWT",
            "description": (
                "The gateway session token a sign-in answered with, where the frontend sent "
                "Punchh's access token: `Authorization: Bearer <gateway session token>` (also "
                "read from `authentication_token` in the JSON body or the query, as Punchh "
                "reads its own). Punchh's tokens never leave the gateway."
            ),
        },
        "gatewaySessionCookie": {
            "type": "apiKey",
            "in": "cookie",
            "name": "lg_session",
            "description": (
                "Cookie mode (`session.cookie_mode`): the session token in an HttpOnly cookie "
                "named by `session.cookie_name` (`lg_session` by default), set by a sign-in "
                "and cleared by a logout. Unsafe methods also need an `Origin` from "
                "`session.allowed_origins` (else 403 `origin_forbidden`)."
            ),
        },
        "posDeviceKey": {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": (
                "A POS device's own key from `[[pos.devices]]`: `Authorization: Token "
                "token=<device key>`. The gateway signs for Punchh with that device's location "
                "key. Requests a browser sends (`Origin`, `Sec-Fetch-*`, `Cookie`) are refused."
            ),
        },
        "adminToken": {
            "type": "http",
            "scheme": "bearer",
            "description": (
                "`GATEWAY_ADMIN_TOKEN`, on the main port. On the admin port "
                "(`GATEWAY_ADMIN_PORT`) the admin pages need nothing: reaching it is the privilege."
            ),
        },
    }


def _error_schemas(errors: Mapping[str, str]) -> Doc:
    codes = sorted(errors)
    return {
        "GatewayError": obj({"error": ref("schemas", "GatewayErrorBody")}, ["error"], closed=True)
        | {"description": "An error the gateway made itself (middleware/errors.py)."},
        "GatewayErrorBody": obj(
            {
                "code": ref("schemas", "ErrorCode"),
                "message": {"type": "string", "description": "Safe to show and to log."},
                "request_id": {"type": "string", "description": "The answer's X-Request-ID."},
                "outcome": ref("schemas", "Outcome"),
                "trace_id": {
                    "type": "string",
                    "pattern": "^[0-9a-f]{32}$",
                    "description": "The request's trace; only while tracing is on.",
                },
            },
            ["code", "message", "request_id", "outcome"],
            closed=True,
        ),
        "ErrorCode": {
            "type": "string",
            "enum": codes,
            "x-enum-descriptions": [errors[c] for c in codes],
            "description": "Statuses and meanings: docs/operators/errors.md.",
        },
        "Outcome": {
            "type": "string",
            "enum": list(get_args(Outcome)),
            "description": (
                "What became of the request at Punchh: `not_applied` (never sent, or refused: "
                "safe to send again), `unknown` (sent, answer lost: send again only with the "
                "same `external_uid` or `Idempotency-Key`), `applied` (the gateway failed after)."
            ),
        },
    }


def _session_schemas() -> Doc:
    hidden = " `id_token` and `refresh_token` are removed."
    return {
        "SessionToken": {
            "type": "string",
            "description": (
                "The gateway session token (a JWT the gateway signs), in place of Punchh's "
                "token; absent in cookie mode, where `Set-Cookie` carries it."
            ),
        },
        "SessionLifetime": {
            "type": "integer",
            "minimum": 0,
            "description": "Seconds the gateway session lives (`session.ttl`).",
        },
        "AuthSignIn": obj({"access_token": _TOKEN, "authentication_token": _TOKEN})
        | {"description": "Punchh's user, both its tokens the gateway session token." + hidden},
        "OAuthSignIn": obj({"access_token": _TOKEN, "expires_in": _LIFETIME})
        | {"description": "Punchh's token answer, its access token the session token." + hidden},
        "PasswordlessSignIn": obj({"data": obj({"access_token": _TOKEN, "expires_in": _LIFETIME})})
        | {"description": "Punchh's `data`, its access token the session token." + hidden},
        "MobileSignIn": obj(
            {"access_token": obj({"token": _TOKEN, "seconds_to_expire": _LIFETIME})}
        )
        | {"description": "Punchh's user and token object, `token` the session token." + hidden},
        "SessionRefresh": obj(
            {
                "data": obj(
                    {
                        "access_token": _TOKEN,
                        "token_type": {"const": "Bearer"},
                        "expires_in": {
                            "type": "integer",
                            "minimum": 0,
                            "description": "Seconds the session still lives.",
                        },
                    },
                    ["token_type", "expires_in"],
                    closed=True,
                )
            },
            ["data"],
            closed=True,
        ),
    }


def components(errors: Mapping[str, str]) -> Doc:
    either = {"anyOf": [ref("schemas", "GatewayError"), ref("schemas", "PunchhAnswer")]}
    return {
        "securitySchemes": _security_schemes(),
        "schemas": {
            **_error_schemas(errors),
            **_session_schemas(),
            "PunchhRequest": obj({})
            | {"description": "Punchh's request body; the gateway sets `client` itself."},
            "PunchhAnswer": {
                "type": ["object", "array"],
                "description": "Punchh's JSON answer, passed on without Punchh's tokens.",
            },
        },
        "responses": {
            "GatewayError": response("An error the gateway made.", ref("schemas", "GatewayError")),
            "GatewayOrPunchhError": response(
                "An error the gateway made, or Punchh's own answer passed on unchanged.", either
            ),
        },
        "headers": {
            "RequestId": {"schema": {"type": "string"}, "description": "The request's id."},
            "SessionCookie": {
                "schema": {"type": "string"},
                "description": "Cookie mode only: the session cookie (HttpOnly, Path=/).",
            },
        },
        "parameters": {
            **{
                name: {
                    "name": name,
                    "in": "header",
                    "required": False,
                    "schema": {"type": "string"},
                    "description": "Copied to Punchh as sent.",
                }
                for name in FORWARDED_FROM_CLIENT
            },
            "RequestId": {
                "name": "X-Request-ID",
                "in": "header",
                "required": False,
                "schema": {"type": "string", "pattern": "^[A-Za-z0-9._:-]{8,128}$"},
                "description": "Kept when sane, else replaced; sent on to Punchh.",
            },
            "IdempotencyKey": {
                "name": "Idempotency-Key",
                "in": "header",
                "required": False,
                "schema": {"type": "string", "pattern": "^[\\x21-\\x7e]{1,255}$"},
                "description": "A repeat of the request gets the first one's answer.",
            },
        },
    }
