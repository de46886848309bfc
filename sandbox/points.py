"""The sandbox's loyalty rules, as pure functions of plain values.

Earning (seed 002): a check-in earns ``floor(receipt_amount) * points_per_dollar`` points
(``receipt_amount`` is the pre-tax subtotal after discounts, "the amount used to calculate
loyalty points") and one visit. Negative or zero amounts earn nothing.

Rewards: whenever the balance reaches ``points_per_reward`` (default 100), that many points
convert into one reward worth ``reward_amount`` (default $10, named "$10 Off"), repeatedly
while the balance allows; ``points_per_reward = 0`` turns conversion off.

Voids: voiding a check-in takes back the points and the visit it earned. Rewards it already
unlocked stay with the guest, so the balance may go below zero; later points repay it first.

Referrals (seed 001): a sign-up whose ``invite_code`` is another guest's ``referral_code``
credits that referrer ``referral_points`` (default 50), converted like any points.

Spending (seed 004, Redemptions 1.0 and 2.0), each discount capped at the receipt amount:
  - ``reward``: consumes one of the guest's rewards (worth its discount_amount);
  - ``redeemable``: a catalog item (``config.redeemables``) bought for its points;
  - ``discount_amount``: points as currency, $1 costs ``points_per_discount_dollar`` points
    (default 10), rounded up to whole points;
  - ``redemption_code``: a promo code of ``config.promo_codes``, once per guest;
  - ``card_completion``, ``subscription``: not enabled in the sandbox (category "invalid").
Voiding a redemption gives back exactly what it consumed.
"""

from __future__ import annotations

import math


def points_for_receipt(receipt_amount: float, points_per_dollar: int) -> int:
    """Points a check-in earns: whole dollars of the receipt times the rate."""
    if receipt_amount <= 0:
        return 0
    return math.floor(receipt_amount) * points_per_dollar


def convert(points: int, points_per_reward: int) -> tuple[int, int]:
    """(rewards unlocked, points left) for a balance; no conversion when the rule is off."""
    if points_per_reward <= 0 or points < points_per_reward:
        return 0, points
    rewards = points // points_per_reward
    return rewards, points - rewards * points_per_reward


def points_for_discount(amount: float, points_per_discount_dollar: int) -> int:
    """Points that buy ``amount`` dollars of discount, rounded up to whole points."""
    # round() first so 2.3 * 10 = 22.999999999999996 costs 23 points, not 24.
    return math.ceil(round(amount * points_per_discount_dollar, 6))


def dollars_for_points(points: int, points_per_discount_dollar: int) -> float:
    return round(max(points, 0) / points_per_discount_dollar, 2)


def capped(amount: float, receipt_amount: float | None) -> float:
    """A discount never exceeds what is left of the receipt."""
    if receipt_amount is None:
        return round(amount, 2)
    return round(max(0.0, min(amount, receipt_amount)), 2)


def reward_name(amount: float) -> str:
    return f"${amount:g} Off"
