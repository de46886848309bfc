"""The gateway's OpenAPI 3.1 document, built from its route table: served at
GET /gateway/openapi.json and committed as docs/openapi.json (`make docs`).

Reads the Punchh routes (gateway/routes.py; the POS ones are served only with
`pos.enabled`), the gateway's own routes (gateway/local.py), the admin pages and the error
codes with their descriptions (gateway/described.py ERRORS). Each operation says who may call
it (`security`: a gateway session, a POS device key, the admin token, or nothing) and what
the gateway does around the call; what the gateway defines is typed (its errors, a sign-in
answer's session token fields, its own routes' answers), Punchh's bodies stay loose.
Deterministic: the same inputs give the same text (sorted keys), so the committed copy is
compared with a fresh one by tests/packaging/test_docs.py.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from importlib import metadata
from typing import Protocol

from gateway.headers import FORWARDED_FROM_CLIENT
from gateway.openapi_own import ADMIN_ROUTES, own_operations
from gateway.openapi_schemas import ADMIN, POS_DEVICE, SESSION, Doc, components, ref, response
from gateway.routes import PUNCHH_ROUTES, Route

OPENAPI = "3.1.0"
_PARAM = re.compile(r"\{([a-z_]+)\}")

_ACCESS = {
    "none": "No session needed.",
    "guest": "Needs a gateway session; Punchh gets the session's own tokens.",
    "pos": "POS devices only, served when `pos.enabled`.",
}
_ACTION = {
    "forward": "",
    "login": (
        "A sign-in: the gateway keeps Punchh's tokens in a new session and answers with the "
        "gateway session token where Punchh put its own (cookie mode: in `Set-Cookie` only)."
    ),
    "refresh": (
        "Answered by the gateway: it refreshes the session's Punchh tokens with the refresh "
        "token it keeps and answers with the same session token (400 `not_refreshable`)."
    ),
    "logout": "Forwarded; the gateway session ends too, even when Punchh fails.",
}
# The sign-in answer of each family (gateway/translate.py, rewrite_login).
_SIGN_IN = {
    "auth": "AuthSignIn",
    "oauth": "OAuthSignIn",
    "password_less": "PasswordlessSignIn",
    "mobile": "MobileSignIn",
}


class Endpoint(Protocol):
    """A route of the gateway's own (gateway/local.py OWN_ROUTES)."""

    @property
    def method(self) -> str: ...
    @property
    def path(self) -> str: ...
    @property
    def access(self) -> str: ...


def package_version() -> str:
    """The installed project's version (pyproject.toml `project.version`)."""
    return metadata.version("loyalty-gateway")


