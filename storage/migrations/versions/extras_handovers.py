"""Handovers: a patient's request to talk to a person, taken and closed by staff.

Revision ID: extras_handovers
Revises: 0001
"""
from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "extras_handovers"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Frozen copies of storage/columns.py's types as of this revision.
BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
Timestamp = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table("handovers",
        sa.Column("id", BigId, nullable=False),
        sa.Column("user_id", BigId, nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("taken_by", BigId, nullable=True),
        sa.Column("opened_at", Timestamp, nullable=False),
        sa.Column("taken_at", Timestamp, nullable=True),
        sa.Column("closed_at", Timestamp, nullable=True),
        sa.Column("closed_by", BigId, nullable=True),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_handovers_user_id_users"),
                                ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["taken_by"], ["staff_accounts.id"],
                                name=op.f("fk_handovers_taken_by_staff_accounts"), ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["closed_by"], ["staff_accounts.id"],
                                name=op.f("fk_handovers_closed_by_staff_accounts"), ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_handovers")),
    )
    op.create_index("ix_handovers_user_id", "handovers", ["user_id"])
    op.create_index("ix_handovers_status_opened_at", "handovers", ["status", "opened_at"])


def downgrade() -> None:
    op.drop_index("ix_handovers_status_opened_at", table_name="handovers")
    op.drop_index("ix_handovers_user_id", table_name="handovers")
    op.drop_table("handovers")
