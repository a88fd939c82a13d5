"""Every mapped model, imported once so the metadata (and Alembic) sees all tables."""

from loyalty.api.idempotency import IdempotencyRecord
from loyalty.apikeys.models import ApiKey
from loyalty.ledger.models import Allocation, Entry, Hold, Lot
from loyalty.members.models import Identifier, Member
from loyalty.notifications.models import OutboxEvent
from loyalty.orders.models import Order, Refund
from loyalty.programs.models import Program
from loyalty.rules.models import Rule, RuleDailyAward, RuleVersion
from loyalty.stores.models import Store
from loyalty.tiers.models import Tier, TierChange

__all__ = [
    "Allocation",
    "ApiKey",
    "Entry",
    "Hold",
    "IdempotencyRecord",
    "Identifier",
    "Lot",
    "Member",
    "Order",
    "OutboxEvent",
    "Program",
    "Refund",
    "Rule",
    "RuleDailyAward",
    "RuleVersion",
    "Store",
    "Tier",
    "TierChange",
]
