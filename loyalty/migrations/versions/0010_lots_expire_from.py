"""expiry finds members through a lower bound of their lots' expiry, and lots update in place

Expiring a lot rewrote it with new entries in every index of the lots, because an index of
open lots (``remaining > 0``) named the column expiry changes. That index goes; the expiry job
reaches the due lots through each member's ``lots_expire_from``, and the lots' pages keep half
their room free, so spending or expiring a lot is an in-place (HOT) update.

Revision ID: 0010
Revises: 0009
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from loyalty.db.base import UTCDateTime

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("members") as batch:
        batch.add_column(sa.Column("lots_expire_from", UTCDateTime(), nullable=True))
    op.execute(
        "UPDATE members SET lots_expire_from = (SELECT min(l.expires_at) FROM points_lots AS l "
        "WHERE l.member_id = members.id AND l.remaining > 0)"
    )
    op.create_index(
        "ix_members_lots_expire_from",
        "members",
        ["lots_expire_from"],
        postgresql_where=sa.text("lots_expire_from IS NOT NULL"),
        sqlite_where=sa.text("lots_expire_from IS NOT NULL"),
    )
    op.drop_index("ix_points_lots_due", table_name="points_lots")
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE points_lots SET (fillfactor = 50)")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE points_lots RESET (fillfactor)")
    op.create_index(
        "ix_points_lots_due",
        "points_lots",
        ["expires_at"],
        postgresql_where=sa.text("remaining > 0"),
        sqlite_where=sa.text("remaining > 0"),
    )
    op.drop_index("ix_members_lots_expire_from", table_name="members")
    # Not a batch (copy and drop) on SQLite: other tables' keys name the members table.
    op.execute("ALTER TABLE members DROP COLUMN lots_expire_from")
