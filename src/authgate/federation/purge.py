"""Purge task of OAuth code-flow grants: started flows and results nobody came back for."""

from __future__ import annotations

from typing import cast

from sqlalchemy import Table

from authgate.federation.models import OAuthGrant
from authgate.housekeeping import cutoff, purges

purges.register_rows("oauth-grants", cast(Table, OAuthGrant.__table__),
                     lambda res, now: OAuthGrant.expires_at <= cutoff(res, now))
