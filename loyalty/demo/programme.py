"""What the demo chain's operators configured: earning rules, tiers, a check-in task, and
a points mall with a coupon, all through the same services as the API."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from loyalty.coupons.schemas import TemplateIn
from loyalty.coupons.templates import create_template
from loyalty.programs.models import Program
from loyalty.rewards.catalog import save_reward
from loyalty.rules.service import create_rule
from loyalty.tasks.service import save_task
from loyalty.tiers.service import save_tier

RULES = (
    {
        "name": "周三双倍积分",
        "name_en": "Wednesday double points",
        "kind": "multiplier",
        "factor": "2",
        "conditions": {"weekdays": [3]},
    },
    {
        "name": "生日月双倍积分",
        "name_en": "Birthday month double points",
        "kind": "multiplier",
        "factor": "2",
        "stacking": "best_of",
        "conditions": {"birthday": "month"},
    },
)
_REWARD: dict[str, Any] = {
    "description": None,
    "category": None,
    "image_url": None,
    "cash_price": 0,
    "allow_partial": False,
    "coupon_template_id": None,
    "stored_value_amount": None,
    "limit_per_day": None,
    "limit_total": None,
    "tiers": [],
    "status": "on",
    "available_from": None,
    "available_until": None,
    "pickup_days": 30,
}
DEMO_REWARDS = (
    {
        **_REWARD,
        "name": "中杯奶茶",
        "name_en": "Medium milk tea",
        "kind": "gift",
        "category": "饮品",
        "points_price": 500,
        "stock": 500,
        "fulfilment": "pickup",
    },
    {
        **_REWARD,
        "name": "品牌袜子",
        "name_en": "Branded socks",
        "kind": "gift",
        "category": "周边",
        "points_price": 500,
        "cash_price": 500,
        "stock": 200,
        "fulfilment": "delivery",
    },
    {
        **_REWARD,
        "name": "保温杯",
        "name_en": "Vacuum flask",
        "kind": "gift",
        "category": "周边",
        "points_price": 3_000,
        "stock": 50,
        "fulfilment": "pickup",
        "limit_total": 1,
    },
    {
        **_REWARD,
        "name": "满50减10券",
        "name_en": "¥10 off coupon",
        "kind": "coupon",
        "category": "优惠券",
        "points_price": 300,
        "stock": None,
        "fulfilment": "instant",
        "limit_per_day": 1,
    },
)
TIERS = (
    {
        "code": "silver",
        "name": "银卡",
        "name_en": "Silver",
        "rank": 1,
        "metric": "spend",
        "threshold": 100_000,
        "window_days": 365,
        "multiplier": "1.2",
        "perks": ["生日饮品"],
    },
    {
        "code": "gold",
        "name": "金卡",
        "name_en": "Gold",
        "rank": 2,
        "metric": "spend",
        "threshold": 300_000,
        "window_days": 365,
        "multiplier": "1.5",
        "discount_rate": "0.95",
        "perks": ["生日饮品", "免配送费"],
    },
)


def configure_earning(session: Session, program: Program, at: datetime) -> None:
    """Rules and tiers from the day the chain opens, so the year of history uses them."""
    for rule in RULES:
        create_rule(
            session,
            program,
            dict(rule),
            status="enabled",
            active_from=None,
            active_until=None,
            actor="demo",
            now=at,
        )
    for tier in TIERS:
        save_tier(session, program, dict(tier), at)
    save_task(
        session,
        program,
        "check_in",
        {
            "name": "每日签到",
            "name_en": "Daily check-in",
            "points": 5,
            "daily_limit": 1,
            "lifetime_limit": None,
            "streak_bonuses": {"7": 50},
            "status": "enabled",
        },
        at,
    )


def stock_the_mall(session: Session, program: Program, at: datetime) -> None:
    template = create_template(
        session,
        program.id,
        TemplateIn(
            name="满50减10",
            name_en="¥10 off orders over ¥50",
            kind="amount_off",
            amount_off=1_000,
            min_spend=5_000,
            valid_days=30,
        ).model_dump(),
        at,
    )
    for reward in DEMO_REWARDS:
        data = dict(reward)
        if data["kind"] == "coupon":
            data["coupon_template_id"] = template.id
        save_reward(session, program.id, data, at)
