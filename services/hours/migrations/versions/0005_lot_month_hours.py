"""lot_month_hours: each lot's counted hours per month, kept with the entries; the lot/month index of entries goes

Revision ID: 0005_lot_month_hours
Revises: 0004_partial_corrected_once
Create Date: 2026-11-22 08:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = '0005_lot_month_hours'
down_revision = '0004_partial_corrected_once'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('lot_month_hours',
    sa.Column('lot_id', sa.Uuid(), nullable=False),
    sa.Column('month', sqlmodel.sql.sqltypes.AutoString(length=7), nullable=False),
    sa.Column('hundredths', sa.Integer(), nullable=False),
    sa.CheckConstraint('hundredths >= 0', name='ck_lot_month_hours_non_negative'),
    sa.PrimaryKeyConstraint('lot_id', 'month')
    )
    # the totals of the entries already there: the current version of each (the one no other entry corrects)
    op.execute(
        "INSERT INTO lot_month_hours (lot_id, month, hundredths) "
        "SELECT e.lot_id, e.month, SUM(e.hundredths) FROM hour_entries e "
        "WHERE NOT EXISTS (SELECT 1 FROM hour_entries c WHERE c.corrects_id = e.id) "
        "GROUP BY e.lot_id, e.month"
    )
    with op.batch_alter_table('hour_entries', schema=None) as batch_op:
        batch_op.drop_index('ix_hour_entries_lot_month')


def downgrade() -> None:
    with op.batch_alter_table('hour_entries', schema=None) as batch_op:
        batch_op.create_index('ix_hour_entries_lot_month', ['lot_id', 'month'], unique=False)
    op.drop_table('lot_month_hours')
