"""the store on each lot, so expiries are written per member and store

The expiry job wrote one entry per lot: ten lots due together meant ten lines in the member's
history and ten rows to write. It now writes one per member and issuing store; the lot keeps
its store so the expiry still counts for the store that issued the points.

Revision ID: 0009
Revises: 0008
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("points_lots") as batch:
        batch.add_column(sa.Column("store_id", sa.BigInteger(), nullable=True))
    op.execute(
        "UPDATE points_lots SET store_id = (SELECT e.store_id FROM points_entries AS e "
        "WHERE e.id = points_lots.entry_id) "
        "WHERE entry_id IS NOT NULL"
    )


def downgrade() -> None:
    with op.batch_alter_table("points_lots") as batch:
        batch.drop_column("store_id")
