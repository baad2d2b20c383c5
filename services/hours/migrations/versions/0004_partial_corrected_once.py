"""unique corrects_id as a partial index: only corrections are indexed (the bulk import writes one B-tree less)

Revision ID: 0004_partial_corrected_once
Revises: 0003_entries_placements_imports
Create Date: 2026-11-22 05:43:55.793394
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0004_partial_corrected_once'
down_revision = '0003_entries_placements_imports'
branch_labels = None
depends_on = None

ONLY_CORRECTIONS = sa.text('corrects_id IS NOT NULL')


def upgrade() -> None:
    with op.batch_alter_table('hour_entries', schema=None) as batch_op:
        batch_op.drop_constraint('uq_hour_entry_corrected_once', type_='unique')
        batch_op.create_index('uq_hour_entry_corrected_once', ['corrects_id'], unique=True,
                              sqlite_where=ONLY_CORRECTIONS, postgresql_where=ONLY_CORRECTIONS)


def downgrade() -> None:
    with op.batch_alter_table('hour_entries', schema=None) as batch_op:
        batch_op.drop_index('uq_hour_entry_corrected_once')
        batch_op.create_unique_constraint('uq_hour_entry_corrected_once', ['corrects_id'])
