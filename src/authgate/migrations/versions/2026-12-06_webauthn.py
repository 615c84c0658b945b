"""webauthn: passkeys (public-key credentials) and their server-side ceremony challenges

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-06 05:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import authgate.db

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('authgate_webauthn_credentials',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('user_id', sa.String(length=36), nullable=False),
    sa.Column('credential_id', sa.String(length=1400), nullable=False),
    sa.Column('public_key', sa.String(length=2048), nullable=False),
    sa.Column('sign_count', sa.BigInteger(), nullable=False),
    sa.Column('name', sa.String(length=255), nullable=False),
    sa.Column('transports', sa.String(length=255), nullable=False),
    sa.Column('aaguid', sa.String(length=36), nullable=False),
    sa.Column('backup_eligible', sa.Boolean(), nullable=False),
    sa.Column('backed_up', sa.Boolean(), nullable=False),
    sa.Column('last_used_at', authgate.db.UtcDateTime(timezone=True), nullable=True),
    sa.Column('created_at', authgate.db.UtcDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['authgate_users.id'], name=op.f('fk_authgate_webauthn_credentials_user_id_authgate_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_authgate_webauthn_credentials')),
    sa.UniqueConstraint('credential_id', name=op.f('uq_authgate_webauthn_credentials_credential_id'))
    )
    with op.batch_alter_table('authgate_webauthn_credentials', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_authgate_webauthn_credentials_user_id'), ['user_id'], unique=False)

    op.create_table('authgate_webauthn_challenges',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('challenge_hash', sa.String(length=64), nullable=False),
    sa.Column('purpose', sa.String(length=16), nullable=False),
    sa.Column('user_id', sa.String(length=36), nullable=True),
    sa.Column('session_id', sa.String(length=64), nullable=True),
    sa.Column('expires_at', authgate.db.UtcDateTime(timezone=True), nullable=False),
    sa.Column('created_at', authgate.db.UtcDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['authgate_users.id'], name=op.f('fk_authgate_webauthn_challenges_user_id_authgate_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_authgate_webauthn_challenges')),
    sa.UniqueConstraint('challenge_hash', name=op.f('uq_authgate_webauthn_challenges_challenge_hash'))
    )
    with op.batch_alter_table('authgate_webauthn_challenges', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_authgate_webauthn_challenges_expires_at'), ['expires_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_authgate_webauthn_challenges_user_id'), ['user_id'], unique=False)


def downgrade() -> None:
    op.drop_table('authgate_webauthn_challenges')
    op.drop_table('authgate_webauthn_credentials')
