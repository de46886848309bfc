"""The ``echo`` fault: the request applied, the guest's tokens echoed in odd shapes."""

from __future__ import annotations

import pytest

from sandbox.faults import parse_rule
from tests.sandbox.conftest import Punchh

SIGN_UP = "/api/auth/customers.json"
NAMES = {"first_name": "Eve", "last_name": "Echo"}


async def test_echo_json_applies_and_echoes_the_new_tokens(punchh: Punchh) -> None:
    rule = {"method": "POST", "path": SIGN_UP, "echo": "json", "status": 422, "times": 1}
    assert (await punchh.sandbox("POST", "faults", rule)).status == 201
    reply = await punchh.call(
        "POST", SIGN_UP, {"user": {"email": "e@example.com", "password": "password123", **NAMES}}
    )
    assert reply.status == 422
    access, auth = reply.body["access_token"], reply.body["authentication_token"]
    assert [e["user"]["profile"] for e in reply.body["echo"]] == [
        {"access_token": access},
        {"authentication_token": auth},
    ]
    first = reply.body["echo"][0]
    assert first["bearer"] == f"Bearer {access}"
    assert first["deep"] == [[[[[access]]]]]
    assert first["keyed"] == {access: "access_token"}
    assert f"token={access}&" in first["link"]
    again = await punchh.call("GET", "/api/auth/users", token=access)
    assert again.status == 200  # applied: the sign-up happened
    assert "echo" not in again.body  # times: 1


def test_echo_must_be_json_or_text() -> None:
    assert parse_rule({"echo": "text"}, 1).echo == "text"
    with pytest.raises(ValueError, match="echo='xml'"):
        parse_rule({"echo": "xml"}, 1)
