"""The MFA statements of the request hot path: the status read and the toggle's write.

Both are composed from the registered MFA methods (``authgate.registry.mfa_methods``): each
method the app configures adds a Python-known fact (``can_<i>``: e.g. an address and a
channel) and, when it has rows of its own, a SQL boolean (``usable_sql``, e.g. EXISTS a
verified authenticator). The rule "enabling needs a usable method" is that composition,
written once (``allowed`` in ``compose``) and evaluated by the database on both dialects;
``settled`` evaluates the same rule on facts already read, to answer a toggle that writes
nothing. Each statement is one round trip on PostgreSQL (the toggle a data-modifying CTE,
atomic on its own); SQLite has no data-modifying CTEs: there the toggle reads the facts,
then writes in one short transaction that evaluates ``allowed`` again under the write lock.
With the database session store the toggle's facts (``toggle_facts``) ride on the session
read (``mfa.policy.toggle_rider``): a repeated toggle then makes no statement of its own.
Statements are built once per set of configured methods (``mfa.policy`` caches them).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, cast

from sqlalchemy import (
    Boolean,
    ColumnElement,
    String,
    Table,
    bindparam,
    exists,
    false,
    func,
    or_,
    select,
    update,
)

from authgate.db import Database, UtcDateTime
from authgate.hotpath import Rows
from authgate.identity.models import User
from authgate.mfa.models import RecoveryCode, TotpDevice, TrustedDevice
from authgate.sessions.store import cacheable

if TYPE_CHECKING:
    from authgate.mfa.methods.base import MfaMethod

_U = cast(Table, User.__table__)
_D = cast(Table, TotpDevice.__table__)
_R = cast(Table, RecoveryCode.__table__)
_T = cast(Table, TrustedDevice.__table__)

_UID = bindparam("uid", type_=String)
_ON = bindparam("enabled", type_=Boolean)
_NOW = bindparam("now", type_=UtcDateTime())
_ME = select(_UID.label("uid")).subquery("me")


STATUS_CACHE = "mfa-status"
"""The status read's name as a cacheable rider. What it reads (devices, recovery codes,
each method's rows) is cached on the Redis session store until ``user_changed``: every
write to those rows calls ``mfa.changed.rows_changed`` (after its commit)."""


def _can(i: int) -> Any:
    return bindparam(f"can_{i}", type_=Boolean)


@dataclass(frozen=True, slots=True)
class Statements:
    methods: tuple[MfaMethod, ...]
    by_status: tuple[MfaMethod, ...]
    """The same methods in status order (``status_rank``)."""
    facts: tuple[int, ...]
    """Indexes of the methods with a SQL part (their value is column ``usable_<i>``)."""
    status: Any
    toggle_pg: Any
    toggle_facts: Any
    """Binds only ``uid``: ``trusted`` (a live trust token) and the ``usable_<i>`` columns;
    with the flag read in the same statement it decides a toggle that changes nothing."""
    toggle_state: Any
    allowed: Any
    facts_query: Any
    """Only the ``usable_<i>`` columns (the login's and refresh's method list)."""
    # ``status`` is marked cacheable (``sessions.store.cacheable``: the Redis store keeps
    # its rows) only when every method with rows of its own declares that each write to
    # them is followed by ``mfa.changed.rows_changed`` (``MfaMethod.status_rows_invalidated``)
    set_flag: Any
    end_trust: Any


def compose(methods: Sequence[MfaMethod]) -> Statements:
    """The statements for these methods (the caller caches them: ``mfa.policy``)."""
    methods = tuple(methods)
    sql = [m.usable_sql(_UID) for m in methods]
    facts = tuple(i for i, e in enumerate(sql) if e is not None)
    usable_cols = [cast(ColumnElement[bool], sql[i]).label(f"usable_{i}") for i in facts]
    # Enabling needs a method the user can use: its known facts and its own rows agree.
    terms: list[ColumnElement[bool]] = [
        _can(i) if e is None else (_can(i) & e) for i, e in enumerate(sql)]
    allowed = or_(~_ON, *terms) if terms else or_(~_ON, false())
    # The caller's devices (none: one row of NULLs) and whether an unused recovery code
    # exists; TOTP devices are what the status lists beside the methods.
    status: Any = (
        select(
            exists().where(_R.c.user_id == _ME.c.uid, _R.c.used_at.is_(None)).label("has_rc"),
            *[cast(ColumnElement[bool], sql[i]).label(f"usable_{i}") for i in facts],
            _D.c.id, _D.c.device_name, _D.c.verified, _D.c.last_used_at, _D.c.expires_at,
            _D.c.created_at,
        )
        .select_from(_ME.outerjoin(_D, _D.c.user_id == _ME.c.uid))
    )
    if all(e is None or getattr(m, "status_rows_invalidated", False)
           for m, e in zip(methods, sql, strict=True)):
        status = cacheable(status, STATUS_CACHE)
    set_flag = (update(_U).where(_U.c.id == _UID, _U.c.is_mfa_enabled != _ON)
                .values(is_mfa_enabled=_ON, updated_at=_NOW))
    # Turning MFA off ends every trusted device (W7).
    end_trust = (update(_T).where(_T.c.user_id == _UID, _T.c.revoked_at.is_(None))
                 .values(revoked_at=_NOW))
    set_cte = set_flag.where(allowed).returning(_U.c.id).cte("set_flag")
    end_trust_cte = end_trust.where(~_ON).returning(_T.c.id).cte("end_trust")
    toggle_pg = select(
        allowed.label("allowed"),
        select(func.count()).select_from(set_cte).scalar_subquery().label("changed"),
        # selected so that the CTE is part of the statement (PostgreSQL runs it either way)
        select(func.count()).select_from(end_trust_cte).scalar_subquery().label("ended"),
        *usable_cols,
    )
    # What the toggle would find besides the flag: read with the session (``toggle_facts``,
    # a session-load rider) or, on SQLite, before taking the write lock (``toggle_state``);
    # a repeated toggle, the common case, is then answered without writing (``settled``).
    trusted = exists().where(_T.c.user_id == _UID, _T.c.revoked_at.is_(None)).label("trusted")
    toggle_facts = select(trusted, *usable_cols)
    toggle_state = select(_U.c.is_mfa_enabled.label("on"), trusted, *usable_cols
                          ).where(_U.c.id == _UID)
    by_status = tuple(sorted(methods, key=lambda m: m.status_rank))
    return Statements(methods, by_status, facts, status, toggle_pg, toggle_facts, toggle_state,
                      select(allowed.label("allowed"), *usable_cols), select(*usable_cols),
                      set_flag, end_trust)


def facts_of(st: Statements, row: Any) -> dict[str, bool]:
    """The SQL facts of a row: method name -> its ``usable_sql`` value."""
    return {st.methods[i].name: bool(row[f"usable_{i}"]) for i in st.facts}


async def status_rows(db: Database, st: Statements, user_id: str) -> Rows:
    """Rows with ``has_rc``, ``usable_<i>`` and the device columns (``id`` None when there
    is no device)."""
    return await db.hot_fetch_all(st.status, {"uid": user_id})


@dataclass(frozen=True, slots=True)
class FlagWrite:
    allowed: bool
    """False: enabling was asked and the user has no usable method (nothing written)."""
    changed: bool
    """The stored flag changed (a repeated toggle writes nothing)."""
    facts: dict[str, bool]
    """Each method's SQL fact (``usable_sql``) as the statement saw it."""


