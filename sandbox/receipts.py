"""Receipts stored from the POS and earned by barcode (seed 003, item 7b; docs/punchh.md,
"Receipts and barcode check-ins").

Punchh's "Store Receipt Details From POS": the same receipt (same ``punchh_key``) sent again
a second or more after the last is stored again; within a second, the last overwrites the
previous version. The latest version is the receipt. ``status: void`` voids it.

"Create Loyalty Check-in by Barcode": the guest earns the receipt's points once. The
``punchh_key`` is the barcode without its parity digit, so a scanned EAN-13 (the key and its
check digit) names the receipt as well as the key typed by hand. Errors, as Punchh words
them: an unknown or voided code "This bar code is not valid.", a used one "You cannot use the
same receipt more than once." (422, ``{"errors": {"base": [...]}}``).
"""

from __future__ import annotations

from sandbox.config import SandboxConfig
from sandbox.errors import Unprocessable
from sandbox.ledger import record_checkin
from sandbox.state import Checkin, Receipt, SandboxState, User

OVERWRITE_WITHIN = 1.0  # seconds: a resend this soon replaces the last version


def store(state: SandboxState, receipt: Receipt) -> None:
    versions = state.receipts.setdefault(receipt.punchh_key, [])
    if versions and receipt.received_at - versions[-1].received_at < OVERWRITE_WITHIN:
        versions[-1] = receipt
    else:
        versions.append(receipt)


def _ean13_check_digit(twelve: str) -> str:
    total = sum(int(d) * (3 if i % 2 else 1) for i, d in enumerate(twelve))
    return str((10 - total % 10) % 10)


def find(state: SandboxState, bar_code: str) -> list[Receipt] | None:
    """The stored versions a scanned or typed barcode names, or None."""
    code = bar_code.strip()
    if code in state.receipts:
        return state.receipts[code]
    if len(code) == 13 and code.isdigit() and _ean13_check_digit(code[:12]) == code[12]:
        return state.receipts.get(code[:12])
    return None


def earn(state: SandboxState, cfg: SandboxConfig, user: User, bar_code: str, now: float) -> Checkin:
    """The receipt's points for ``user``, once; every version shares one fate."""
    versions = find(state, bar_code)
    latest = versions[-1] if versions else None
    if latest is None or latest.void:
        raise Unprocessable.one("base", "This bar code is not valid.")
    if any(v.used_by is not None for v in versions or ()):
        raise Unprocessable.one("base", "You cannot use the same receipt more than once.")
    checkin = record_checkin(
        state,
        cfg,
        user,
        now,
        external_uid=f"receipt:{latest.punchh_key}",
        receipt_amount=latest.amount,
        receipt_datetime=latest.receipt_datetime,
        channel="mobile",
        store_number=latest.store_number,
    )
    for version in versions or ():
        version.used_by, version.checkin_id = user.id, checkin.id
    return checkin
