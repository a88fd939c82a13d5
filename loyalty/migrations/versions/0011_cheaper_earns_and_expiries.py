"""no keys on programs and stores in the busiest tables; members are rewritten in place

Every row written with a foreign key on ``programs`` made PostgreSQL lock the program's one
row, and concurrent writers shared that lock (a multixact); the store's row likewise. That was
half of what an earn cost the database. Programs and stores are never deleted and writers take
their ids from rows they have just read, so the journal, lots, orders, outbox and idempotency
keys drop them; the keys on members stay.

An order rewrites its member's balances and an expiry their ``lots_expire_from``. That column's
index goes (the expiry job walks the members in id order instead), and the members' pages keep
a fifth of their room free, so both rewrites stay on their page without touching an index.

Revision ID: 0011
Revises: 0010
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

KEYS = {
    "points_entries": ("programs", "stores"),
    "points_lots": ("programs",),
    "orders": ("programs", "stores"),
    "outbox_events": ("programs",),
    "idempotency_keys": ("programs",),
}
COLUMN = {"programs": "program_id", "stores": "store_id"}
BOUND = "ix_members_lots_expire_from"


def _name(table: str, referred: str) -> str:
    return f"fk_{table}_{COLUMN[referred]}_{referred}"


def upgrade() -> None:
    for table, referred in KEYS.items():
        with op.batch_alter_table(table) as batch:
            for target in referred:
                batch.drop_constraint(_name(table, target), type_="foreignkey")
    op.drop_index(BOUND, table_name="members")
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE members SET (fillfactor = 80)")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE members RESET (fillfactor)")
    where = sa.text("lots_expire_from IS NOT NULL")
    op.create_index(
        BOUND, "members", ["lots_expire_from"], postgresql_where=where, sqlite_where=where
    )
    for table, referred in KEYS.items():
        with op.batch_alter_table(table) as batch:
            for target in referred:
                batch.create_foreign_key(_name(table, target), target, [COLUMN[target]], ["id"])
