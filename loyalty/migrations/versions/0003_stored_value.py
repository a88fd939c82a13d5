"""stored value wallet

Revision ID: 0003
Revises: 0002
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import loyalty.db.base

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BIG = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
TIME = loyalty.db.base.UTCDateTime


def _fk(table: str, column: str, target: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        [column], [f"{target}.id"], name=op.f(f"fk_{table}_{column}_{target}")
    )


def upgrade() -> None:
    op.create_table(
        "wallets",
        sa.Column("id", BIG, nullable=False),
        sa.Column("program_id", BIG, nullable=False),
        sa.Column("member_id", BIG, nullable=False),
        sa.Column("balance", sa.BigInteger(), nullable=False),
        sa.Column("principal", sa.BigInteger(), nullable=False),
        sa.Column("bonus", sa.BigInteger(), nullable=False),
        sa.Column("topped_up", sa.BigInteger(), nullable=False),
        sa.Column("bonus_given", sa.BigInteger(), nullable=False),
        sa.Column("paid", sa.BigInteger(), nullable=False),
        sa.Column("refunded", sa.BigInteger(), nullable=False),
        sa.Column("created_at", TIME(), nullable=False),
        sa.Column("updated_at", TIME(), nullable=False),
        _fk("wallets", "member_id", "members"),
        _fk("wallets", "program_id", "programs"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_wallets")),
        sa.UniqueConstraint("member_id", name=op.f("uq_wallets_member_id")),
    )
    op.create_table(
        "wallet_entries",
        sa.Column("id", BIG, nullable=False),
        sa.Column("program_id", BIG, nullable=False),
        sa.Column("member_id", BIG, nullable=False),
        sa.Column("kind", sa.String(length=12), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("principal", sa.BigInteger(), nullable=False),
        sa.Column("bonus", sa.BigInteger(), nullable=False),
        sa.Column("balance_after", sa.BigInteger(), nullable=False),
        sa.Column("occurred_at", TIME(), nullable=False),
        sa.Column("recorded_at", TIME(), nullable=False),
        sa.Column("source_type", sa.String(length=16), nullable=False),
        sa.Column("source_id", sa.String(length=64), nullable=True),
        sa.Column("store_id", BIG, nullable=True),
        sa.Column("description", sa.String(length=255), nullable=True),
        sa.Column("description_en", sa.String(length=255), nullable=True),
        sa.Column("actor", sa.String(length=64), nullable=True),
        _fk("wallet_entries", "member_id", "members"),
        _fk("wallet_entries", "program_id", "programs"),
        _fk("wallet_entries", "store_id", "stores"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_wallet_entries")),
    )
    op.create_index("ix_wallet_entries_member", "wallet_entries", ["member_id", "id"])
    op.create_index(
        "ix_wallet_entries_program_time", "wallet_entries", ["program_id", "occurred_at"]
    )
    op.create_table(
        "wallet_top_up_bonuses",
        sa.Column("id", BIG, nullable=False),
        sa.Column("program_id", BIG, nullable=False),
        sa.Column("min_amount", sa.BigInteger(), nullable=False),
        sa.Column("bonus_points", sa.BigInteger(), nullable=False),
        sa.Column("bonus_amount", sa.BigInteger(), nullable=False),
        sa.Column("created_at", TIME(), nullable=False),
        _fk("wallet_top_up_bonuses", "program_id", "programs"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_wallet_top_up_bonuses")),
        sa.UniqueConstraint(
            "program_id",
            "min_amount",
            name=op.f("uq_wallet_top_up_bonuses_program_id_min_amount"),
        ),
    )
    op.create_table(
        "wallet_top_ups",
        sa.Column("id", BIG, nullable=False),
        sa.Column("program_id", BIG, nullable=False),
        sa.Column("top_up_id", sa.String(length=64), nullable=False),
        sa.Column("member_id", BIG, nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("bonus_amount", sa.BigInteger(), nullable=False),
        sa.Column("bonus_points", sa.BigInteger(), nullable=False),
        sa.Column("bonus_tier", sa.JSON(), nullable=True),
        sa.Column("payment_method", sa.String(length=32), nullable=True),
        sa.Column("store_id", BIG, nullable=True),
        sa.Column("request_hash", sa.String(length=64), nullable=False),
        sa.Column("response", sa.JSON(), nullable=False),
        sa.Column("created_at", TIME(), nullable=False),
        _fk("wallet_top_ups", "member_id", "members"),
        _fk("wallet_top_ups", "program_id", "programs"),
        _fk("wallet_top_ups", "store_id", "stores"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_wallet_top_ups")),
        sa.UniqueConstraint(
            "program_id", "top_up_id", name=op.f("uq_wallet_top_ups_program_id_top_up_id")
        ),
    )
    op.create_index("ix_wallet_top_ups_member", "wallet_top_ups", ["member_id"])
    op.create_table(
        "wallet_payments",
        sa.Column("id", BIG, nullable=False),
        sa.Column("program_id", BIG, nullable=False),
        sa.Column("payment_id", sa.String(length=64), nullable=False),
        sa.Column("member_id", BIG, nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("principal", sa.BigInteger(), nullable=False),
        sa.Column("bonus", sa.BigInteger(), nullable=False),
        sa.Column("refunded_amount", sa.BigInteger(), nullable=False),
        sa.Column("refunded_principal", sa.BigInteger(), nullable=False),
        sa.Column("refunded_bonus", sa.BigInteger(), nullable=False),
        sa.Column("order_id", sa.String(length=64), nullable=True),
        sa.Column("store_id", BIG, nullable=True),
        sa.Column("request_hash", sa.String(length=64), nullable=False),
        sa.Column("response", sa.JSON(), nullable=False),
        sa.Column("created_at", TIME(), nullable=False),
        _fk("wallet_payments", "member_id", "members"),
        _fk("wallet_payments", "program_id", "programs"),
        _fk("wallet_payments", "store_id", "stores"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_wallet_payments")),
        sa.UniqueConstraint(
            "program_id", "payment_id", name=op.f("uq_wallet_payments_program_id_payment_id")
        ),
    )
    op.create_index("ix_wallet_payments_member", "wallet_payments", ["member_id"])
    op.create_table(
        "wallet_refunds",
        sa.Column("id", BIG, nullable=False),
        sa.Column("program_id", BIG, nullable=False),
        sa.Column("payment_pk", BIG, nullable=False),
        sa.Column("refund_id", sa.String(length=64), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("principal", sa.BigInteger(), nullable=False),
        sa.Column("bonus", sa.BigInteger(), nullable=False),
        sa.Column("request_hash", sa.String(length=64), nullable=False),
        sa.Column("response", sa.JSON(), nullable=False),
        sa.Column("created_at", TIME(), nullable=False),
        _fk("wallet_refunds", "payment_pk", "wallet_payments"),
        _fk("wallet_refunds", "program_id", "programs"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_wallet_refunds")),
        sa.UniqueConstraint(
            "program_id", "refund_id", name=op.f("uq_wallet_refunds_program_id_refund_id")
        ),
    )


def downgrade() -> None:
    op.drop_table("wallet_refunds")
    op.drop_index("ix_wallet_payments_member", table_name="wallet_payments")
    op.drop_table("wallet_payments")
    op.drop_index("ix_wallet_top_ups_member", table_name="wallet_top_ups")
    op.drop_table("wallet_top_ups")
    op.drop_table("wallet_top_up_bonuses")
    op.drop_index("ix_wallet_entries_program_time", table_name="wallet_entries")
    op.drop_index("ix_wallet_entries_member", table_name="wallet_entries")
    op.drop_table("wallet_entries")
    op.drop_table("wallets")
