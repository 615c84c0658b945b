"""admin console: the audit log of admin changes

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-06 05:05:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import authgate.db

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('authgate_admin_audit',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('at', authgate.db.UtcDateTime(timezone=True), nullable=False),
    sa.Column('actor_id', sa.String(length=36), nullable=True),
    sa.Column('actor_email', sa.String(length=320), nullable=True),
    sa.Column('action', sa.String(length=64), nullable=False),
    sa.Column('target', sa.String(length=255), nullable=True),
    sa.Column('ip_address', sa.String(length=64), nullable=True),
    sa.Column('details', sa.JSON(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_authgate_admin_audit'))
    )
    with op.batch_alter_table('authgate_admin_audit', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_authgate_admin_audit_at'), ['at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('authgate_admin_audit', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_authgate_admin_audit_at'))
    op.drop_table('authgate_admin_audit')
