"""Purge task of the database's counters (rate limits, lockouts, attempt budgets): a window
that has ended counts for nothing (the next attempt starts a new one). Counters in Redis
expire by TTL."""

from __future__ import annotations

from typing import cast

from sqlalchemy import Table

from authgate.housekeeping import cutoff, purges
from authgate.throttling.models import Counter

purges.register_rows("counters", cast(Table, Counter.__table__),
                     lambda res, now: Counter.expires_at <= cutoff(res, now))
