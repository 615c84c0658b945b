"""admin console: admin accounts and their sessions

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-06 05:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import authgate.db

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('authgate_admin_users',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('email', sa.String(length=320), nullable=False),
    sa.Column('name', sa.String(length=255), nullable=True),
    sa.Column('password_hash', sa.String(length=255), nullable=False),
    sa.Column('metadata', sa.JSON(), nullable=False),
    sa.Column('last_login_at', authgate.db.UtcDateTime(timezone=True), nullable=True),
    sa.Column('token_version', sa.Integer(), nullable=False),
    sa.Column('totp_secret_enc', sa.String(length=512), nullable=True),
    sa.Column('totp_enabled', sa.Boolean(), nullable=False),
    sa.Column('totp_last_step', sa.Integer(), nullable=True),
    sa.Column('created_at', authgate.db.UtcDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', authgate.db.UtcDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_authgate_admin_users')),
    sa.UniqueConstraint('email', name=op.f('uq_authgate_admin_users_email'))
    )
    op.create_table('authgate_admin_sessions',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('admin_id', sa.String(length=36), nullable=False),
    sa.Column('ip_address', sa.String(length=64), nullable=True),
    sa.Column('user_agent', sa.String(length=512), nullable=True),
    sa.Column('created_at', authgate.db.UtcDateTime(timezone=True), nullable=False),
    sa.Column('expires_at', authgate.db.UtcDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['admin_id'], ['authgate_admin_users.id'], name=op.f('fk_authgate_admin_sessions_admin_id_authgate_admin_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_authgate_admin_sessions'))
    )
    with op.batch_alter_table('authgate_admin_sessions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_authgate_admin_sessions_admin_id'), ['admin_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('authgate_admin_sessions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_authgate_admin_sessions_admin_id'))
    op.drop_table('authgate_admin_sessions')
    op.drop_table('authgate_admin_users')
