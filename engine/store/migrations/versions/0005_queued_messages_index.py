"""The queued messages found without reading the history: an index on (state, received_at, size).

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-06

``status``, ``rate`` and /xml/status ask for the queued messages' size and the oldest of
them.  With only an index on ``state`` they read every message ever stored (issue 14:
``status`` slowed from 0.09 s to 0.34 s over 75k messages); this index answers them from
the queued messages' entries alone (engine/observe/stats.py).  It replaces the index on
``state`` (a prefix of it).
"""

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_messages_state_received", "messages", ["state", "received_at", "size"])
    op.drop_index("ix_messages_state", "messages")


def downgrade() -> None:
    op.create_index("ix_messages_state", "messages", ["state"])
    op.drop_index("ix_messages_state_received", "messages")
