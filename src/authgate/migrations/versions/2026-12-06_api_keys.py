"""api keys: authgate_api_keys (public part, keyed hash of the secret, expiry, revocation)

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-06 05:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import authgate.db

revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('authgate_api_keys',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('user_id', sa.String(length=36), nullable=False),
    sa.Column('tenant_scope', sa.String(length=36), nullable=False),
    sa.Column('name', sa.String(length=255), nullable=False),
    sa.Column('description', sa.String(length=1000), nullable=True),
    sa.Column('public_key', sa.String(length=64), nullable=False),
    sa.Column('secret_hash', sa.String(length=64), nullable=False),
    sa.Column('is_active', sa.Boolean(), nullable=False),
    sa.Column('expires_at', authgate.db.UtcDateTime(timezone=True), nullable=True),
    sa.Column('last_used_at', authgate.db.UtcDateTime(timezone=True), nullable=True),
    sa.Column('revoked_at', authgate.db.UtcDateTime(timezone=True), nullable=True),
    sa.Column('created_at', authgate.db.UtcDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['authgate_users.id'], name=op.f('fk_authgate_api_keys_user_id_authgate_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_authgate_api_keys')),
    sa.UniqueConstraint('public_key', name=op.f('uq_authgate_api_keys_public_key'))
    )
    with op.batch_alter_table('authgate_api_keys', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_authgate_api_keys_user_id'), ['user_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('authgate_api_keys', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_authgate_api_keys_user_id'))
    op.drop_table('authgate_api_keys')
