"""The accounts one browser is signed into (multi-account cookie mode, ``GET /auth/accounts``).

Upstream lists every ``refreshToken_<id>`` cookie decoded *without* verifying it. Here an
entry must hold a refresh token we signed, for the account its cookie is named after, whose
session is still live, of an active user: a planted or stale cookie lists nothing. The
address shown is the user's current one (read in one statement for all accounts).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import cast

from sqlalchemy import Table, select

from authgate.errors import AuthError
from authgate.identity.models import User
from authgate.resources import Resources

U = cast(Table, User.__table__)


@dataclass(frozen=True, slots=True)
class SignedInAccount:
    account_id: str
    email: str | None
    phone: str | None
    tenant_id: str | None
    is_active: bool
    """The account requests currently use (``nest_auth_active_account``)."""


async def signed_in_accounts(res: Resources, cookies: list[tuple[str, str]],
                             active: str | None) -> list[SignedInAccount]:
    """``cookies``: (account id, refresh token) pairs as the browser sent them."""
    now = res.clock.now()
    live: dict[str, str | None] = {}
    for account, token in cookies:
        try:
            claims = res.tokens.decode_refresh(token, now)
        except AuthError:
            continue
        if claims.user_id != account or account in live:
            continue
        rec = await res.store.get(claims.session_id, now)
        if rec is None or rec.user_id != account or rec.generation not in (
                claims.generation, claims.generation + 1):
            continue
        live[account] = rec.tenant_id
    if not live:
        return []
    async with res.db.reader.connect() as conn:
        rows = (await conn.execute(select(U.c.id, U.c.email, U.c.phone, U.c.status)
                                   .where(U.c.id.in_(list(live))))).mappings().all()
    users = {r["id"]: r for r in rows if r["status"] == "active"}
    return [SignedInAccount(account_id=a, email=users[a]["email"], phone=users[a]["phone"],
                            tenant_id=tenant, is_active=a == active)
            for a, tenant in live.items() if a in users]
