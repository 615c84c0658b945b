"""Purge task of one-time codes: expired codes, and with them the expired password-reset
and invitation tokens (stored in the same table under their own purposes)."""

from __future__ import annotations

from typing import cast

from sqlalchemy import Table

from authgate.housekeeping import cutoff, purges
from authgate.otp.models import OneTimeCode

purges.register_rows("one-time-codes", cast(Table, OneTimeCode.__table__),
                     lambda res, now: OneTimeCode.expires_at <= cutoff(res, now))
