"""What the member list, the member page and the member actions share: labels, phone display
and the rule of who may see which member."""

from __future__ import annotations

from typing import Annotated

from fastapi import Path, Request
from sqlalchemy.orm import Session

from loyalty.members.models import Member
from loyalty.members.service import get_member
from loyalty.tiers.service import TierSpec
from loyalty.users.service import ConsoleIdentity
from loyalty.web.console.deps import require_store
from loyalty.web.i18n import N_
from loyalty.web.templating import request_locale

MemberId = Annotated[int, Path(ge=1, le=2**62)]
FULL_PHONE_ROLES = frozenset({"owner", "hq", "manager"})

MATCHES = {
    "phone": N_("Mobile number"),
    "card": N_("Card no."),
    "member_no": N_("Member no."),
    "name": N_("Full name"),
}
SOURCES = {
    "order": N_("Order"),
    "refund": N_("Refund"),
    "hold": N_("Paid with points"),
    "adjustment": N_("Manual adjustment"),
    "job": N_("Scheduled job"),
    "merge": N_("Account merge"),
    "redemption": N_("Redemption"),
    "event": N_("Task reward"),
}
REDEMPTION_STATUSES = {
    "pending": N_("To pick up"),
    "pending_delivery": N_("To ship"),
    "fulfilled": N_("Picked up at the counter"),
    "shipped": N_("Shipped"),
    "completed": N_("Completed"),
    "cancelled": N_("Cancelled"),
    "expired": N_("Expired"),
}
FULFILMENTS = {
    "pickup": N_("Store pickup"),
    "delivery": N_("Delivery"),
    "instant": N_("Instant"),
}
GENDERS = {"male": N_("Male"), "female": N_("Female"), "other": N_("Other")}
IDENTIFIER_TYPES = {
    "phone": N_("Mobile number"),
    "card": N_("Card no."),
    "wechat_openid": N_("WeChat openid"),
    "wechat_unionid": N_("WeChat unionid"),
    "alipay_uid": N_("Alipay user id"),
}


def show_phone(phone: str | None, reveal: bool) -> str:
    """A phone for reading: national form for Chinese numbers, masked unless ``reveal``."""
    if not phone:
        return ""
    shown = phone[3:] if phone.startswith("+86") else phone
    if reveal or len(shown) < 8:
        return shown
    return shown[:3] + "****" + shown[-4:]


def sees_full_phone(who: ConsoleIdentity) -> bool:
    """Owners, HQ operators and store managers see phone numbers; clerks and analysts masked."""
    return who.role in FULL_PHONE_ROLES


def tier_name(request: Request, tier: TierSpec) -> str:
    return tier.name_en if tier.name_en and request_locale(request) == "en" else tier.name


def visible_member(session: Session, who: ConsoleIdentity, member_id: int) -> Member:
    """The member, if the signed-in user may see them (403 for another store's member)."""
    member = get_member(session, who.program_id, member_id)
    require_store(who, member.store_id)
    return member


def actor_of(who: ConsoleIdentity) -> str:
    """How the ledger names a console user (``console:name``)."""
    return f"console:{who.username}"[:64]