def render(own: Iterable[Endpoint], errors: Mapping[str, str]) -> str:
    """The document of this gateway as JSON text: what is served and what is committed."""
    doc = openapi_document(PUNCHH_ROUTES, own, version=package_version(), errors=errors)
    return json.dumps(doc, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def openapi_document(
    routes: Iterable[Route],
    own: Iterable[Endpoint],
    *,
    version: str,
    errors: Mapping[str, str],
) -> Doc:
    """Every Punchh route, own route and admin page as an operation."""
    paths: dict[str, Doc] = {}
    for route in routes:
        paths.setdefault(route.path, {})[route.method.lower()] = punchh_operation(route)
    operations = own_operations()
    for endpoint in own:
        key = (endpoint.method, endpoint.path)
        if key not in operations:
            raise ValueError(f"{key}: describe it in gateway/openapi_own.py own_operations")
        paths.setdefault(endpoint.path, {})[endpoint.method.lower()] = _own(
            endpoint, operations[key]
        )
    for (method, path), op in ADMIN_ROUTES.items():
        paths.setdefault(path, {})[method.lower()] = _admin(method, path, op)
    return {
        "openapi": OPENAPI,
        "info": _info(version),
        "servers": [{"url": "/", "description": "The gateway's main port."}],
        "tags": [{"name": t, "description": d} for t, d in _TAGS.items()],
        "paths": paths,
        "components": components(errors),
    }


_TAGS = {
    "auth": "Punchh Online Ordering / SSO (`/api/auth`).",
    "oauth": "Punchh SSO code exchange.",
    "password_less": "Punchh Advanced Authentication (`/api2/password_less`).",
    "mobile": "Punchh Mobile (`/api2/mobile`).",
    "pos": "Punchh POS, for configured devices (`pos.enabled`).",
    "gateway": "The gateway's own routes.",
    "admin": "Admin pages: on the admin port, or on this one with `GATEWAY_ADMIN_TOKEN`.",
}


def _info(version: str) -> Doc:
    return {
        "title": "loyalty-gateway",
        "version": version,
        "license": {"name": "Apache-2.0", "identifier": "Apache-2.0"},
        "description": (
            "A reverse proxy in front of the Punchh loyalty API, on Punchh's own paths: only "
            "these operations are served (anything else is 404 `route_not_found`, and Punchh "
            "is not called). The gateway signs every call, keeps the guests' Punchh tokens "
            "and hands frontends a gateway session token instead. Its own errors are one "
            "JSON shape (`GatewayError`, codes in docs/operators/errors.md); Punchh's pass "
            "through unchanged."
        ),
    }


def operation_id(method: str, path: str) -> str:
    return method.lower() + "_" + re.sub(r"[^a-z0-9]+", "_", path.lower()).strip("_")


def _parameters(path: str, *extra: Doc) -> list[Doc]:
    found = [
        {"name": n, "in": "path", "required": True, "schema": {"type": "string"}}
        for n in _PARAM.findall(path)
    ]
    return [*found, ref("parameters", "RequestId"), *extra]


def punchh_operation(route: Route) -> Doc:
    """A Punchh route as the gateway serves it."""
    extra = [ref("parameters", name) for name in FORWARDED_FROM_CLIENT]
    if takes_idempotency_key(route):
        extra.append(ref("parameters", "IdempotencyKey"))
    if route.method in ("GET", "DELETE") and not route.abuse_class:
        extra.append(_QUERY)
    op: Doc = {
        "operationId": operation_id(route.method, route.path),
        "tags": [route.family],
        "summary": f"Punchh {route.name}",
        "description": _describe(route),
        "parameters": _parameters(route.path, *extra),
        "security": _security(route.access),
        "responses": _responses(route),
        "x-gateway-access": route.access,
    }
    if route.method != "GET":
        op["requestBody"] = {
            "required": False,
            "content": {"application/json": {"schema": ref("schemas", "PunchhRequest")}},
        }
    return op


_QUERY: Doc = {
    "name": "query",
    "in": "query",
    "required": False,
    "style": "form",
    "explode": True,
    "schema": {"type": "object", "additionalProperties": {"type": "string"}},
    "description": "Punchh's query parameters, passed on (`client` is the gateway's own).",
}


def takes_idempotency_key(route: Route) -> bool:
    """A guest or POS write forwarded to Punchh (middleware/idempotency.py binds to these)."""
    return route.access in ("guest", "pos") and route.action == "forward" and not route.read


def _describe(route: Route) -> str:
    said = [_ACCESS[route.access], _ACTION[route.action]]
    if route.cache_ttl:
        said.append(f"Cached per guest for {route.cache_ttl} s by default (`cache.ttls`).")
    if route.dedupe:
        said.append("Punchh applies it once per `external_uid`.")
    if route.abuse_class:
        said.append(
            f"Abuse budgets ({route.abuse_class}) keyed by the body: no query parameters "
            "(400 `query_not_allowed`)."
        )
    return " ".join(s for s in said if s)


def _security(access: str) -> list[Doc]:
    """`[]` for a route anyone may call: it declares that none is needed."""
    needs = {"guest": SESSION, "pos": POS_DEVICE, "admin": ADMIN}.get(access, [])
    return [dict(requirement) for requirement in needs]


def _responses(route: Route) -> Doc:
    if route.action == "refresh":  # answered by the gateway: no Punchh answer reaches back
        ok = response("The session's tokens are refreshed.", ref("schemas", "SessionRefresh"))
        failed = ref("responses", "GatewayError")
        return {"200": ok, "4XX": failed, "5XX": failed}
    if route.action == "login":
        ok = response(
            "Signed in: Punchh's answer, the gateway session token in place of Punchh's.",
            ref("schemas", _SIGN_IN[route.family]),
        )
        ok["headers"]["Set-Cookie"] = ref("headers", "SessionCookie")
    else:
        ok = response("Punchh's answer, passed on.", ref("schemas", "PunchhAnswer"))
    failed = ref("responses", "GatewayOrPunchhError")
    return {"2XX": ok, "4XX": failed, "5XX": failed}


def _own(endpoint: Endpoint, op: Doc) -> Doc:
    return {
        "operationId": operation_id(endpoint.method, endpoint.path),
        "tags": ["gateway"],
        "parameters": _parameters(endpoint.path),
        "security": _security(endpoint.access),
        "x-gateway-access": endpoint.access,
        **op,
    }


def _admin(method: str, path: str, op: Doc) -> Doc:
    return {
        "operationId": operation_id(method, path),
        "tags": ["admin"],
        "parameters": _parameters(path),
        "security": _security("admin"),
        "x-gateway-access": "admin",
        **op,
    }
