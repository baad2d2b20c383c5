"""lots.sizing_hourly_cost_eur: the hourly cost each lot's clause was sized with

From lot.clause_sized; it converts subcontracted amounts into hours. Lots already known keep NULL, hence the
policy's default: their sizing parameters were not kept.

Revision ID: 0007_lot_sizing_hourly_cost
Revises: 0006_outbox_lz4
Create Date: 2026-12-05 15:59:05.525377
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = '0007_lot_sizing_hourly_cost'
down_revision = '0006_outbox_lz4'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('lots', schema=None) as batch_op:
        batch_op.add_column(sa.Column('sizing_hourly_cost_eur', sa.Numeric(precision=12, scale=2), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('lots', schema=None) as batch_op:
        batch_op.drop_column('sizing_hourly_cost_eur')
