"""Big bodies in spool files: the file a message's body is in, and where its bytes go.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-06

A body from 1 MB on is written to ``<data>/spool/<name>`` before its row commits
(engine/store/spool.py), so the one group-commit writer never writes megabytes for it
(issue 14: small mail waited seconds behind big bodies).  ``spool`` names the file
(NULL: the body is all in ``body``); ``spool_at`` is where the file's bytes go in
``body`` (0 for an accepted message, whose ``body`` is empty; after a journal copy's head,
whose file is its original's).  Both NULL for every row stored before.  The index holds
only the rows that name a file, so finding a file's messages never reads the history.
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # ALTER TABLE ... ADD COLUMN: the table is not copied, however long its history
    op.add_column("messages", sa.Column("spool", sa.Text(), nullable=True))
    op.add_column("messages", sa.Column("spool_at", sa.Integer(), nullable=True))
    op.create_index("ix_messages_spool", "messages", ["spool"],
                    sqlite_where=sa.text("spool IS NOT NULL"))


def downgrade() -> None:
    op.drop_index("ix_messages_spool", "messages")
    with op.batch_alter_table("messages") as batch:
        batch.drop_column("spool_at")
        batch.drop_column("spool")
