"""JSON shapes of Redemptions 1.0 and 2.0 answers (pure), after Punchh's published examples.

1.0     status, redemption_amount (an integer, seed 004), category, qualified_menu_items,
        redemption_id, redemption_code, campaign_name, max_applicable_quantity (set only
        for Price Rollback offers, which the sandbox has none of: null),
        qualifying_conditions (the failed criteria; {} here: no criteria are configured)
basket  redemption_ref, locked, created_at, discount_basket_items[] (an item no longer
        valid carries ``message`` and ``discount_details: null``)
batch   redemption_ref, success[], failures[]; each entry: discount_basket_item_id,
        discount_amount, redemption_id, redemption_type, discount_type, discount_id,
        discount_value, message, qualified, remaining_balance, meta_data,
        discount_details, qualified_items
"""

from __future__ import annotations

from typing import Any

from sandbox.basket import Outcome
from sandbox.redemptions import Offer, Quote
from sandbox.state import Basket, BasketItem, Redemption
from sandbox.views import iso

JsonObj = dict[str, Any]


def qualified_menu_items(menu_items: Any) -> list[Any]:
    """The menu items (type M) a 1.0 discount applies to: the order's items as sent."""
    if not isinstance(menu_items, list):
        return []
    return [i for i in menu_items if isinstance(i, dict) and i.get("menu_item_type") == "M"]


def v1_json(
    offer: Offer, amount: float, menu_items: Any, redemption: Redemption | None = None
) -> JsonObj:
    return {
        "status": offer.status,
        "redemption_amount": int(amount),
        "category": offer.category,
        "qualified_menu_items": qualified_menu_items(menu_items) if offer.ok else [],
        "redemption_id": redemption.id if redemption else None,
        "redemption_code": redemption.code if redemption else None,
        "max_applicable_quantity": None,
        "campaign_name": offer.name or None,
        "qualifying_conditions": {},
    }


def v1_repeat_json(redemption: Redemption, menu_items: Any) -> JsonObj:
    """The answer to a repeated request (same external_uid): the first redemption again."""
    return {
        "status": "Please HONOR it.",
        "redemption_amount": int(redemption.amount),
        "category": "redeemable",
        "qualified_menu_items": qualified_menu_items(menu_items),
        "redemption_id": redemption.id,
        "redemption_code": redemption.code,
        "max_applicable_quantity": None,
        "campaign_name": redemption.campaign_name,
        "qualifying_conditions": {},
    }


def discount_details(offer: Offer, item: BasketItem) -> JsonObj | None:
    if not offer.ok:
        return None
    reward = offer.reward
    return {
        "item_id": int(offer.target) if offer.target.isdigit() else None,
        "name": offer.name,
        "campaign_name": reward.campaign_name if reward else offer.name,
        "image": None,
        "points": offer.points,
        "base_amount": offer.value,
        "description": "",
        "item_properties": None,
        "meta_detail": None,
        "start_date_tz": iso(reward.created_at) if reward else None,
        "end_date_tz": iso(reward.expires_at) if reward else None,
        "created_at": iso(reward.created_at if reward else item.created_at),
        "auto_select": False,
    }


def basket_item_json(item: BasketItem, offer: Offer) -> JsonObj:
    data: JsonObj = {
        "discount_basket_item_id": item.id,
        "discount_type": item.discount_type,
        "discount_id": item.discount_id,
        "discount_value": item.discount_value,
        "created_at": iso(item.created_at),
        "discount_details": discount_details(offer, item),
    }
    if not offer.ok:
        data["message"] = [offer.status]
    return data


def basket_json(basket: Basket, offers: list[Offer]) -> JsonObj:
    return {
        "redemption_ref": basket.redemption_ref,
        "locked": False,
        "created_at": iso(basket.created_at),
        "discount_basket_items": [
            basket_item_json(item, offer) for item, offer in zip(basket.items, offers, strict=True)
        ],
    }


def _qualified_items(line_items: Any, offer: Offer, amount: float) -> list[JsonObj]:
    # The discount as one "R" line on the order's first menu item.
    first = next(
        (i for i in line_items or [] if isinstance(i, dict) and i.get("item_type") == "M"), {}
    )
    return [
        {
            "item_name": f"{first.get('item_name', offer.name)} DISCOUNT",
            "item_qty": 1,
            "amount": amount,
            "item_type": "R",
            "item_id": first.get("item_id"),
            "item_family": first.get("item_family"),
            "item_group": first.get("item_group"),
            "serial_number": first.get("serial_number"),
        }
    ]


def outcome_json(o: Outcome, line_items: Any, redemption_id: int | None) -> JsonObj:
    ok = isinstance(o.result, Quote)
    amount = o.result.amount if isinstance(o.result, Quote) else None
    return {
        "discount_basket_item_id": o.item.id,
        "discount_amount": amount,
        "redemption_id": redemption_id,
        "redemption_type": "Redemption" if ok else None,
        "discount_type": o.item.discount_type,
        "discount_id": o.item.discount_id,
        "discount_value": o.item.discount_value,
        "message": None if ok else [o.result],
        "qualified": ok,
        "remaining_balance": None,
        "meta_data": None,
        "discount_details": discount_details(o.offer, o.item),
        "qualified_items": _qualified_items(line_items, o.offer, amount) if amount else [],
    }


def batch_json(ref: str, outcomes: list[Outcome], line_items: Any, made: dict[int, int]) -> JsonObj:
    entries = [(o, outcome_json(o, line_items, made.get(o.item.id))) for o in outcomes]
    return {
        "redemption_ref": ref,
        "success": [e for o, e in entries if isinstance(o.result, Quote)],
        "failures": [e for o, e in entries if not isinstance(o.result, Quote)],
    }
