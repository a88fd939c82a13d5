"""The points mall report: redemption rate, popular rewards, stock left."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from loyalty.ledger.queries import points_summary
from loyalty.programs.models import Program
from loyalty.rewards.catalog import OPEN
from loyalty.rewards.models import Redemption, Reward


def rewards_report(
    session: Session, program: Program, start: datetime, end: datetime
) -> dict[str, Any]:
    summary = points_summary(session, program, start, end)
    stmt = (
        select(
            Reward.id,
            Reward.name,
            Reward.stock,
            Reward.status,
            func.count(Redemption.id),
            func.coalesce(func.sum(Redemption.quantity), 0),
            func.coalesce(func.sum(Redemption.points), 0),
        )
        .outerjoin(
            Redemption,
            (Redemption.reward_id == Reward.id)
            & Redemption.status.in_(OPEN)
            & (Redemption.created_at >= start)
            & (Redemption.created_at < end),
        )
        .where(Reward.program_id == program.id)
        .group_by(Reward.id, Reward.name, Reward.stock, Reward.status)
    )
    rows: list[dict[str, Any]] = [
        {
            "reward_id": rid,
            "name": name,
            "stock_left": stock,
            "status": status,
            "redemptions": int(n),
            "quantity": int(q),
            "points": int(p),
        }
        for rid, name, stock, status, n, q, p in session.execute(stmt)
    ]
    rows.sort(key=lambda r: (-int(r["quantity"]), int(r["reward_id"])))
    return {
        "from": start.isoformat(),
        "to": end.isoformat(),
        "points_issued": summary["issued"],
        "points_redeemed": summary["redeemed"],
        "redemption_rate": summary["redemption_rate"],
        "redemptions": sum(r["redemptions"] for r in rows),
        "popular": [r for r in rows if r["quantity"]][:10],
        "rewards": rows,
    }
