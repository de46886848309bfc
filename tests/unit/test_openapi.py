"""The OpenAPI document (gateway/openapi.py): a valid OpenAPI 3.1 document with every route
the gateway serves and no other, who may call each, the error shape with every code the
code can answer with, and the session token fields where the gateway puts them."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path
from typing import Any

import pytest
from openapi_schema_validator import OAS31Validator
from openapi_schema_validator import validate as validate_instance
from openapi_spec_validator import validate

from gateway import described, docgen, openapi
from gateway.app import make_app
from gateway.config import load_config
from gateway.keys import LIVE
from gateway.local import OWN_ROUTES, OwnRoute
from gateway.openapi_own import ADMIN_ROUTES
from gateway.routes import PUNCHH_ROUTES, Route
from gateway.translate import rewrite_login
from middleware.errors import error_response
from tests.conftest import ADMIN_TOKEN, gateway_env
from tests.e2e.test_pos import POS_TOML

ROOT = Path(__file__).resolve().parents[2]
METHODS = {"get", "put", "post", "delete", "patch", "head", "options", "trace"}
Doc = dict[str, Any]


@pytest.fixture(scope="module")
def doc() -> Doc:
    loaded: Doc = json.loads(openapi.render(OWN_ROUTES, described.ERRORS))
    return loaded


def _operations(doc: Doc) -> dict[tuple[str, str], Doc]:
    return {
        (method.upper(), path): op
        for path, item in doc["paths"].items()
        for method, op in item.items()
        if method in METHODS
    }


def _deref(doc: Doc, node: Doc) -> Doc:
    while "$ref" in node:
        kind, name = node["$ref"].removeprefix("#/components/").split("/")
        node = doc["components"][kind][name]
    return node


def test_it_is_a_valid_openapi_3_1_document(doc: Doc) -> None:
    validate(doc)
    assert doc["openapi"].startswith("3.1.")
    assert doc["servers"] == [{"url": "/", "description": "The gateway's main port."}]
    with (ROOT / "pyproject.toml").open("rb") as fh:
        assert doc["info"]["version"] == tomllib.load(fh)["project"]["version"]


def test_the_text_is_the_same_every_time() -> None:
    first = openapi.render(OWN_ROUTES, described.ERRORS)
    assert first == openapi.render(OWN_ROUTES, dict(reversed(list(described.ERRORS.items()))))
    again = json.dumps(json.loads(first), indent=2, sort_keys=True, ensure_ascii=False)
    assert first == again + "\n"  # sorted keys: a stable order


def test_every_route_of_the_table_and_of_the_gateway_is_there(doc: Doc) -> None:
    ops = _operations(doc)
    expected = {(r.method, r.path) for r in PUNCHH_ROUTES}
    expected |= {(r.method, r.path) for r in OWN_ROUTES} | set(ADMIN_ROUTES)
    assert set(ops) == expected
    assert len({op["operationId"] for op in ops.values()}) == len(ops)


def test_the_document_is_what_a_gateway_serves(tmp_path: Path) -> None:
    """Both ways, against aiohttp's router of a gateway with POS on and the admin pages on
    the main port: nothing served is missing, nothing listed is not served."""
    config = tmp_path / "gateway.toml"
    config.write_text(POS_TOML)
    env = gateway_env(
        "http://127.0.0.1:9", PUNCHH_BUSINESS_KEY="BIZ-KEY", GATEWAY_ADMIN_TOKEN=ADMIN_TOKEN
    )
    app = make_app(load_config(str(config), env))
    served = {
        (route.method, route.resource.canonical)
        for route in app.router.routes()
        if route.resource is not None and route.method not in ("*", "HEAD")
    }
    documented = set(_operations(json.loads(openapi.render(OWN_ROUTES, described.ERRORS))))
    assert served == documented


def test_who_may_call_each_operation(doc: Doc) -> None:
    ops = _operations(doc)
    session: list[Doc] = [{"gatewaySession": []}, {"gatewaySessionCookie": []}]
    routes: list[Route | OwnRoute] = [*PUNCHH_ROUTES, *OWN_ROUTES]
    for route in routes:
        op = ops[(route.method, route.path)]
        assert op["x-gateway-access"] == route.access, route
        if route.access == "guest":
            assert op["security"] == session, route
        elif route.access == "pos":
            assert op["security"] == [{"posDeviceKey": []}], route
        else:
            assert route.access == "none"
            assert op["security"] == [], route  # declares that nothing is needed
    for key in ADMIN_ROUTES:
        assert ops[key]["security"] == [{"adminToken": []}]
    schemes = doc["components"]["securitySchemes"]
    assert schemes["gatewaySession"]["scheme"] == "bearer"
    assert schemes["gatewaySessionCookie"] == schemes["gatewaySessionCookie"] | {
        "in": "cookie",
        "name": "lg_session",  # session.cookie_name's default
    }
    assert schemes["posDeviceKey"]["name"] == "Authorization"
    assert "Token token=<device key>" in schemes["posDeviceKey"]["description"]


def test_the_error_codes_are_every_code_the_code_answers_with(doc: Doc) -> None:
    code = doc["components"]["schemas"]["ErrorCode"]
    assert set(code["enum"]) == set(docgen.error_codes()) == set(described.ERRORS)
    assert code["x-enum-descriptions"] == [described.ERRORS[c] for c in code["enum"]]
    body = doc["components"]["schemas"]["GatewayErrorBody"]
    assert body["required"] == ["code", "message", "request_id", "outcome"]
    assert set(body["properties"]) == {"code", "message", "request_id", "outcome", "trace_id"}
    assert doc["components"]["schemas"]["Outcome"]["enum"] == ["not_applied", "unknown", "applied"]
    for op in _operations(doc).values():  # every operation can answer a gateway error
        assert {"4XX", "5XX"} <= set(op["responses"])


def test_an_error_the_gateway_renders_fits_its_schema(doc: Doc) -> None:
    resp = error_response(504, "upstream_timeout", "late", "rid-0000001", outcome="unknown")
    assert isinstance(resp.body, bytes)
    schema = {"$ref": "#/components/schemas/GatewayError", "components": doc["components"]}
    validate_instance(json.loads(resp.body), schema, cls=OAS31Validator)
    traced = error_response(502, "upstream_unavailable", "x", "rid-0000001", trace_id="a" * 32)
    assert isinstance(traced.body, bytes)
    validate_instance(json.loads(traced.body), schema, cls=OAS31Validator)
    bare = {"error": {"code": "upstream_timeout", "message": "late", "request_id": "r"}}
    with pytest.raises(Exception, match="'outcome' is a required property"):  # jsonschema's
        validate_instance(bare, schema, cls=OAS31Validator)


def test_idempotency_key_is_offered_where_the_stage_is_bound(tmp_path: Path) -> None:
    config = tmp_path / "gateway.toml"
    config.write_text(POS_TOML)
    app = make_app(
        load_config(str(config), gateway_env("http://127.0.0.1:9", PUNCHH_BUSINESS_KEY="K"))
    )
    plans = app[LIVE].now.first.plans
    ops = _operations(json.loads(openapi.render(OWN_ROUTES, described.ERRORS)))
    key = {"$ref": "#/components/parameters/IdempotencyKey"}
    for route in PUNCHH_ROUTES:
        bound = "idempotency" in plans[route.name].stages
        assert (key in ops[(route.method, route.path)]["parameters"]) == bound, route.name


# A Punchh sign-in answer of each family, as Punchh words it (docs/punchh.md; the sandbox's).
SIGN_INS: dict[str, Doc] = {
    "auth": {"id": 7, "email": "a@b.c", "access_token": "P-A", "authentication_token": "P-T"},
    "oauth": {"access_token": "P-A", "token_type": "Bearer", "expires_in": 7200, "scope": ""},
    "password_less": {
        "data": {
            "access_token": "P-A",
            "id_token": "P-I",
            "refresh_token": "P-R",
            "token_type": "Bearer",
            "expires_in": 7200,
            "user_id": 7,
        }
    },
    "mobile": {
        "user": {"id": 7},
        "access_token": {"token": "P-A", "refresh_token": "P-R", "seconds_to_expire": 7200},
    },
}


def _marked(doc: Doc, schema: Doc, mark: str, at: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """The paths of the properties whose schema is `#/components/schemas/<mark>`."""
    if schema.get("$ref", "").endswith("/" + mark):
        return [at]
    found: list[tuple[str, ...]] = []
    for name, sub in _deref(doc, schema).get("properties", {}).items():
        found += _marked(doc, sub, mark, (*at, name))
    return found


def _at(value: Any, path: tuple[str, ...]) -> Any:
    for name in path:
        value = value[name]
    return value


SIGN_IN_ROUTES = [r for r in PUNCHH_ROUTES if r.action == "login"]


@pytest.mark.parametrize("route", SIGN_IN_ROUTES, ids=[r.name for r in SIGN_IN_ROUTES])
def test_a_sign_in_answer_has_the_session_token_where_the_document_says(
    doc: Doc, route: Route
) -> None:
    """What gateway/translate.py makes of Punchh's answer: every field the schema marks as
    the session token holds it, every lifetime the session's, and no Punchh token is left."""
    ok = _operations(doc)[(route.method, route.path)]["responses"]["2XX"]
    schema = ok["content"]["application/json"]["schema"]
    answer = rewrite_login(json.loads(json.dumps(SIGN_INS[route.family])), "GW-TOKEN", 86400)
    tokens = _marked(doc, schema, "SessionToken")
    assert tokens
    for path in tokens:
        assert _at(answer, path) == "GW-TOKEN", path
    for path in _marked(doc, schema, "SessionLifetime"):
        assert _at(answer, path) == 86400, path
    assert "P-" not in json.dumps(answer)
    assert "Set-Cookie" in ok["headers"]  # cookie mode: the token travels there instead
