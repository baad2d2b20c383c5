"""Infrastructure tables: outbox, inbox, dead letters.

Revision ID: 0001_infra
Revises:
"""

from shared.infra import create_infra_tables, drop_infra_tables

revision = "0001_infra"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    create_infra_tables()


def downgrade() -> None:
    drop_infra_tables()
