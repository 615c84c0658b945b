"""memberships: users' places in tenants (default tenant, status) and the roles held there

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-06 05:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import authgate.db

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('authgate_memberships',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('user_id', sa.String(length=36), nullable=False),
    sa.Column('tenant_id', sa.String(length=36), nullable=False),
    sa.Column('is_default', sa.Boolean(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('metadata', sa.JSON(), nullable=False),
    sa.Column('created_at', authgate.db.UtcDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', authgate.db.UtcDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['tenant_id'], ['authgate_tenants.id'], name=op.f('fk_authgate_memberships_tenant_id_authgate_tenants'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['authgate_users.id'], name=op.f('fk_authgate_memberships_user_id_authgate_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_authgate_memberships')),
    sa.UniqueConstraint('user_id', 'tenant_id', name=op.f('uq_authgate_memberships_user_id_tenant_id'))
    )
    with op.batch_alter_table('authgate_memberships', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_authgate_memberships_tenant_id'), ['tenant_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_authgate_memberships_user_id'), ['user_id'], unique=False)

    op.create_table('authgate_membership_roles',
    sa.Column('membership_id', sa.String(length=36), nullable=False),
    sa.Column('role_id', sa.String(length=36), nullable=False),
    sa.Column('created_at', authgate.db.UtcDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['membership_id'], ['authgate_memberships.id'], name=op.f('fk_authgate_membership_roles_membership_id_authgate_memberships'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['role_id'], ['authgate_roles.id'], name=op.f('fk_authgate_membership_roles_role_id_authgate_roles'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('membership_id', 'role_id', name=op.f('pk_authgate_membership_roles'))
    )
    with op.batch_alter_table('authgate_membership_roles', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_authgate_membership_roles_role_id'), ['role_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('authgate_membership_roles', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_authgate_membership_roles_role_id'))
    op.drop_table('authgate_membership_roles')
    with op.batch_alter_table('authgate_memberships', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_authgate_memberships_user_id'))
        batch_op.drop_index(batch_op.f('ix_authgate_memberships_tenant_id'))
    op.drop_table('authgate_memberships')