def settled(st: Statements, *, enabled: bool, flag: bool, can: Sequence[bool],
            row: Any) -> FlagWrite | None:
    """The toggle's outcome when ``flag`` (the stored flag) and ``row`` (``toggle_facts``'s
    columns) say it writes nothing; None when it would write.

    ``allowed`` below is the statement's ``allowed`` (``compose``) evaluated on the same
    facts. Both must come from one statement (one snapshot): the answer is then what the
    conditional write would have done at that instant, as if the request had run there.
    """
    facts = facts_of(st, row)
    allowed = not enabled or any(
        c and (i not in st.facts or bool(row[f"usable_{i}"])) for i, c in enumerate(can))
    if not allowed:
        return FlagWrite(False, False, facts)
    if flag == enabled and (enabled or not row["trusted"]):
        return FlagWrite(True, False, facts)  # nothing to set, no trust token to end
    return None


async def set_mfa_flag(db: Database, st: Statements, user_id: str, *, enabled: bool,
                       now: datetime, can: Sequence[bool],
                       seen: tuple[bool, Any] | None = None) -> FlagWrite:
    """Set the user's MFA flag when allowed; turning it off also revokes trusted devices.
    ``can``: each method's Python-known fact (``MfaMethod.usable``), in ``st.methods``
    order. ``seen``: the stored flag and the ``toggle_facts`` row, read in one statement
    with the caller's session: a toggle they show to change nothing costs no round trip."""
    if seen is not None:
        done = settled(st, enabled=enabled, flag=seen[0], can=can, row=seen[1])
        if done is not None:
            return done
    params: dict[str, Any] = {"uid": user_id, "enabled": enabled, "now": now}
    params.update({f"can_{i}": bool(c) for i, c in enumerate(can)})
    if not db.is_sqlite:
        row = (await db.hot_fetch_all(st.toggle_pg, params))[0]
        return FlagWrite(bool(row["allowed"]), bool(row["changed"]), facts_of(st, row))
    if seen is None:  # what the write would find, read without the write lock
        state = await db.hot_fetch_one(st.toggle_state, {"uid": user_id})
        if state is not None:
            done = settled(st, enabled=enabled, flag=bool(state["on"]), can=can, row=state)
            if done is not None:
                return done
    async with db.writer.begin() as conn:  # the same expression again, under the write lock
        now_row = (await conn.execute(st.allowed, params)).mappings().one()
        if not now_row["allowed"]:
            return FlagWrite(False, False, facts_of(st, now_row))
        changed = (await conn.execute(st.set_flag, params)).rowcount
        if not enabled:
            await conn.execute(st.end_trust, params)
    return FlagWrite(True, bool(changed), facts_of(st, now_row))
