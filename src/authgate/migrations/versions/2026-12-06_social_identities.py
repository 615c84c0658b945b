"""identities (provider accounts linked to users) and oauth_grants (code-flow state and
one-time results)

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-06 05:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import authgate.db

revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('authgate_identities',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('user_id', sa.String(length=36), nullable=False),
    sa.Column('tenant_scope', sa.String(length=36), nullable=False),
    sa.Column('provider', sa.String(length=64), nullable=False),
    sa.Column('subject', sa.String(length=255), nullable=False),
    sa.Column('email', sa.String(length=320), nullable=True),
    sa.Column('email_verified', sa.Boolean(), nullable=False),
    sa.Column('metadata', sa.JSON(), nullable=False),
    sa.Column('created_at', authgate.db.UtcDateTime(timezone=True), nullable=False),
    sa.Column('last_used_at', authgate.db.UtcDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['user_id'], ['authgate_users.id'], name=op.f('fk_authgate_identities_user_id_authgate_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_authgate_identities')),
    sa.UniqueConstraint('tenant_scope', 'provider', 'subject', name=op.f('uq_authgate_identities_tenant_scope_provider_subject'))
    )
    with op.batch_alter_table('authgate_identities', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_authgate_identities_user_id'), ['user_id'], unique=False)

    op.create_table('authgate_oauth_grants',
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('provider', sa.String(length=64), nullable=False),
    sa.Column('payload', sa.Text(), nullable=False),
    sa.Column('expires_at', authgate.db.UtcDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_authgate_oauth_grants'))
    )
    with op.batch_alter_table('authgate_oauth_grants', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_authgate_oauth_grants_expires_at'), ['expires_at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('authgate_oauth_grants', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_authgate_oauth_grants_expires_at'))
    op.drop_table('authgate_oauth_grants')
    with op.batch_alter_table('authgate_identities', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_authgate_identities_user_id'))
    op.drop_table('authgate_identities')
