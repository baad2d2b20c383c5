"""placements.eligible_until: the last day of the person's clause eligibility window, from `placement.started`
(matching's policy); hours after its month do not count. Placements received before keep NULL (not checked).

Revision ID: 0008_placements_eligible_until
Revises: 0007_lot_sizing_hourly_cost
Create Date: 2026-12-05 17:10:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = '0008_placements_eligible_until'
down_revision = '0007_lot_sizing_hourly_cost'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('placements', schema=None) as batch_op:
        batch_op.add_column(sa.Column('eligible_until', sa.Date(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('placements', schema=None) as batch_op:
        batch_op.drop_column('eligible_until')
