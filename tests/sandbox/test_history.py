"""Account history (issue 16, seed 000 step 4): the guest's check-ins, rewards and
redemptions, in each family's shape (PAR OpenAPI: sso_account_history,
mobile_user_account_history)."""

from __future__ import annotations

from typing import Any

from tests.sandbox.conftest import STORE, ManualClock, Punchh

OO_HISTORY = "/api/auth/accounts"
MOBILE_HISTORY = "/api2/mobile/users/account_history"
PHONE = "5550108888"


async def _history(punchh: Punchh, token: str, path: str = OO_HISTORY, **query: str) -> Any:
    reply = await punchh.call("GET", path, token=token, query=query or None)
    assert reply.status == 200, reply.body
    return reply.body


async def test_checkins_show_newest_first_with_their_points(
    punchh: Punchh, clock: ManualClock
) -> None:
    token = (await punchh.sign_up("hist@example.com"))["access_token"]
    assert await _history(punchh, token) == []
    await punchh.checkin(token, "first", 12.86)
    clock.advance(60)
    await punchh.checkin(token, "second", 30)
    events = await _history(punchh, token)
    assert [(e["event_name"], e["event_value"], e["external_uid"]) for e in events] == [
        ("Checkin", "+30 points", "second"),
        ("Checkin", "+12 points", "first"),
    ]
    oldest = events[1]
    assert oldest["title"] == "Points Earned"
    assert oldest["description"] == "12 points earned for your $12.86 purchase"
    assert (oldest["channel"], oldest["disapproved"]) == ("OnlineOrder", False)
    assert oldest["date"] == "2023-11-14T22:13:20Z"  # the sandbox clock at check-in


async def test_conversions_redemptions_and_voids(punchh: Punchh, clock: ManualClock) -> None:
    token = (await punchh.sign_up("more@example.com"))["access_token"]
    await punchh.checkin(token, "big", 105)  # 105 points: one $10 reward, 5 left
    clock.advance(60)
    reward_id = (await punchh.balance(token))["rewards"][0]["id"]
    redeem = {
        "discount_type": "reward",
        "reward_id": reward_id,
        "receipt_amount": 20,
        "receipt_datetime": "2025-01-02T12:00:00Z",
        "external_uid": "pay-1",
    }
    done = await punchh.call("POST", "/api/auth/redemptions/online_order", redeem, token=token)
    assert done.status == 200, done.body
    clock.advance(60)
    await punchh.checkin(token, "oops", 20)
    voided = await punchh.call(
        "DELETE", "/api/auth/checkins", {"external_uid": "oops"}, token=token
    )
    assert voided.status == 202
    events = await _history(punchh, token)
    assert [(e["event_name"], e["event_value"], e["disapproved"]) for e in events] == [
        ("Checkin", "+20 points", True),  # voided: kept, disapproved
        ("Redemption", "(Item)", False),
        ("RewardCredit", "+$10.00", False),
        ("Checkin", "+105 points", False),
    ]
    credit, redemption = events[2], events[1]
    assert credit["sub_value"] == "(100 pts)"
    assert redemption["event_details"]["redemption_id"] == done.body["redemption_id"]


async def test_mobile_shape_and_event_filter(punchh: Punchh) -> None:
    token = (await punchh.sign_up("mob-hist@example.com"))["access_token"]
    await punchh.checkin(token, "m-1", 110)
    events = await _history(punchh, token, MOBILE_HISTORY)
    # Same second: the conversion the check-in caused comes first (newest first).
    assert [(e["event_type"], e["event_title"]) for e in events] == [
        ("RewardCredit", "Rewards Earned"),
        ("Checkin", "Points Earned"),
    ]
    checkin = events[1]
    assert (checkin["event_value"], checkin["total_spend"]) == ("+110 points", "110.00")
    assert not {"title", "event_name"} & set(checkin)
    only = await _history(punchh, token, MOBILE_HISTORY, event_filter="checkins")
    assert [e["event_type"] for e in only] == ["Checkin"]
    credits = await _history(punchh, token, MOBILE_HISTORY, event_filter="rewardcredit")
    assert [e["event_type"] for e in credits] == ["RewardCredit"]
    assert len(await _history(punchh, token, MOBILE_HISTORY, event_filter="")) == 2


async def test_history_is_the_callers_own_and_needs_a_token(punchh: Punchh) -> None:
    ada = (await punchh.sign_up("ada-h@example.com"))["access_token"]
    bob = (await punchh.sign_up("bob-h@example.com", first_name="Bob"))["access_token"]
    await punchh.checkin(ada, "ada-1", 40)
    assert await _history(punchh, bob) == []
    assert await _history(punchh, bob, MOBILE_HISTORY) == []
    for path in (OO_HISTORY, MOBILE_HISTORY):
        assert (await punchh.call("GET", path)).status == 401


async def test_merged_dummy_account_keeps_its_pos_visits(punchh: Punchh) -> None:
    dummy = await punchh.call("POST", "/api/pos/users", {"user": {"phone": PHONE}})
    assert dummy.status == 201
    visit = {
        "phone": PHONE,
        "external_uid": "till-1",
        "receipt_amount": 25,
        "subtotal_amount": 25,
        "receipt_datetime": "2025-01-02T12:00:00Z",
        "transaction_no": "till-1",
    }
    assert (await punchh.call("POST", "/api/pos/checkins", visit)).status == 200
    full = await punchh.sign_up("merged-h@example.com", phone=PHONE)
    assert full["id"] == dummy.body["id"]
    events = await _history(punchh, full["access_token"])
    assert [(e["event_value"], e["channel"], e["store_number"]) for e in events] == [
        ("+25 points", "POS", STORE)
    ]
