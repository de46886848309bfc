"""GET /gateway/openapi.json: the document docs/openapi.json holds, served by a running
gateway to anyone, built once per process."""

from __future__ import annotations

import json
from typing import Any

import aiohttp
from openapi_schema_validator import OAS31Validator, validate

from gateway import docgen, local
from tests.conftest import Client, gateway_env
from tests.support.process import gateway_process
from tests.support.recorder import Recorder


async def test_a_gateway_process_serves_the_generated_document(recorder: Recorder) -> None:
    async with (
        gateway_process(gateway_env(recorder.url)) as gp,
        aiohttp.ClientSession(gp.url) as http,
        http.get("/gateway/openapi.json") as resp,
    ):
        assert resp.status == 200
        assert resp.content_type == "application/json"
        assert resp.headers["X-Request-ID"]
        assert await resp.text() == docgen.render_openapi()
    assert not recorder.seen  # answered by the gateway: Punchh is not asked


async def test_no_session_needed_and_built_once(gw: Client, recorder: Recorder) -> None:
    """No token, a token that is no session, a browser's headers: the same document."""
    local._openapi_json.cache_clear()
    bodies = []
    for headers in ({}, {"Authorization": "Bearer not-a-session"}, {"Origin": "https://x.test"}):
        resp = await gw.get("/gateway/openapi.json", headers=headers)
        assert resp.status == 200, await resp.text()
        bodies.append(await resp.read())
    assert bodies == [bodies[0]] * 3
    assert json.loads(bodies[0])["paths"]["/gateway/openapi.json"]["get"]["security"] == []
    assert local._openapi_json.cache_info().misses == 1  # once per process, not per request
    assert not recorder.seen


async def test_a_client_with_the_document_gets_304(gw: Client) -> None:
    first = await gw.get("/gateway/openapi.json")
    etag = first.headers["ETag"]
    assert first.headers["Cache-Control"] == "public, max-age=3600"
    again = await gw.get("/gateway/openapi.json", headers={"If-None-Match": etag})
    assert again.status == 304
    assert await again.read() == b""
    assert again.headers["ETag"] == etag
    other = await gw.get("/gateway/openapi.json", headers={"If-None-Match": '"another"'})
    assert other.status == 200


async def test_the_gateways_own_answers_fit_their_schemas(gw: Client) -> None:
    """/healthz, /readyz and a logout without a session, as the document describes them."""
    doc = json.loads(docgen.render_openapi())
    with_components = {"components": doc["components"]}
    for method, path, status in (
        ("GET", "/healthz", "200"),
        ("GET", "/readyz", "200"),
        ("POST", "/gateway/logout", "4XX"),
    ):
        resp = await gw.request(method, path)
        assert str(resp.status)[0] == status[0], path
        documented = doc["paths"][path][method.lower()]["responses"][status]
        schema = _resolve(doc, documented)["content"]["application/json"]["schema"]
        validate(await resp.json(), schema | with_components, cls=OAS31Validator)


def _resolve(doc: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        kind, name = node["$ref"].removeprefix("#/components/").split("/")
        node = doc["components"][kind][name]
    return node
