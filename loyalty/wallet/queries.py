"""Read models of stored value: a member's wallet and history, and the program's report."""

from __future__ import annotations

from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from loyalty.api.schemas import EARLIEST
from loyalty.ledger.models import Entry
from loyalty.ledger.queries import money, points_summary
from loyalty.programs.models import Program
from loyalty.stores.models import Store
from loyalty.wallet.journal import find_wallet, wallet_json
from loyalty.wallet.models import Wallet, WalletEntry


def wallet_view(session: Session, program: Program, member_id: int) -> dict[str, Any]:
    """Balance (and its principal and bonus parts) with the lifetime figures."""
    wallet = find_wallet(session, member_id)
    lifetime = ("topped_up", "bonus_given", "paid", "refunded")
    return {
        "member_id": member_id,
        "currency": program.currency,
        **wallet_json(wallet),
        "lifetime": {k: getattr(wallet, k) if wallet else 0 for k in lifetime},
    }


def history_page(
    session: Session, member_id: int, before: int | None, limit: int
) -> list[dict[str, Any]]:
    """Newest first, keyed by entry id for cursor pagination."""
    stmt = (
        select(WalletEntry, Store.code)
        .outerjoin(Store, Store.id == WalletEntry.store_id)
        .where(WalletEntry.member_id == member_id)
        .order_by(WalletEntry.id.desc())
        .limit(limit)
    )
    if before is not None:
        stmt = stmt.where(WalletEntry.id < before)
    return [entry_json(e, code) for e, code in session.execute(stmt)]


def entry_json(e: WalletEntry, store_code: str | None) -> dict[str, Any]:
    return {
        "id": e.id,
        "kind": e.kind,
        "amount": e.amount,
        "principal": e.principal,
        "bonus": e.bonus,
        "balance_after": e.balance_after,
        "occurred_at": e.occurred_at.isoformat(),
        "source": {"type": e.source_type, "id": e.source_id},
        "store_code": store_code,
        "description": e.description,
        "description_en": e.description_en,
        "actor": e.actor,
    }


# --- the report ----------------------------------------------------------------------------


def stored_value_report(
    session: Session, program: Program, start: datetime, end: datetime
) -> dict[str, Any]:
    """Outstanding stored value now and at ``end``; what moved in [start, end); and the points
    given as top-up bonus with their face value and their expected cost."""
    return {
        "from": start.isoformat(),
        "to": end.isoformat(),
        "currency": program.currency,
        "outstanding": _outstanding_now(session, program.id),
        "outstanding_at_to": _outstanding_at(session, program.id, end),
        **_flows(session, program.id, start, end),
        "bonus_points": _bonus_points(session, program, start, end),
    }


def _outstanding_now(session: Session, program_id: int) -> dict[str, int]:
    balance, principal, bonus, wallets = session.execute(
        select(
            func.coalesce(func.sum(Wallet.balance), 0),
            func.coalesce(func.sum(Wallet.principal), 0),
            func.coalesce(func.sum(Wallet.bonus), 0),
            func.count(case((Wallet.balance > 0, 1))),
        ).where(Wallet.program_id == program_id)
    ).one()
    return {
        "amount": int(balance),
        "principal": int(principal),
        "bonus": int(bonus),
        "wallets": int(wallets),
    }


def _outstanding_at(session: Session, program_id: int, end: datetime) -> int:
    total = session.scalar(
        select(func.coalesce(func.sum(WalletEntry.amount), 0)).where(
            WalletEntry.program_id == program_id, WalletEntry.occurred_at < end
        )
    )
    return int(total or 0)


def _flows(session: Session, program_id: int, start: datetime, end: datetime) -> dict[str, Any]:
    """Top-ups, bonus value, payments (gross, by part) and refunds in the period."""
    rows = session.execute(
        select(
            WalletEntry.kind,
            func.count(),
            func.sum(WalletEntry.amount),
            func.sum(WalletEntry.principal),
            func.sum(WalletEntry.bonus),
        )
        .where(
            WalletEntry.program_id == program_id,
            WalletEntry.occurred_at >= start,
            WalletEntry.occurred_at < end,
        )
        .group_by(WalletEntry.kind)
    ).all()
    by_kind = {kind: (int(n), abs(int(a)), abs(int(p)), abs(int(b))) for kind, n, a, p, b in rows}

    def flow(kind: str) -> dict[str, int]:
        n, amount, principal, bonus = by_kind.get(kind, (0, 0, 0, 0))
        return {"count": n, "amount": amount, "principal": principal, "bonus": bonus}

    return {
        "top_ups": flow("top_up"),
        "bonus_value": flow("bonus")["amount"],
        "payments": flow("payment"),
        "refunds": flow("refund"),
    }


def _bonus_points(
    session: Session, program: Program, start: datetime, end: datetime
) -> dict[str, Any]:
    """Bonus points of top-ups in the period: worth ``value_amount`` at the point value, and
    expected to cost ``expected_cost_amount`` at the redemption rate observed over everything
    issued before ``end`` (points that are never redeemed cost nothing)."""
    points = int(
        session.scalar(
            select(func.coalesce(func.sum(Entry.points), 0)).where(
                Entry.program_id == program.id,
                Entry.kind == "earn",
                Entry.source_type == "top_up",
                Entry.occurred_at >= start,
                Entry.occurred_at < end,
            )
        )
        or 0
    )
    summary = points_summary(session, program, EARLIEST, end)
    return {
        "points": points,
        "point_value": str(program.point_value),
        "value_amount": money(points, program.point_value),
        "redemption_rate": summary["redemption_rate"],
        "expected_cost_amount": expected_cost(
            points, program.point_value, summary["redeemed"], summary["issued"]
        ),
    }


def expected_cost(points: int, point_value: Decimal, redeemed: int, issued: int) -> int:
    """What ``points`` will cost in minor units if ``redeemed / issued`` of them are redeemed
    (capped at all of them), exact and rounded half up once: 100 points at ¥1 and 80% = 8000."""
    if issued <= 0:
        return 0
    redeemed = min(max(redeemed, 0), issued)
    cost = Decimal(points) * point_value * 100 * redeemed / issued
    return int(cost.quantize(Decimal(1), ROUND_HALF_UP))
