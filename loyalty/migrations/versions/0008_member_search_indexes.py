"""indexes for member search and the tier distribution at scale

A name prefix, a bare identifier value and members per tier were read by scanning every
member (or identifier) of the program; fine for a demo, seconds at a million members.

Revision ID: 0008
Revises: 0007
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        "ix_members_program_name",
        "members",
        ["program_id", "name"],
        postgresql_ops={"name": "varchar_pattern_ops"},
    )
    op.create_index(
        "ix_members_program_status_tier", "members", ["program_id", "status", "tier_code"]
    )
    op.create_index(
        "ix_member_identifiers_program_value", "member_identifiers", ["program_id", "value"]
    )


def downgrade() -> None:
    op.drop_index("ix_member_identifiers_program_value", table_name="member_identifiers")
    op.drop_index("ix_members_program_status_tier", table_name="members")
    op.drop_index("ix_members_program_name", table_name="members")
