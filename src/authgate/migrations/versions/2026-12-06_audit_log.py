"""audit log: authgate_audit_log (user, admin, CLI and system events in one table, the admin
audit rows moved into it) and authgate_webhook_deliveries (the webhook outbox)

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-06 08:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import authgate.db

revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('authgate_audit_log',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('at', authgate.db.UtcDateTime(timezone=True), nullable=False),
    sa.Column('event', sa.String(length=64), nullable=False),
    sa.Column('actor_type', sa.String(length=16), nullable=False),
    sa.Column('actor_id', sa.String(length=36), nullable=True),
    sa.Column('actor_email', sa.String(length=320), nullable=True),
    sa.Column('user_id', sa.String(length=36), nullable=True),
    sa.Column('target', sa.String(length=255), nullable=True),
    sa.Column('outcome', sa.String(length=16), nullable=False),
    sa.Column('tenant_id', sa.String(length=36), nullable=True),
    sa.Column('ip_address', sa.String(length=64), nullable=True),
    sa.Column('user_agent', sa.String(length=512), nullable=True),
    sa.Column('details', sa.JSON(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_authgate_audit_log'))
    )
    with op.batch_alter_table('authgate_audit_log', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_authgate_audit_log_at'), ['at'], unique=False)
        batch_op.create_index('ix_authgate_audit_log_user_id_at', ['user_id', 'at'],
                              unique=False)
    op.create_table('authgate_webhook_deliveries',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('audit_id', sa.String(length=36), nullable=False),
    sa.Column('endpoint', sa.String(length=64), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('next_at', authgate.db.UtcDateTime(timezone=True), nullable=False),
    sa.Column('last_status', sa.Integer(), nullable=True),
    sa.Column('last_error', sa.String(length=255), nullable=True),
    sa.Column('created_at', authgate.db.UtcDateTime(timezone=True), nullable=False),
    sa.Column('delivered_at', authgate.db.UtcDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['audit_id'], ['authgate_audit_log.id'], name=op.f('fk_authgate_webhook_deliveries_audit_id_authgate_audit_log'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_authgate_webhook_deliveries'))
    )
    with op.batch_alter_table('authgate_webhook_deliveries', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_authgate_webhook_deliveries_audit_id'),
                              ['audit_id'], unique=False)
        batch_op.create_index('ix_authgate_webhook_deliveries_status_next_at',
                              ['status', 'next_at'], unique=False)
    # The admin trail moves into the one table: an admin change on an account
    # (``user.*``) names that account as the row's user.
    op.execute(
        "INSERT INTO authgate_audit_log (id, at, event, actor_type, actor_id, actor_email, "
        "user_id, target, outcome, tenant_id, ip_address, user_agent, details) "
        "SELECT id, at, action, 'admin', actor_id, actor_email, "
        "CASE WHEN action LIKE 'user.%' AND LENGTH(target) <= 36 THEN target END, "
        "target, 'success', NULL, ip_address, NULL, details FROM authgate_admin_audit")
    with op.batch_alter_table('authgate_admin_audit', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_authgate_admin_audit_at'))
    op.drop_table('authgate_admin_audit')


def downgrade() -> None:
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
    op.execute(
        "INSERT INTO authgate_admin_audit (id, at, actor_id, actor_email, action, target, "
        "ip_address, details) SELECT id, at, actor_id, actor_email, event, target, "
        "ip_address, details FROM authgate_audit_log WHERE actor_type = 'admin' "
        "AND LENGTH(event) <= 64")
    with op.batch_alter_table('authgate_webhook_deliveries', schema=None) as batch_op:
        batch_op.drop_index('ix_authgate_webhook_deliveries_status_next_at')
        batch_op.drop_index(batch_op.f('ix_authgate_webhook_deliveries_audit_id'))
    op.drop_table('authgate_webhook_deliveries')
    with op.batch_alter_table('authgate_audit_log', schema=None) as batch_op:
        batch_op.drop_index('ix_authgate_audit_log_user_id_at')
        batch_op.drop_index(batch_op.f('ix_authgate_audit_log_at'))
    op.drop_table('authgate_audit_log')
