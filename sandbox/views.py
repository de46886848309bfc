"""JSON shapes of the sandbox's answers (pure functions of state objects).

user (seed 001)         every field of seed 001's example answer (id, user_id, email, names,
                        phone, birthday, ..., referral_code, user_as_qrcode, created_at,
                        updated_at, user_joined_at, and the account flags) plus
                        signup_channel (+ authentication_token, access_token after sign-up
                        / sign-in); features the sandbox lacks answer their empty value
balance                 user_id, points_balance, lifetime_points, visits,
                        points_to_next_reward, banked_rewards, discount_amount_available,
                        unredeemed_cards, rewards[], redeemables[]
checkin (seed 002)      checkin_id, external_uid, points_earned, pending_points,
                        pending_refresh, bar_code, store_number, created_at
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sandbox.config import Redeemable, SandboxConfig
from sandbox.ledger import available_rewards, reward_status
from sandbox.points import dollars_for_points
from sandbox.state import Checkin, Grant, Reward, SandboxState, User
from sandbox.tokens import expired

JsonObj = dict[str, Any]


def iso(ts: float | None) -> str | None:
    """Punchh's timestamp format, ``YYYY-MM-DDThh:mm:ssZ`` in UTC."""
    if ts is None:
        return None
    return datetime.fromtimestamp(ts, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# The rest of seed 001's example user: features the sandbox does not emulate (Facebook,
# favourite locations, passcodes, relations, membership expiry...), at their empty value.
_ACCOUNT_DEFAULTS: JsonObj = {
    "allow_multiple": True,
    "allow_push_notifications": True,
    "avatar_remote_url": None,
    "email_unsubscribe": False,
    "expiration_date": None,
    "facebook_signup": False,
    "favourite_locations": "",
    "favourite_store_numbers": "",
    "fb_uid": "",
    "migrate_status": False,
    "mindbody_client_id": None,
    "passcode_configured": False,
    "preferred_locale": "en",
    "referral_path": "",
    "title": "",
    "wants_menu_notifications": False,
    "work_zip_code": None,
}


def user_json(user: User) -> JsonObj:
    p = user.profile
    return {
        "id": user.id,
        "user_id": user.id,
        "email": user.email,
        "first_name": user.first_name,
        "last_name": user.last_name,
        "phone": user.phone or "",
        "birthday": p.get("birthday"),
        "anniversary": p.get("anniversary"),
        "gender": p.get("gender", ""),
        "address_line1": p.get("address_line1", ""),
        "city": p.get("city", ""),
        "state": p.get("state", ""),
        "zip_code": p.get("zip_code", ""),
        "secondary_email": p.get("secondary_email", ""),
        "terms_and_conditions": bool(p.get("terms_and_conditions", False)),
        "marketing_email_subscription": bool(p.get("marketing_email_subscription", False)),
        "marketing_pn_subscription": bool(p.get("marketing_pn_subscription", False)),
        "signup_channel": p.get("signup_channel", "OnlineOrder"),
        "profile_field_answers": {},
        "user_relations": [],
        "email_verified": False,
        "referral_code": user.referral_code,
        "user_as_qrcode": user.user_as_qrcode,
        "user_as_barcode": user.user_as_barcode,
        "user_code": f"P{user.id}",
        "created_at": iso(user.created_at),
        "updated_at": iso(user.updated_at),
        "user_joined_at": iso(user.created_at),
        "age_verified_status": bool(p.get("age_verified_status", False)),
        "communicable_email": user.email,
        **_ACCOUNT_DEFAULTS,
    }


def user_with_tokens(user: User, grant: Grant) -> JsonObj:
    """The sign-up / sign-in answer: the user object with its two tokens, at top level."""
    return {
        **user_json(user),
        "authentication_token": grant.authentication_token,
        "access_token": grant.access_token,
    }


def mobile_token_json(grant: Grant, now: float) -> JsonObj:
    ttl = grant.access_ttl
    left = 0 if expired(grant.issued_at, ttl, now) else int(grant.issued_at + ttl - now)
    return {
        "token": grant.access_token,
        "refresh_token": grant.refresh_token,
        "seconds_to_expire": left,
        "revoked_at": iso(grant.revoked_at),
        "scopes": ["mobileapp"],
    }


def reward_json(reward: Reward, now: float) -> JsonObj:
    return {
        "id": reward.id,
        "name": reward.name,
        "discount_amount": reward.discount_amount,
        "points": reward.points,
        "campaign_name": reward.campaign_name,
        "status": reward_status(reward, now),
        "created_at": iso(reward.created_at),
        "expiring_at": iso(reward.expires_at),
    }


def redeemable_json(item: Redeemable) -> JsonObj:
    return {
        "id": item.id,
        "name": item.name,
        "points": item.points,
        "discount_amount": item.discount_amount,
    }


def balance_json(state: SandboxState, cfg: SandboxConfig, user: User, now: float) -> JsonObj:
    rewards = available_rewards(state, user, now)
    to_next = None
    if cfg.points_per_reward:
        to_next = cfg.points_per_reward - user.points
    return {
        "user_id": user.id,
        "points_balance": user.points,
        "lifetime_points": user.lifetime_points,
        "visits": user.visits,
        "points_to_next_reward": to_next,
        "banked_rewards": f"{sum(r.discount_amount for r in rewards):.2f}",
        "discount_amount_available": dollars_for_points(
            user.points, cfg.points_per_discount_dollar
        ),
        "unredeemed_cards": 0,
        "rewards": [reward_json(r, now) for r in rewards],
        "redeemables": [redeemable_json(r) for r in cfg.redeemables],
    }


def checkin_json(checkin: Checkin) -> JsonObj:
    return {
        "checkin_id": checkin.id,
        "external_uid": checkin.external_uid,
        "points_earned": checkin.points,
        "pending_points": 0,
        "pending_refresh": False,
        "bar_code": checkin.bar_code,
        "store_number": checkin.store_number,
        "created_at": iso(checkin.created_at),
    }


def checkin_answer(user: User, checkin: Checkin) -> JsonObj:
    """Seed 002's answer; ``checkins`` and ``points`` are for this order, as documented."""
    return {
        "first_name": user.first_name,
        "last_name": user.last_name,
        "checkins": 1,
        "points": checkin.points,
        "checkin": checkin_json(checkin),
    }


def ledger_json(checkin: Checkin) -> JsonObj:
    return {
        "checkin_id": checkin.id,
        "user_id": checkin.user_id,
        "external_uid": checkin.external_uid,
        "points": checkin.points,
        "receipt_amount": checkin.receipt_amount,
        "channel": checkin.channel,
        "store_number": checkin.store_number,
        "created_at": iso(checkin.created_at),
        "voided": checkin.voided_at is not None,
        "voided_at": iso(checkin.voided_at),
    }
