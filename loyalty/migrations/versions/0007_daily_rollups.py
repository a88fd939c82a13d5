"""daily rollups for the dashboard

The tables start empty: the first ``loyalty jobs run rollups`` (or ``loyalty worker``) folds
the existing journal in, in chunks; until then the dashboard reads the journal itself.

Revision ID: 0007
Revises: 0006
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import loyalty.db.base

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BIG = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _program(table: str) -> list[sa.schema.SchemaItem]:
    return [
        sa.Column("program_id", BIG, autoincrement=False, nullable=False),
        sa.ForeignKeyConstraint(
            ["program_id"], ["programs.id"], name=op.f(f"fk_{table}_program_id_programs")
        ),
    ]


def upgrade() -> None:
    op.create_table(
        "points_daily",
        *_program("points_daily"),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("store_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("kind", sa.String(length=12), nullable=False),
        sa.Column("points", sa.BigInteger(), nullable=False),
        sa.Column("entries", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint(
            "program_id", "day", "store_id", "kind", name=op.f("pk_points_daily")
        ),
    )
    op.create_table(
        "members_daily",
        *_program("members_daily"),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("store_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("registered", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("program_id", "day", "store_id", name=op.f("pk_members_daily")),
    )
    op.create_table(
        "member_activity",
        *_program("member_activity"),
        sa.Column("month", sa.Date(), nullable=False),
        sa.Column("store_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("member_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("days", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint(
            "program_id", "month", "store_id", "member_id", name=op.f("pk_member_activity")
        ),
    )
    op.create_table(
        "rollup_state",
        *_program("rollup_state"),
        sa.Column("name", sa.String(length=16), nullable=False),
        sa.Column("last_id", sa.BigInteger(), nullable=False),
        sa.Column("net_points", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", loyalty.db.base.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("program_id", "name", name=op.f("pk_rollup_state")),
    )


def downgrade() -> None:
    for table in ("rollup_state", "member_activity", "members_daily", "points_daily"):
        op.drop_table(table)
