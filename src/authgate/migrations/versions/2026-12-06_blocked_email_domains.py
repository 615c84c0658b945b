"""blocked e-mail domains (email_auth.disposable; managed in the admin console)

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-06 04:30:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import authgate.db

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('authgate_blocked_email_domains',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('domain', sa.String(length=253), nullable=False),
    sa.Column('source', sa.String(length=16), nullable=False),
    sa.Column('created_at', authgate.db.UtcDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_authgate_blocked_email_domains')),
    sa.UniqueConstraint('domain', name=op.f('uq_authgate_blocked_email_domains_domain'))
    )


def downgrade() -> None:
    op.drop_table('authgate_blocked_email_domains')
