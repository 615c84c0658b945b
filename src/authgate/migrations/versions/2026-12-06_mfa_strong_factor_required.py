"""users: mfa_strong_factor_required (a password reset over email/SMS asks the next MFA
step for an authenticator or a recovery code)

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-06 03:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('authgate_users', schema=None) as batch_op:
        batch_op.add_column(sa.Column('mfa_strong_factor_required', sa.Boolean(),
                                      server_default=sa.false(), nullable=False))


def downgrade() -> None:
    with op.batch_alter_table('authgate_users', schema=None) as batch_op:
        batch_op.drop_column('mfa_strong_factor_required')
