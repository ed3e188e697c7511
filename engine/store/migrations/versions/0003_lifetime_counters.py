"""Lifetime counters: each counter's lifetime value and its value since resetcounters.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-28
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "lifetime_counters",
        sa.Column("scope", sa.String(255), primary_key=True),
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("lifetime", sa.BigInteger(), nullable=False),
        sa.Column("since_reset", sa.BigInteger(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("lifetime_counters")
