"""Purge task of the admin console: expired admin sessions. (Admin actions live in the
audit trail, purged by ``authgate.audit.purge`` after ``audit.retention``.)"""

from __future__ import annotations

from typing import cast

from sqlalchemy import Table

from authgate.admin.models import AdminSession
from authgate.housekeeping import cutoff, purges

purges.register_rows("admin-sessions", cast(Table, AdminSession.__table__),
                     lambda res, now: AdminSession.expires_at <= cutoff(res, now))
