"""Sessions in the SQL database (the default store)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, cast

from sqlalchemy import (
    Select,
    Table,
    bindparam,
    delete,
    literal_column,
    select,
    text,
    true,
    update,
)

from authgate.db import Database
from authgate.identity.models import User
from authgate.identity.snapshot import USER_COLS, user_from_row
from authgate.sessions.models import SessionRow
from authgate.sessions.records import SessionRecord
from authgate.sessions.store import Loaded, Rider, RiderRows

S = cast(Table, SessionRow.__table__)
U = cast(Table, User.__table__)

_SESSION_COLS = [c for c in S.c]
_USER_COLS = USER_COLS
# One statement for the hot path: the session joined to its user.
_LOAD = (
    select(*_SESSION_COLS, *[c.label(f"u_{c.name}") for c in USER_COLS])
    .select_from(S.join(U, U.c.id == S.c.user_id))
    .where(S.c.id == bindparam("sid"))
)
_RIDER_PREFIX = "r_"
_RIDER_ROW = "r__row"
_MARK = "authgate_rider_row"


class _Riding:
    """``_LOAD`` with a rider's columns beside it (prefixed ``r_``): the session row once
    per rider row, no row when there is no session. The rider is a subquery bound to the
    token's user id, outer-joined so that a rider without rows still finds the session (a
    row whose marker column ``r__row`` is NULL); its rows are returned only once the
    session is found to be that user's (``load``). A subquery keeps no order: a rider
    that needs one sorts its rows itself."""

    __slots__ = ("keys", "rider", "stmt")

    def __init__(self, rider: Rider) -> None:
        binds = set(rider.compile().params)
        if binds != {"uid"}:  # the hot path binds named parameters only: fail at once
            raise ValueError(f"a rider binds uid and nothing else, not {sorted(binds)}")
        sub = rider.add_columns(literal_column("1").label(_MARK)).subquery("rider")
        self.rider = rider  # kept alive: the cache is keyed by its id
        self.keys = tuple((f"{_RIDER_PREFIX}{c.key}", c.key) for c in sub.c
                          if c.key != _MARK)
        self.stmt: Select[Any] = (
            select(*_LOAD.selected_columns,
                   *[c.label(f"{_RIDER_PREFIX}{c.key}") for c in sub.c if c.key != _MARK],
                   sub.c[_MARK].label(_RIDER_ROW))
            .select_from(S.join(U, U.c.id == S.c.user_id).outerjoin(sub, true()))
            .where(S.c.id == bindparam("sid"))
        )

    def rows(self, rows: RiderRows) -> RiderRows:
        """The rider's rows as if it had run alone (its own column names)."""
        keys = self.keys
        return [{own: r[label] for label, own in keys} for r in rows
                if r[_RIDER_ROW] is not None]


_ROTATIONS: dict[tuple[str, ...], Any] = {}


def _rotation(keys: tuple[str, ...]) -> Any:
    """The compare-and-swap of ``rotate`` for these columns, built once per set of columns
    (the hot path compiles a statement once, by identity): a row back means it won."""
    stmt = _ROTATIONS.get(keys)
    if stmt is None:
        stmt = _ROTATIONS[keys] = (
            update(S)
            .where(S.c.id == bindparam("sid"), S.c.generation == bindparam("gen"))
            .values(generation=bindparam("next"),
                    **{k: bindparam(f"v_{k}", type_=S.c[k].type) for k in keys})
            .returning(S.c.id))
    return stmt


def _rotation_params(session_id: str, generation: int, changes: dict[str, Any]
                     ) -> dict[str, Any]:
    """The columns' values as they are: the hot path applies their bind processors (a
    JSON column's value reaches asyncpg as text)."""
    params: dict[str, Any] = {"sid": session_id, "gen": generation, "next": generation + 1}
    params.update({f"v_{k}": v for k, v in _columns(changes).items()})
    return params


# The store's single statements, built once for the hot path (``Database.hot_write`` /
# ``hot_fetch_all``): a login inserts, lists the user's sessions (the per-user cap) and may
# evict; on SQLite each went through aiosqlite at ~0.4-0.6 ms of CPU.
_INSERT_COLS = ("id", "user_id", "generation", "rotated_at", "expires_at", "last_active",
                "created_at", "authenticated_at", "mfa_state", "amr", "tenant_id",
                "user_agent", "device_name", "ip_address", "data")
_INSERT = S.insert().values({name: bindparam(name, type_=S.c[name].type)
                             for name in _INSERT_COLS})
_DELETE = delete(S).where(S.c.id == bindparam("sid")).returning(S.c.id)
_LIST = (select(*_SESSION_COLS)
         .where(S.c.user_id == bindparam("uid"), S.c.expires_at > bindparam("now"))
         .order_by(S.c.last_active.desc()))


