"""Applies the rules of ``sandbox.points`` to the state: credits, rewards, check-ins, voids.

Check-ins are deduplicated per guest by ``external_uid`` (seed 002): the same uid again
returns the first check-in unchanged; a voided uid cannot earn again (422). Voiding an
unknown uid answers 404.
"""

from __future__ import annotations

import secrets

from sandbox.config import SandboxConfig
from sandbox.errors import NotFound, Unprocessable
from sandbox.points import convert, points_for_receipt, reward_name
from sandbox.state import Checkin, Reward, SandboxState, User

LOYALTY_CAMPAIGN = "Loyalty Reward"


def issue_reward(
    state: SandboxState,
    user: User,
    now: float,
    *,
    amount: float,
    points: int,
    name: str | None = None,
    campaign: str = LOYALTY_CAMPAIGN,
    expires_at: float | None = None,
) -> Reward:
    reward = Reward(
        id=state.next_id("reward"),
        user_id=user.id,
        name=name or reward_name(amount),
        discount_amount=round(amount, 2),
        points=points,
        campaign_name=campaign,
        created_at=now,
        expires_at=expires_at,
    )
    state.rewards[reward.id] = reward
    return reward


def credit(
    state: SandboxState, cfg: SandboxConfig, user: User, points: int, now: float
) -> list[Reward]:
    """Add earned points, then convert whole ``points_per_reward`` blocks into rewards."""
    user.points += points
    user.lifetime_points += max(points, 0)
    count, user.points = convert(user.points, cfg.points_per_reward)
    return [
        issue_reward(state, user, now, amount=cfg.reward_amount, points=cfg.points_per_reward)
        for _ in range(count)
    ]


def record_checkin(
    state: SandboxState,
    cfg: SandboxConfig,
    user: User,
    now: float,
    *,
    external_uid: str,
    receipt_amount: float,
    receipt_datetime: str,
    channel: str,
    store_number: str | None,
) -> Checkin:
    """Apply a check-in once per (guest, external_uid); a repeat returns the first one."""
    existing_id = state.checkin_index.get((user.id, external_uid))
    if existing_id is not None:
        existing = state.checkins[existing_id]
        if existing.voided_at is not None:
            raise Unprocessable.one("external_uid", "belongs to a voided check-in")
        return existing
    checkin = Checkin(
        id=state.next_id("checkin"),
        user_id=user.id,
        external_uid=external_uid,
        points=points_for_receipt(receipt_amount, cfg.points_per_dollar),
        receipt_amount=receipt_amount,
        receipt_datetime=receipt_datetime,
        channel=channel,
        store_number=store_number,
        bar_code="".join(str(secrets.randbelow(10)) for _ in range(13)),
        created_at=now,
    )
    state.checkins[checkin.id] = checkin
    state.checkin_index[(user.id, external_uid)] = checkin.id
    user.visits += 1
    credit(state, cfg, user, checkin.points, now)
    return checkin


def void_checkin(state: SandboxState, user: User, external_uid: str, now: float) -> Checkin:
    """Take back a check-in's points and visit; rewards it unlocked stay (see points)."""
    checkin_id = state.checkin_index.get((user.id, external_uid))
    if checkin_id is None:
        raise NotFound("Check-in not found")
    checkin = state.checkins[checkin_id]
    if checkin.voided_at is not None:
        raise Unprocessable.one("external_uid", "has already been voided")
    checkin.voided_at = now
    user.points -= checkin.points
    user.lifetime_points -= checkin.points
    user.visits -= 1
    return checkin


def reward_status(reward: Reward, now: float) -> str:
    """ "redeemed", "expired" or "unredeemed" (usable)."""
    if reward.redeemed_at is not None:
        return "redeemed"
    if reward.expires_at is not None and now > reward.expires_at:
        return "expired"
    return "unredeemed"


def available_rewards(state: SandboxState, user: User, now: float) -> list[Reward]:
    return [
        r
        for r in state.rewards.values()
        if r.user_id == user.id and reward_status(r, now) == "unredeemed"
    ]
