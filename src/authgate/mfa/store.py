"""The MFA statements of the request hot path: the status read and the toggle's write.

Each is one statement on PostgreSQL (one round trip, atomic on its own). SQLite has no
data-modifying CTEs: there the toggle is the same rules in one short write transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import cast

from sqlalchemy import Boolean, String, Table, and_, bindparam, exists, func, or_, select, update

from authgate.db import Database, UtcDateTime
from authgate.hotpath import Rows
from authgate.identity.models import User
from authgate.mfa.models import RecoveryCode, TotpDevice, TrustedDevice

_U = cast(Table, User.__table__)
_D = cast(Table, TotpDevice.__table__)
_R = cast(Table, RecoveryCode.__table__)
_T = cast(Table, TrustedDevice.__table__)

_ME = select(bindparam("uid", type_=String).label("uid")).subquery("me")
# The caller's devices (none: one row of NULLs) and whether an unused recovery code exists.
_STATUS = (
    select(
        exists().where(_R.c.user_id == _ME.c.uid, _R.c.used_at.is_(None)).label("has_rc"),
        _D.c.id, _D.c.device_name, _D.c.verified, _D.c.last_used_at, _D.c.expires_at,
        _D.c.created_at,
    )
    .select_from(_ME.outerjoin(_D, _D.c.user_id == _ME.c.uid))
)


async def status_rows(db: Database, user_id: str) -> Rows:
    """Rows with ``has_rc`` and the device columns (``id`` None when there is no device)."""
    return await db.hot_fetch_all(_STATUS, {"uid": user_id})


@dataclass(frozen=True, slots=True)
class FlagWrite:
    allowed: bool
    """False: enabling was asked and the user has no usable method (nothing written)."""
    changed: bool
    """The stored flag changed (a repeated toggle writes nothing)."""
    has_totp: bool
    """The user has a verified authenticator."""


_UID = bindparam("uid", type_=String)
_ON = bindparam("enabled", type_=Boolean)
_NOW = bindparam("now", type_=UtcDateTime())
_HAS_TOTP = exists().where(_D.c.user_id == _UID, _D.c.verified.is_(True))
# Enabling needs a method: one known from the user (email/SMS, passed in) or a verified
# authenticator when TOTP counts for the app.
_ALLOWED = or_(~_ON, bindparam("other_method", type_=Boolean),
               and_(bindparam("totp_counts", type_=Boolean), _HAS_TOTP))
_SET_FLAG = (update(_U).where(_U.c.id == _UID, _U.c.is_mfa_enabled != _ON)
             .values(is_mfa_enabled=_ON, updated_at=_NOW))
# Turning MFA off ends every trusted device (W7).
_END_TRUST = (update(_T).where(_T.c.user_id == _UID, _T.c.revoked_at.is_(None))
              .values(revoked_at=_NOW))
_SET_CTE = _SET_FLAG.where(_ALLOWED).returning(_U.c.id).cte("set_flag")
_END_TRUST_CTE = _END_TRUST.where(~_ON).returning(_T.c.id).cte("end_trust")
_TOGGLE_PG = select(
    _ALLOWED.label("allowed"),
    select(func.count()).select_from(_SET_CTE).scalar_subquery().label("changed"),
    # selected so that the CTE is part of the statement (PostgreSQL runs it either way)
    select(func.count()).select_from(_END_TRUST_CTE).scalar_subquery().label("ended"),
    _HAS_TOTP.label("has_totp"),
)


# SQLite: what the toggle would find, read without the write lock (a repeated toggle, the
# common case, then takes no lock at all).
_TOGGLE_STATE = select(
    _U.c.is_mfa_enabled.label("on"),
    exists().where(_T.c.user_id == _UID, _T.c.revoked_at.is_(None)).label("trusted"),
    _HAS_TOTP.label("has_totp"),
).where(_U.c.id == _UID)


async def set_mfa_flag(db: Database, user_id: str, *, enabled: bool, now: datetime,
                       other_method: bool, totp_counts: bool) -> FlagWrite:
    """Set the user's MFA flag when allowed; turning it off also revokes trusted devices."""
    params = {"uid": user_id, "enabled": enabled, "now": now, "other_method": other_method,
              "totp_counts": totp_counts}
    if not db.is_sqlite:
        row = (await db.hot_fetch_all(_TOGGLE_PG, params))[0]
        return FlagWrite(bool(row["allowed"]), bool(row["changed"]), bool(row["has_totp"]))

    def allowed(has_totp: bool) -> bool:  # _ALLOWED, in Python
        return not enabled or other_method or (totp_counts and has_totp)

    state = await db.hot_fetch_one(_TOGGLE_STATE, params)
    if state is not None:
        has_totp = bool(state["has_totp"])
        if not allowed(has_totp):
            return FlagWrite(False, False, has_totp)
        if bool(state["on"]) == enabled and (enabled or not state["trusted"]):
            return FlagWrite(True, False, has_totp)
    async with db.writer.begin() as conn:  # the same rules again, under the write lock
        has_totp = bool((await conn.execute(select(_HAS_TOTP), params)).scalar())
        if not allowed(has_totp):
            return FlagWrite(False, False, has_totp)
        changed = (await conn.execute(_SET_FLAG, params)).rowcount
        if not enabled:
            await conn.execute(_END_TRUST, params)
    return FlagWrite(True, bool(changed), has_totp)
