"""tasks, events and referrals

Revision ID: 0003t
Revises: 0003
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import loyalty.db.base

revision: str = "0003t"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BIG = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "tasks",
        sa.Column("id", BIG, nullable=False),
        sa.Column("program_id", BIG, nullable=False),
        sa.Column("type", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=80), nullable=False),
        sa.Column("name_en", sa.String(length=80), nullable=True),
        sa.Column("points", sa.BigInteger(), nullable=False),
        sa.Column("daily_limit", sa.Integer(), nullable=True),
        sa.Column("lifetime_limit", sa.Integer(), nullable=True),
        sa.Column("streak_bonuses", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("created_at", loyalty.db.base.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["program_id"], ["programs.id"],
                                name=op.f("fk_tasks_program_id_programs")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tasks")),
        sa.UniqueConstraint("program_id", "type", name=op.f("uq_tasks_program_id_type")),
    )
    op.create_table(
        "events",
        sa.Column("id", BIG, nullable=False),
        sa.Column("program_id", BIG, nullable=False),
        sa.Column("event_id", sa.String(length=64), nullable=False),
        sa.Column("member_id", BIG, nullable=False),
        sa.Column("type", sa.String(length=32), nullable=False),
        sa.Column("occurred_at", loyalty.db.base.UTCDateTime(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("streak", sa.Integer(), nullable=False),
        sa.Column("points", sa.BigInteger(), nullable=False),
        sa.Column("request_hash", sa.String(length=64), nullable=False),
        sa.Column("response", sa.JSON(), nullable=False),
        sa.Column("created_at", loyalty.db.base.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["member_id"], ["members.id"],
                                name=op.f("fk_events_member_id_members")),
        sa.ForeignKeyConstraint(["program_id"], ["programs.id"],
                                name=op.f("fk_events_program_id_programs")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_events")),
        sa.UniqueConstraint("program_id", "event_id", name=op.f("uq_events_program_id_event_id")),
    )
    op.create_index("ix_events_member_type_day", "events", ["member_id", "type", "day"])
    op.create_table(
        "referral_rewards",
        sa.Column("id", BIG, nullable=False),
        sa.Column("program_id", BIG, nullable=False),
        sa.Column("referee_id", BIG, nullable=False),
        sa.Column("referrer_id", BIG, nullable=False),
        sa.Column("level", sa.Integer(), nullable=False),
        sa.Column("points", sa.BigInteger(), nullable=False),
        sa.Column("trigger", sa.String(length=16), nullable=False),
        sa.Column("created_at", loyalty.db.base.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["program_id"], ["programs.id"],
                                name=op.f("fk_referral_rewards_program_id_programs")),
        sa.ForeignKeyConstraint(["referee_id"], ["members.id"],
                                name=op.f("fk_referral_rewards_referee_id_members")),
        sa.ForeignKeyConstraint(["referrer_id"], ["members.id"],
                                name=op.f("fk_referral_rewards_referrer_id_members")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_referral_rewards")),
        sa.UniqueConstraint("referee_id", "level",
                            name=op.f("uq_referral_rewards_referee_id_level")),
    )
    op.create_table(
        "referral_settings",
        sa.Column("id", BIG, nullable=False),
        sa.Column("program_id", BIG, nullable=False),
        sa.Column("levels", sa.JSON(), nullable=False),
        sa.Column("trigger", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("updated_at", loyalty.db.base.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["program_id"], ["programs.id"],
                                name=op.f("fk_referral_settings_program_id_programs")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_referral_settings")),
        sa.UniqueConstraint("program_id", name=op.f("uq_referral_settings_program_id")),
    )


def downgrade() -> None:
    op.drop_table("referral_settings")
    op.drop_table("referral_rewards")
    op.drop_index("ix_events_member_type_day", table_name="events")
    op.drop_table("events")
    op.drop_table("tasks")
