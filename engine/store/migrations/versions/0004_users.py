"""Users: accounts with their role, password hash and SSH public keys.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-28

The table starts empty: the first start after this migration creates the factory
administrator (engine.store.users.Users.ensure_factory_admin), as a new appliance does.
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "users",
        sa.Column("name", sa.String(32), primary_key=True),
        sa.Column("full_name", sa.String(128), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("password_hash", sa.String(255), nullable=False),
        sa.Column("authorized_keys", sa.Text(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("users")
