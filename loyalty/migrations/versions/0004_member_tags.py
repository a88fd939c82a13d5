"""member tags (segments)

Revision ID: 0004
Revises: 0003t
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import loyalty.db.base

revision: str = "0004"
down_revision: str | None = "0003t"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BIG = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "member_tags",
        sa.Column("id", BIG, nullable=False),
        sa.Column("program_id", BIG, nullable=False),
        sa.Column("member_id", BIG, nullable=False),
        sa.Column("tag", sa.String(length=64), nullable=False),
        sa.Column("created_at", loyalty.db.base.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["member_id"], ["members.id"],
                                name=op.f("fk_member_tags_member_id_members")),
        sa.ForeignKeyConstraint(["program_id"], ["programs.id"],
                                name=op.f("fk_member_tags_program_id_programs")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_member_tags")),
        sa.UniqueConstraint("member_id", "tag", name=op.f("uq_member_tags_member_id_tag")),
    )


def downgrade() -> None:
    op.drop_table("member_tags")
