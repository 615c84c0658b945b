"""expires_at indexes on the tables the housekeeping purges by expiry (sessions, one-time
codes, counters, admin sessions): each purge batch finds its rows by index, not by a scan
of the whole table

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-06 11:00:00.000000
"""

from __future__ import annotations

from alembic import op

revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None

TABLES = ('authgate_sessions', 'authgate_one_time_codes', 'authgate_counters',
          'authgate_admin_sessions')


def upgrade() -> None:
    for table in TABLES:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.create_index(batch_op.f(f'ix_{table}_expires_at'), ['expires_at'],
                                  unique=False)


def downgrade() -> None:
    for table in reversed(TABLES):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_index(batch_op.f(f'ix_{table}_expires_at'))
