"""Redemption decisions shared by Redemptions 1.0 and 2.0: what a discount is (an Offer),
what it takes off a receipt and costs (a Quote), consuming it, and giving it back.

Categories (seed 004): "redeemable" is the only valid one; "processed" = a reward or promo
code already used; "expired" = a reward past its expiry; "unassigned" = another guest's
reward; "invalid" = unknown id or code, not enough points, a type not enabled here.
Prices and caps follow ``sandbox.points``.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from sandbox.config import SandboxConfig
from sandbox.errors import NotFound, Unprocessable
from sandbox.ledger import reward_status
from sandbox.points import capped, points_for_discount
from sandbox.state import Redemption, Reward, SandboxState, User

DISCOUNT_TYPES = (
    "reward",
    "card_completion",
    "redeemable",
    "discount_amount",
    "redemption_code",
    "subscription",
)
HONOR = "Please HONOR it."  # Punchh's status for a redemption to honour
NOT_QUALIFIED = "Discount qualification on receipt failed"
POINTS_CAMPAIGN = "Points to Currency"


@dataclass(frozen=True)
class Offer:
    discount_type: str
    category: str
    status: str
    target: str = ""  # reward id, redeemable id, promo code, or "points"
    name: str = ""
    value: float = 0.0  # face value, before the receipt cap
    points: int | None = 0  # fixed points price; None: priced by amount (discount_amount)
    reward: Reward | None = None
    promo_code: str | None = None

    @property
    def ok(self) -> bool:
        return self.category == "redeemable"


@dataclass(frozen=True)
class Quote:
    amount: float
    points: int


def _invalid(discount_type: str, status: str, category: str = "invalid") -> Offer:
    return Offer(discount_type=discount_type, category=category, status=status)


def _valid(
    discount_type: str,
    target: str,
    name: str,
    value: float,
    points: int | None,
    *,
    reward: Reward | None = None,
    promo_code: str | None = None,
) -> Offer:
    return Offer(
        discount_type, "redeemable", HONOR, target, name, value, points, reward, promo_code
    )


def target_of(discount_type: str, ref: str | None) -> str:
    """The dedupe key of a request: what it would consume."""
    if discount_type == "discount_amount":
        return "points"
    if discount_type == "redemption_code":
        return (ref or "").strip().upper()
    return (ref or "").strip()


def resolve(
    state: SandboxState,
    cfg: SandboxConfig,
    user: User,
    discount_type: str,
    ref: str | None,
    value: float | None,
    now: float,
) -> Offer:
    """What ``discount_type`` + ``ref`` (id or code) or ``value`` (dollars) means for ``user``."""
    if discount_type == "reward":
        return _reward_offer(state, user, ref, now)
    if discount_type == "redeemable":
        item = next((r for r in cfg.redeemables if str(r.id) == (ref or "").strip()), None)
        if item is None:
            return _invalid(discount_type, "Invalid Redeemable ID")
        return _valid(discount_type, str(item.id), item.name, item.discount_amount, item.points)
    if discount_type == "discount_amount":
        if value is None or value <= 0:
            return _invalid(discount_type, "Invalid Discount Value")
        return _valid(discount_type, "points", POINTS_CAMPAIGN, value, None)
    if discount_type == "redemption_code":
        code = target_of(discount_type, ref)
        if code not in {k.upper() for k in cfg.promo_codes}:
            return _invalid(discount_type, "Invalid Code")
        if code in user.promo_codes_used:
            return _invalid(discount_type, "Code has already been redeemed", "processed")
        amount = next(v for k, v in cfg.promo_codes.items() if k.upper() == code)
        return _valid(discount_type, code, f"Promo {code}", amount, 0, promo_code=code)
    return _invalid(discount_type, f"{discount_type} redemptions are not enabled for this business")


def _reward_offer(state: SandboxState, user: User, ref: str | None, now: float) -> Offer:
    ref = (ref or "").strip()
    reward = state.rewards.get(int(ref)) if ref.isdigit() else None
    if reward is None:
        return _invalid("reward", "Invalid Reward ID")
    if reward.user_id != user.id:
        return _invalid("reward", "Reward is not assigned to this guest", "unassigned")
    status = reward_status(reward, now)
    if status == "redeemed":
        return _invalid("reward", "Reward has already been redeemed", "processed")
    if status == "expired":
        return _invalid("reward", "Reward has expired", "expired")
    return _valid("reward", str(reward.id), reward.name, reward.discount_amount, 0, reward=reward)


def quote(
    offer: Offer, points_available: int, cfg: SandboxConfig, receipt_left: float | None
) -> Quote | str:
    """What a valid offer takes off the receipt and costs, or why it cannot apply."""
    amount = capped(offer.value, receipt_left)
    if amount <= 0:
        return NOT_QUALIFIED
    points = offer.points
    if points is None:
        points = points_for_discount(amount, cfg.points_per_discount_dollar)
    if points > 0 and points > points_available:
        return (
            f"Points Balance is insufficient: {points} needed, {max(points_available, 0)} available"
        )
    return Quote(amount=amount, points=points)


def _new_code(state: SandboxState) -> str:
    used = {r.code for r in state.redemptions.values()}
    while True:
        code = str(1_000_000 + secrets.randbelow(9_000_000))
        if code not in used:
            return code


def apply(
    state: SandboxState,
    user: User,
    offer: Offer,
    price: Quote,
    now: float,
    *,
    external_uid: str | None = None,
    batch_ref: str | None = None,
) -> Redemption:
    """Consume the offer: spend points, redeem the reward, use up the promo code."""
    redemption = Redemption(
        id=state.next_id("redemption"),
        code=_new_code(state),
        user_id=user.id,
        discount_type=offer.discount_type,
        target=offer.target,
        amount=price.amount,
        points_spent=price.points,
        campaign_name=offer.name,
        created_at=now,
        reward_id=offer.reward.id if offer.reward else None,
        promo_code=offer.promo_code,
        external_uid=external_uid,
        batch_ref=batch_ref,
    )
    state.redemptions[redemption.id] = redemption
    user.points -= price.points
    if offer.reward is not None:
        offer.reward.redeemed_at = now
        offer.reward.redemption_id = redemption.id
    if offer.promo_code:
        user.promo_codes_used.add(offer.promo_code)
    return redemption


def void(state: SandboxState, user: User, redemption: Redemption, now: float) -> None:
    """Give back exactly what ``apply`` consumed (conversion waits for the next credit)."""
    if redemption.voided_at is not None:
        raise Unprocessable.one("redemption", "has already been voided")
    redemption.voided_at = now
    user.points += redemption.points_spent
    reward = state.rewards.get(redemption.reward_id) if redemption.reward_id else None
    if reward is not None:
        reward.redeemed_at = None
        reward.redemption_id = None
    if redemption.promo_code:
        user.promo_codes_used.discard(redemption.promo_code)


def find(state: SandboxState, user: User, redemption_id: object, code: object) -> Redemption:
    for r in state.redemptions.values():
        if r.user_id == user.id and (str(r.id) == str(redemption_id) or r.code == str(code)):
            return r
    raise NotFound("Redemption not found")


def duplicate(
    state: SandboxState, user: User, external_uid: str, discount_type: str, target: str
) -> Redemption | None:
    """The live redemption an identical earlier request (same external_uid) made."""
    return next(
        (
            r
            for r in state.redemptions.values()
            if r.user_id == user.id
            and r.external_uid == external_uid
            and r.discount_type == discount_type
            and r.target == target
            and r.voided_at is None
            and r.batch_ref is None
        ),
        None,
    )
