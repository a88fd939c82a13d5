"""Every mapped model, imported once so the metadata (and Alembic) sees all tables."""

from loyalty.analytics.models import MemberActivity, MembersDaily, PointsDaily, RollupState
from loyalty.api.idempotency import IdempotencyRecord
from loyalty.apikeys.models import ApiKey
from loyalty.coupons.models import Coupon, CouponTemplate
from loyalty.ledger.models import Allocation, Entry, Hold, Lot
from loyalty.lotteries.models import Lottery, LotteryDraw, LotteryPrize
from loyalty.members.models import (
    Identifier,
    Member,
    MemberLoginCode,
    MemberSession,
    MemberTag,
)
from loyalty.notifications.models import OutboxEvent
from loyalty.orders.models import Order, Refund
from loyalty.programs.models import Program
from loyalty.rewards.models import Address, Redemption, Reward, RewardStoreStock
from loyalty.rules.models import Rule, RuleDailyAward, RuleVersion
from loyalty.stores.models import Store
from loyalty.tasks.models import Event, ReferralReward, ReferralSettings, Task
from loyalty.tiers.models import Tier, TierChange
from loyalty.users.models import AuditEntry, ConsoleSession, ConsoleUser, ConsoleUserStore
from loyalty.wallet.models import (
    TopUp,
    TopUpBonus,
    Wallet,
    WalletEntry,
    WalletPayment,
    WalletRefund,
)

__all__ = [
    "Address",
    "Allocation",
    "ApiKey",
    "AuditEntry",
    "ConsoleSession",
    "ConsoleUser",
    "ConsoleUserStore",
    "Coupon",
    "CouponTemplate",
    "Entry",
    "Event",
    "Hold",
    "IdempotencyRecord",
    "Identifier",
    "Lot",
    "Lottery",
    "LotteryDraw",
    "LotteryPrize",
    "Member",
    "MemberActivity",
    "MemberLoginCode",
    "MemberSession",
    "MemberTag",
    "MembersDaily",
    "Order",
    "OutboxEvent",
    "PointsDaily",
    "Program",
    "Redemption",
    "ReferralReward",
    "ReferralSettings",
    "Refund",
    "Reward",
    "RewardStoreStock",
    "RollupState",
    "Rule",
    "RuleDailyAward",
    "RuleVersion",
    "Store",
    "Task",
    "Tier",
    "TierChange",
    "TopUp",
    "TopUpBonus",
    "Wallet",
    "WalletEntry",
    "WalletPayment",
    "WalletRefund",
]
