"""person_firsts: each person's first month with counted hours, over all buyers and per buyer (decision 9)

Revision ID: 0004_person_firsts
Revises: 0003_projections
Create Date: 2026-11-22 08:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = '0004_person_firsts'
down_revision = '0003_projections'
branch_labels = None
depends_on = None

NIL = "00000000-0000-0000-0000-000000000000"


def upgrade() -> None:
    op.create_table('person_firsts',
    sa.Column('buyer_id', sa.Uuid(), nullable=False),
    sa.Column('beneficiary_id', sa.Uuid(), nullable=False),
    sa.Column('first_month', sqlmodel.sql.sqltypes.AutoString(length=7), nullable=False),
    sa.PrimaryKeyConstraint('buyer_id', 'beneficiary_id'),
    sqlite_with_rowid=False
    )
    with op.batch_alter_table('person_firsts', schema=None) as batch_op:
        batch_op.create_index('ix_person_firsts_month', ['buyer_id', 'first_month'], unique=False)
    # fill it from the months already projected, so the reports stay right without a rebuild
    nil = "'00000000000000000000000000000000'" if op.get_bind().dialect.name == "sqlite" else f"CAST('{NIL}' AS uuid)"
    op.execute(
        "INSERT INTO person_firsts (buyer_id, beneficiary_id, first_month) "
        "SELECT buyer_id, beneficiary_id, min(month) FROM person_months WHERE centi > 0 "
        "GROUP BY buyer_id, beneficiary_id"
    )
    op.execute(
        "INSERT INTO person_firsts (buyer_id, beneficiary_id, first_month) "
        f"SELECT {nil}, beneficiary_id, min(month) FROM person_months WHERE centi > 0 GROUP BY beneficiary_id"
    )


def downgrade() -> None:
    with op.batch_alter_table('person_firsts', schema=None) as batch_op:
        batch_op.drop_index('ix_person_firsts_month')
    op.drop_table('person_firsts')
