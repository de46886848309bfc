"""Account history: the guest's loyalty events, newest first, from the ledger, the rewards
and the redemptions. User auth as the balance (Bearer or ``authentication_token``), else 401.

GET /api/auth/accounts                  200 [event] (Online Ordering "Get Account History")
GET /api2/mobile/users/account_history  200 [event] (Mobile "User Account History");
                                        ``event_filter`` (query or body): checkins, reward,
                                        rewardcredit or redemption keeps that kind only;
                                        absent, empty or unknown: every kind

Events: a check-in ("Checkin", "+N points"), points converted into a reward ("RewardCredit",
"+$10.00", sub_value "(100 pts)"), a gifted reward ("Reward", "+Item"), a redemption
("Redemption"). The field names are each family's (PAR's OpenAPI, operationIds
``sso_account_history`` and ``mobile_user_account_history``). Sandbox choices: a voided
check-in stays, ``disapproved: true``; the running totals (``points``, ``visits``,
``total_points``, ...) are not emulated.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from aiohttp import web

from sandbox.auth import current_user
from sandbox.context import ctx, json_response, param
from sandbox.ledger import reward_status
from sandbox.state import Checkin, Redemption, Reward, SandboxState, User
from sandbox.views import JsonObj, iso

routes = web.RouteTableDef()

# The ledger's channel -> the label Punchh's history uses (Mobile API, `channel`).
CHANNELS = {
    "online_order": "OnlineOrder",
    "pos": "POS",
    "web": "Web",
    "mobile": "Mobile",
    "dashboard": "Dashboard",
}
# Ties on time, newest first: what a check-in caused (a conversion) before the check-in,
# as in PAR's example (a RewardCredit and its Checkin at the same second).
RANK = {"Checkin": 0, "RewardCredit": 1, "Reward": 1, "Redemption": 2}
FILTERS = {
    "checkins": "Checkin",
    "reward": "Reward",
    "rewardcredit": "RewardCredit",
    "redemption": "Redemption",
}


@dataclass(frozen=True)
class Event:
    at: float
    id: int
    kind: str  # Checkin | RewardCredit | Reward | Redemption
    title: str
    value: str
    description: str
    channel: str | None = None
    store_number: str | None = None
    external_uid: str | None = None
    sub_value: str | None = None
    total_spend: str | None = None
    disapproved: bool = False
    expired: bool = False
    expiry: float | None = None
    details: JsonObj | None = None


def _checkin(c: Checkin) -> Event:
    where = f" at store {c.store_number}" if c.store_number else ""
    return Event(
        at=c.created_at,
        id=c.id,
        kind="Checkin",
        title="Points Earned",
        value=f"+{c.points} points",
        description=f"{c.points} points earned for your ${c.receipt_amount:.2f} purchase{where}",
        channel=CHANNELS.get(c.channel, c.channel),
        store_number=c.store_number or "",
        external_uid=c.external_uid,
        total_spend=f"{c.receipt_amount:.2f}",
        disapproved=c.voided_at is not None,
    )


def _reward(r: Reward, now: float) -> Event:
    expired = reward_status(r, now) == "expired"
    if r.points:  # converted from points
        return Event(
            r.created_at,
            r.id,
            "RewardCredit",
            "Rewards Earned",
            f"+${r.discount_amount:.2f}",
            f"{r.points} points converted into ${r.discount_amount:.2f} of banked rewards",
            sub_value=f"({r.points} pts)",
            expired=expired,
            expiry=r.expires_at,
        )
    return Event(
        r.created_at,
        r.id,
        "Reward",
        "Item Gifted",
        "+Item",
        f"You were gifted: {r.name} ({r.campaign_name})",
        expired=expired,
        expiry=r.expires_at,
    )


def _redemption(r: Redemption) -> Event:
    item = r.discount_type in ("reward", "redeemable")
    return Event(
        r.created_at,
        r.id,
        "Redemption",
        "Item Redeemed" if item else "Amount Redeemed",
        "(Item)" if item else f"(${r.amount:.2f})",
        f"{r.campaign_name} redeemed using redemption code {r.code}",
        external_uid=r.external_uid,
        details={
            "redemption_id": r.id,
            "redemption_tracking_code": r.code,
            "redemption_status": "cancelled" if r.voided_at is not None else "honored",
            "redeemed_value": r.amount,
            "created_at": iso(r.created_at),
        },
    )


def history(state: SandboxState, user: User, now: float, kind: str | None = None) -> list[Event]:
    """The guest's events, newest first; only `kind` when given."""
    found = [_checkin(c) for c in state.checkins.values() if c.user_id == user.id]
    found += [_reward(r, now) for r in state.rewards.values() if r.user_id == user.id]
    found += [_redemption(r) for r in state.redemptions.values() if r.user_id == user.id]
    if kind is not None:
        found = [e for e in found if e.kind == kind]
    return sorted(found, key=lambda e: (e.at, RANK[e.kind], e.id), reverse=True)


def _common(e: Event) -> JsonObj:
    return {
        "date": iso(e.at),
        "event_value": e.value,
        "description": e.description,
        "sub_value": e.sub_value,
        "channel": e.channel,
        "store_number": e.store_number,
        "pending_refresh": False,
        "expired": e.expired,
        "disapproved": e.disapproved,
        "event_details": e.details,
        "event_expiry": iso(e.expiry),
    }


def online_ordering_json(e: Event) -> JsonObj:
    return {"title": e.title, "event_name": e.kind, "external_uid": e.external_uid, **_common(e)}


def mobile_json(e: Event) -> JsonObj:
    answer = {"event_title": e.title, "event_type": e.kind, **_common(e)}
    if e.total_spend is not None:
        answer["total_spend"] = e.total_spend
    return answer


def _kind(value: Any) -> str | None:
    return FILTERS.get(value.strip().lower()) if isinstance(value, str) else None


@routes.get("/api/auth/accounts")
async def account_history(request: web.Request) -> web.Response:
    c = ctx(request)
    user, _ = current_user(request, c)
    return json_response([online_ordering_json(e) for e in history(c.state, user, c.now)])


@routes.get("/api2/mobile/users/account_history")
async def mobile_account_history(request: web.Request) -> web.Response:
    c = ctx(request)
    user, _ = current_user(request, c)
    kind = _kind(param(request, c.body, "event_filter"))
    return json_response([mobile_json(e) for e in history(c.state, user, c.now, kind)])
