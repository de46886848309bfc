"""Redemptions 2.0: the guest's discount basket, its evaluation, commit and void.

One active basket per guest, created by the first selection, identified by a
``redemption_ref``. Selecting validates every item first (one bad item fails the whole
request, 422); points are not checked at selection, only at evaluation (as Punchh says).
Evaluation walks the basket in order against what is left of the receipt and of the
points; items that cannot apply are ``failures`` (still HTTP 200). Committing consumes the
successes, closes the basket and records a batch under its ``redemption_ref``; the same
``external_uid`` committed again returns the first answer. Voiding a batch restores it,
unless a check-in with the batch's ``external_uid`` was made since (410).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any

from sandbox import redemptions
from sandbox.config import SandboxConfig
from sandbox.errors import BadRequest, Gone, NotFound, Unprocessable
from sandbox.redemptions import Offer, Quote
from sandbox.state import Basket, BasketItem, Batch, SandboxState, User
from sandbox.validation import as_amount

SELECTABLE = ("reward", "redeemable", "discount_amount", "redemption_code")
NOT_SUPPORTED = (
    "Your current loyalty program configuration does not support this feature. Please "
    "connect with your Customer Success representative for resolution of the issue."
)
NO_BASKET = "No Basket found"


@dataclass(frozen=True)
class Outcome:
    item: BasketItem
    offer: Offer
    result: Quote | str  # a Quote when it applies, else the failure message


def item_offer(
    state: SandboxState, cfg: SandboxConfig, user: User, item: BasketItem, now: float
) -> Offer:
    return redemptions.resolve(
        state, cfg, user, item.discount_type, item.discount_id, item.discount_value, now
    )


def active_basket(state: SandboxState, user: User) -> Basket:
    basket = state.baskets.get(user.id)
    if basket is None:
        raise NotFound("User does not have an active basket")
    return basket


def select(
    state: SandboxState, cfg: SandboxConfig, user: User, attributes: Any, now: float
) -> Basket:
    """Add every item of ``discount_basket_items_attributes``, or none of them."""
    if not isinstance(attributes, list) or not attributes:
        raise BadRequest(
            "Required parameter missing or the value is empty: discount_basket_items_attributes"
        )
    basket = state.baskets.get(user.id) or Basket(user.id, secrets.token_urlsafe(12), now)
    new_items = [_new_item(state, attrs, now) for attrs in attributes]
    taken = {(i.discount_type, i.discount_id) for i in basket.items}
    for item in new_items:
        if (
            item.discount_type != "discount_amount"
            and (item.discount_type, item.discount_id) in taken
        ):
            raise Unprocessable.one(
                "base", "Discount basket items have already been taken for the user"
            )
        taken.add((item.discount_type, item.discount_id))
        offer = item_offer(state, cfg, user, item, now)
        if not offer.ok:
            raise Unprocessable.one("base", offer.status)
    basket.items.extend(new_items)
    state.baskets[user.id] = basket
    return basket


def _new_item(state: SandboxState, attrs: Any, now: float) -> BasketItem:
    if not isinstance(attrs, dict) or not attrs.get("discount_type"):
        raise BadRequest("Required parameter missing or the value is empty: discount_type")
    kind = attrs["discount_type"]
    if kind in ("card_completion", "subscription", "fuel_reward"):
        raise Unprocessable.one("base", NOT_SUPPORTED)
    if kind not in SELECTABLE:
        raise Unprocessable.one(
            "base",
            "Discount type should be card_completion, discount_amount, redemption_code, "
            "reward, fuel_reward, redeemable, subscription",
        )
    raw_id = attrs.get("discount_id")
    return BasketItem(
        id=state.next_id("basket_item"),
        discount_type=kind,
        discount_id=None if raw_id in (None, "") else str(raw_id),
        discount_value=as_amount(attrs.get("discount_value")),
        created_at=now,
    )


def unselect(state: SandboxState, user: User, ids: Any) -> Basket:
    """Remove the items with these ids (a list, or a comma-separated string)."""
    if isinstance(ids, str):
        ids = [part for part in ids.split(",") if part.strip()]
    if isinstance(ids, int) and not isinstance(ids, bool):
        ids = [ids]
    if not isinstance(ids, list) or not ids:
        raise BadRequest(
            "Required parameter missing or the value is empty: discount_basket_item_ids"
        )
    basket = active_basket(state, user)
    wanted = {str(i).strip() for i in ids}
    keep = [i for i in basket.items if str(i.id) not in wanted]
    if len(keep) == len(basket.items):
        raise Unprocessable.one("base", "Discount Items not found with any given ids")
    basket.items = keep
    return basket


def evaluate(
    state: SandboxState,
    cfg: SandboxConfig,
    user: User,
    basket: Basket,
    receipt_amount: float,
    now: float,
) -> list[Outcome]:
    """Each item against what is left of the receipt and of the points, in basket order."""
    left, points = receipt_amount, user.points
    outcomes = []
    for item in basket.items:
        offer = item_offer(state, cfg, user, item, now)
        result: Quote | str = offer.status
        if offer.ok:
            result = redemptions.quote(offer, points, cfg, left)
        if isinstance(result, Quote):
            left, points = left - result.amount, points - result.points
        outcomes.append(Outcome(item, offer, result))
    return outcomes


def commit(
    state: SandboxState,
    user: User,
    basket: Basket,
    outcomes: list[Outcome],
    now: float,
    external_uid: str | None,
) -> dict[int, int]:
    """Consume the successes; basket item id -> redemption id. Closes the basket."""
    made: dict[int, int] = {}
    for o in outcomes:
        if isinstance(o.result, Quote):
            ref = basket.redemption_ref
            r = redemptions.apply(
                state, user, o.offer, o.result, now, external_uid=external_uid, batch_ref=ref
            )
            made[o.item.id] = r.id
    if made:
        state.baskets.pop(user.id, None)
    return made


def committed_batch(state: SandboxState, user: User, external_uid: str | None) -> Batch | None:
    if not external_uid:
        return None
    return next(
        (
            b
            for b in state.batches.values()
            if b.user_id == user.id and b.external_uid == external_uid and b.voided_at is None
        ),
        None,
    )


def void_batch(state: SandboxState, user: User, ref: str, now: float) -> None:
    batch = state.batches.get(ref)
    if batch is None or batch.user_id != user.id or batch.voided_at is not None:
        raise Unprocessable.one("base", NO_BASKET)
    checkin_id = state.checkin_index.get((user.id, batch.external_uid or ""))
    if checkin_id is not None and state.checkins[checkin_id].voided_at is None:
        raise Gone(
            f"Checkin associated with external_uid {batch.external_uid} has been committed.",
            "commited",  # sic: Punchh's spelling
        )
    for rid in batch.redemption_ids:
        redemption = state.redemptions[rid]
        if redemption.voided_at is None:
            redemptions.void(state, user, redemption, now)
    batch.voided_at = now
