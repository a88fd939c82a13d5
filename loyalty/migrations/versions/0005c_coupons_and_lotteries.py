"""coupons and points lotteries

Revision ID: 0005c
Revises: 0004
"""

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

import loyalty.db.base

revision: str = "0005c"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BIG = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
TIME = loyalty.db.base.UTCDateTime


def _fk(table: str, column: str, target: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        [column], [f"{target}.id"], name=op.f(f"fk_{table}_{column}_{target}")
    )


def _col(name: str, type_: Any, null: bool = False) -> sa.Column[Any]:
    return sa.Column(name, type_, nullable=null)


def _str(name: str, length: int, null: bool = False) -> sa.Column[Any]:
    return sa.Column(name, sa.String(length=length), nullable=null)


def upgrade() -> None:
    _coupon_templates()
    _coupons()
    _lotteries()
    _lottery_prizes()
    _lottery_draws()


def _coupon_templates() -> None:
    op.create_table(
        "coupon_templates",
        _col("id", BIG),
        _col("program_id", BIG),
        _str("name", 120),
        _str("name_en", 120, True),
        _str("kind", 16),
        _col("amount_off", sa.BigInteger(), True),
        _col("percent_off", sa.Integer(), True),
        _col("max_discount", sa.BigInteger(), True),
        _col("min_spend", sa.BigInteger()),
        _col("valid_days", sa.Integer(), True),
        _col("valid_from", TIME(), True),
        _col("valid_until", TIME(), True),
        _col("store_codes", sa.JSON()),
        _col("store_groups", sa.JSON()),
        _col("categories", sa.JSON()),
        _col("issue_limit", sa.BigInteger(), True),
        _col("issued_count", sa.BigInteger()),
        _col("active", sa.Boolean()),
        _col("created_at", TIME()),
        _col("updated_at", TIME()),
        _fk("coupon_templates", "program_id", "programs"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_coupon_templates")),
    )
    op.create_index("ix_coupon_templates_program", "coupon_templates", ["program_id", "id"])


def _coupons() -> None:
    op.create_table(
        "coupons",
        _col("id", BIG),
        _col("program_id", BIG),
        _col("template_id", BIG),
        _col("member_id", BIG),
        _str("code", 16),
        _str("status", 8),
        _col("terms", sa.JSON()),
        _col("issued_at", TIME()),
        _col("valid_from", TIME()),
        _col("valid_until", TIME()),
        _str("source_type", 16),
        _str("source_id", 64, True),
        _str("issue_id", 64, True),
        _col("used_at", TIME(), True),
        _col("used_store_id", BIG, True),
        _str("used_order_id", 64, True),
        _col("used_amount", sa.BigInteger(), True),
        _col("discount", sa.BigInteger(), True),
        _col("voided_at", TIME(), True),
        _str("void_reason", 255, True),
        _col("expired_at", TIME(), True),
        _fk("coupons", "program_id", "programs"),
        _fk("coupons", "template_id", "coupon_templates"),
        _fk("coupons", "member_id", "members"),
        _fk("coupons", "used_store_id", "stores"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_coupons")),
        sa.UniqueConstraint("program_id", "code", name=op.f("uq_coupons_program_id_code")),
        sa.UniqueConstraint("program_id", "issue_id", name=op.f("uq_coupons_program_id_issue_id")),
    )
    op.create_index("ix_coupons_member", "coupons", ["member_id", "id"])
    op.create_index("ix_coupons_template", "coupons", ["template_id", "status"])
    op.create_index("ix_coupons_due", "coupons", ["status", "valid_until"])


def _lotteries() -> None:
    op.create_table(
        "lotteries",
        _col("id", BIG),
        _col("program_id", BIG),
        _str("name", 120),
        _str("name_en", 120, True),
        _col("cost_points", sa.BigInteger()),
        _col("starts_at", TIME()),
        _col("ends_at", TIME()),
        _col("daily_limit", sa.Integer(), True),
        _str("status", 12),
        _col("created_at", TIME()),
        _col("updated_at", TIME()),
        _fk("lotteries", "program_id", "programs"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_lotteries")),
    )
    op.create_index("ix_lotteries_program", "lotteries", ["program_id", "id"])


def _lottery_prizes() -> None:
    op.create_table(
        "lottery_prizes",
        _col("id", BIG),
        _col("program_id", BIG),
        _col("lottery_id", BIG),
        _col("position", sa.Integer()),
        _str("name", 120),
        _str("kind", 12),
        _col("points", sa.BigInteger(), True),
        _col("template_id", BIG, True),
        _str("description", 255, True),
        _col("weight", sa.BigInteger()),
        _col("stock", sa.BigInteger(), True),
        _col("given", sa.BigInteger()),
        _col("unit_cost", sa.BigInteger(), True),
        _col("active", sa.Boolean()),
        _col("created_at", TIME()),
        _fk("lottery_prizes", "program_id", "programs"),
        _fk("lottery_prizes", "lottery_id", "lotteries"),
        _fk("lottery_prizes", "template_id", "coupon_templates"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_lottery_prizes")),
    )
    op.create_index("ix_lottery_prizes_lottery", "lottery_prizes", ["lottery_id", "active"])


def _lottery_draws() -> None:
    op.create_table(
        "lottery_draws",
        _col("id", BIG),
        _col("program_id", BIG),
        _col("lottery_id", BIG),
        _str("draw_id", 64),
        _col("member_id", BIG),
        _col("cost_points", sa.BigInteger()),
        _col("prize_id", BIG),
        _str("prize_kind", 12),
        _col("points_won", sa.BigInteger()),
        _col("coupon_id", BIG, True),
        _col("random_value", sa.BigInteger()),
        _col("total_weight", sa.BigInteger()),
        _str("request_hash", 64),
        _col("response", sa.JSON()),
        _col("drawn_at", TIME()),
        _col("handed_over_at", TIME(), True),
        _fk("lottery_draws", "program_id", "programs"),
        _fk("lottery_draws", "lottery_id", "lotteries"),
        _fk("lottery_draws", "member_id", "members"),
        _fk("lottery_draws", "prize_id", "lottery_prizes"),
        _fk("lottery_draws", "coupon_id", "coupons"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_lottery_draws")),
        sa.UniqueConstraint(
            "program_id", "draw_id", name=op.f("uq_lottery_draws_program_id_draw_id")
        ),
    )
    op.create_index("ix_lottery_draws_lottery", "lottery_draws", ["lottery_id", "id"])
    op.create_index(
        "ix_lottery_draws_member", "lottery_draws", ["member_id", "lottery_id", "drawn_at"]
    )


def downgrade() -> None:
    for table in ("lottery_draws", "lottery_prizes", "lotteries", "coupons", "coupon_templates"):
        op.drop_table(table)