def session_from_row(m: Any) -> SessionRecord:
    return SessionRecord(
        id=m["id"],
        user_id=m["user_id"],
        generation=m["generation"],
        rotated_at=m["rotated_at"],
        expires_at=m["expires_at"],
        last_active=m["last_active"],
        created_at=m["created_at"],
        authenticated_at=m["authenticated_at"],
        mfa_state=m["mfa_state"],
        amr=tuple(m["amr"] or ()),
        tenant_id=m["tenant_id"],
        user_agent=m["user_agent"],
        device_name=m["device_name"],
        ip_address=m["ip_address"],
        data=m["data"] or {},
    )


def _columns(changes: dict[str, Any]) -> dict[str, Any]:
    out = dict(changes)
    if "amr" in out:
        out["amr"] = list(out["amr"])
    return out


class DatabaseSessionStore:
    live_user = True  # sessions.store.SessionStore.live_user

    def __init__(self, db: Database) -> None:
        self._db = db
        self._riding: dict[int, _Riding] = {}

    def _compose(self, rider: Rider) -> _Riding:
        """The session read with ``rider`` beside it, composed once per rider (the hot
        path compiles a statement once, keyed by identity)."""
        hit = self._riding.get(id(rider))
        if hit is None or hit.rider is not rider:
            hit = self._riding[id(rider)] = _Riding(rider)
        return hit

    async def create(self, record: SessionRecord) -> None:
        await self._db.hot_write(_INSERT, {
            "id": record.id,
            "user_id": record.user_id,
            "generation": record.generation,
            "rotated_at": record.rotated_at,
            "expires_at": record.expires_at,
            "last_active": record.last_active,
            "created_at": record.created_at,
            "authenticated_at": record.authenticated_at,
            "mfa_state": record.mfa_state,
            "amr": list(record.amr),
            "tenant_id": record.tenant_id,
            "user_agent": record.user_agent,
            "device_name": record.device_name,
            "ip_address": record.ip_address,
            "data": record.data,
        })

    async def load(
        self, session_id: str, user_id: str, now: datetime, *, rider: Rider | None = None
    ) -> Loaded | None:
        riding: _Riding | None = None
        if rider is None:
            rows = await self._db.hot_fetch_all(_LOAD, {"sid": session_id})
        else:  # one statement still: the rider keyed by the token's user id
            riding = self._compose(rider)
            rows = await self._db.hot_fetch_all(riding.stmt, {"sid": session_id,
                                                              "uid": user_id})
        if not rows:
            return None
        row = rows[0]
        rec = session_from_row(row)
        if rec.user_id != user_id:  # a token naming another user's session
            return None
        if rec.expires_at <= now:
            await self.delete(session_id)
            return None
        user = user_from_row(row, "u_")
        return Loaded(rec, user, riding.rows(rows) if riding is not None else None)

    async def get(self, session_id: str, now: datetime) -> SessionRecord | None:
        async with self._db.reader.connect() as conn:
            row = (await conn.execute(select(S).where(S.c.id == session_id))).mappings().first()
        if row is None:
            return None
        rec = session_from_row(row)
        return rec if rec.expires_at > now else None

    async def rotate(
        self, session_id: str, expected_generation: int, changes: dict[str, Any]
    ) -> bool:
        rows = await self._db.hot_write(  # one statement, atomic on its own
            _rotation(tuple(sorted(changes))),
            _rotation_params(session_id, expected_generation, changes))
        return len(rows) == 1

    async def update(self, session_id: str, changes: dict[str, Any]) -> None:
        async with self._db.writer.begin() as conn:
            await conn.execute(update(S).where(S.c.id == session_id).values(**_columns(changes)))

    async def delete(self, session_id: str) -> bool:
        return bool(await self._db.hot_write(_DELETE, {"sid": session_id}))

    async def delete_for_user(self, user_id: str, *, keep: str | None = None) -> int:
        stmt = delete(S).where(S.c.user_id == user_id)
        if keep is not None:
            stmt = stmt.where(S.c.id != keep)
        async with self._db.writer.begin() as conn:
            result = await conn.execute(stmt)
        return result.rowcount

    async def list_for_user(self, user_id: str, now: datetime) -> list[SessionRecord]:
        rows = await self._db.hot_fetch_all(_LIST, {"uid": user_id, "now": now})
        return [session_from_row(r) for r in rows]

    async def user_changed(self, user_id: str) -> None:
        return None

    async def ping(self) -> None:
        async with self._db.reader.connect() as conn:
            await conn.execute(text("SELECT 1"))

    async def close(self) -> None:
        return None
