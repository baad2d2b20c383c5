"""criterion_checks.recorded_by: the facilitator who recorded each check (DOMAIN.md: "proof checked on date D by
whom"). Checks recorded before keep NULL.

Revision ID: 0005_checks_recorded_by
Revises: 0004_candidate_indexes
Create Date: 2026-12-05 16:12:13.708571
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = '0005_checks_recorded_by'
down_revision = '0004_candidate_indexes'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('criterion_checks', schema=None) as batch_op:
        batch_op.add_column(sa.Column('recorded_by', sa.String(length=200), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('criterion_checks', schema=None) as batch_op:
        batch_op.drop_column('recorded_by')
