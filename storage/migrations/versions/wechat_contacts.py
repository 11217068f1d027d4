"""Per-patient reachability on a messenger: the last inbound message (the 48-hour customer-service window),
unreachable since (unsubscribed), and the option data of the last numbered prompt.

Revision ID: wechat_contacts
Revises: 0001
"""
from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "wechat_contacts"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Frozen copies of storage/columns.py's types as of this revision.
BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
Json = sa.JSON(none_as_null=True).with_variant(postgresql.JSONB(none_as_null=True), "postgresql")
Timestamp = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table("channel_contacts",
        sa.Column("user_id", BigId, nullable=False),
        sa.Column("last_inbound_at", Timestamp, nullable=True),
        sa.Column("unreachable_at", Timestamp, nullable=True),
        sa.Column("prompt_options", Json, nullable=True),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"],
                                name=op.f("fk_channel_contacts_user_id_users"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_channel_contacts")),
    )


def downgrade() -> None:
    op.drop_table("channel_contacts")
