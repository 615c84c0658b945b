"""Failure counters shared by every process: fixed windows keyed per subject (a user id).

Why count *before* checking the secret: a check-then-increment pair lets N concurrent
guesses all pass the check before any of them is counted. Here every attempt atomically
reserves a slot first (``check_and_count``); attempts beyond ``limit`` in the window are
refused outright, even when they carry the right code, so a guesser gets exactly ``limit``
tries per window however many requests it sends in parallel. A success then calls
``clear`` so a user's own typos do not linger.

The window starts at the first counted attempt and lasts ``window``; time comes from
``res.clock`` (tests move it). Storage: Redis when ``res.redis`` is configured (one Lua
script, atomic), otherwise the ``authgate_counters`` table via one atomic upsert that
resets an expired window in the same statement. Every login counts and clears several of
these, so the single statements run on the hot path: reads through ``Database.hot_fetch_all``,
the upsert and the delete through ``Database.hot_write`` (each is atomic on its own;
SQLAlchemy's async session cost about 0.4-1 ms of CPU per statement, several per login; on
SQLite the write is committed synchronously when the write lock is free, else it waits in
the writer engine's thread like any unit of work).

Callers must not hold an open writer transaction while calling these on SQLite: the
counter commits in its own short transaction so a failed attempt stays counted even when
the caller's transaction rolls back.

Usage (the MFA step shares the scope ``MFA_SCOPE`` across TOTP, recovery and email/SMS
codes so a guesser cannot get ``limit`` tries per method)::

    await attempts.check_and_count(res, attempts.MFA_SCOPE, user.id)   # may raise 429
    ok = ...verify the code in its own transaction...
    if not ok:
        raise AuthError(Code.MFA_CODE_INVALID)
    await attempts.clear(res, attempts.MFA_SCOPE, user.id)
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import (
    ColumnClause,
    Executable,
    Integer,
    bindparam,
    case,
    delete,
    literal_column,
    or_,
    select,
)

from authgate import upsert
from authgate.errors import AuthError, Code
from authgate.resources import Resources
from authgate.throttling.models import Counter
from authgate.tx import transaction

MFA_SCOPE = "mfa"
"""Second-factor attempts of one user (TOTP, recovery codes, email/SMS codes)."""

# KEYS[1] = counter hash {c = count, e = window end (ms)}; ARGV = now_ms, window_ms,
# now_ms + window_ms (as text, so Lua never formats a large number).
# Returns {count, window_end_ms}.
_LUA = """
local now = tonumber(ARGV[1])
local win = tonumber(ARGV[2])
local e = tonumber(redis.call('HGET', KEYS[1], 'e'))
if (not e) or now >= e or now < e - win then
  redis.call('HSET', KEYS[1], 'e', ARGV[3], 'c', 1)
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return {1, ARGV[3]}
end
return {redis.call('HINCRBY', KEYS[1], 'c', 1), e}
"""


@dataclass(frozen=True, slots=True)
class Attempt:
    """The state of a window after counting one attempt."""

    count: int
    window_ends: datetime

    def retry_after(self, now: datetime) -> int:
        return max(1, math.ceil((self.window_ends - now).total_seconds()))


def _key(scope: str, subject: str) -> str:
    return f"{scope}:{subject}"[:255]


# Statements built once (the hot path compiles each once, keyed by identity).
_MANY = 8
"""Up to this many keys per read or delete go through one prepared statement per count."""
_statements: dict[tuple[str, int], Executable] = {}


def _utc(value: Any) -> datetime:
    """A timestamp from either driver as aware UTC (asyncpg: aware; SQLite: made aware by
    the column type)."""
    moment: datetime = value
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _current_stmt(n: int) -> Executable:
    stmt = _statements.get(("current", n))
    if stmt is None:
        stmt = select(Counter.key, Counter.count, Counter.expires_at).where(
            Counter.key.in_([bindparam(f"k{i}") for i in range(n)]))
        _statements[("current", n)] = stmt
    return stmt


def _clear_stmt(n: int) -> Executable:
    stmt = _statements.get(("clear", n))
    if stmt is None:
        stmt = delete(Counter).where(Counter.key.in_([bindparam(f"k{i}") for i in range(n)]))
        _statements[("clear", n)] = stmt
    return stmt


def _count_stmt(res: Resources) -> Executable:
    """The atomic upsert: one more attempt, or a fresh window when the last one ended."""
    name = "count-sqlite" if res.db.is_sqlite else "count-pg"
    stmt = _statements.get((name, 0))
    if stmt is None:
        table = Counter.__table__
        one: ColumnClause[int] = literal_column("1", Integer)  # inline: the hot path binds only named parameters
        ins = upsert.insert(res.db, table).values(
            key=bindparam("key"), window_start=bindparam("now"), count=one,
            expires_at=bindparam("expires"))
        expired = table.c.expires_at <= ins.excluded.window_start
        stmt = ins.on_conflict_do_update(
            index_elements=[table.c.key],
            set_={
                "count": case((expired, one), else_=table.c.count + one),
                "window_start": case((expired, ins.excluded.window_start),
                                     else_=table.c.window_start),
                "expires_at": case((expired, ins.excluded.expires_at),
                                   else_=table.c.expires_at),
            },
        ).returning(table.c.count, table.c.expires_at)
        _statements[(name, 0)] = stmt
    return stmt


def _limits(res: Resources, limit: int | None, window: timedelta | None) -> tuple[int, timedelta]:
    cfg = res.settings.mfa
    return (limit if limit is not None else cfg.max_attempts,
            window if window is not None else cfg.attempt_window)


async def count(res: Resources, scope: str, subject: str, *,
                window: timedelta | None = None) -> Attempt:
    """Atomically add one attempt to the subject's current window (opening a new window
    if the last one has ended) and return the resulting count."""
    _, win = _limits(res, None, window)
    now = res.clock.now()
    key = _key(scope, subject)
    if res.redis is not None:
        now_ms = int(now.timestamp() * 1000)
        win_ms = max(1, int(win.total_seconds() * 1000))
        raw = await res.redis.eval(
            _LUA, 1, f"{res.settings.redis_prefix}attempts:{key}", now_ms, win_ms,
            str(now_ms + win_ms))
        n, end_ms = int(raw[0]), int(raw[1])
        return Attempt(n, datetime.fromtimestamp(end_ms / 1000, tz=now.tzinfo))
    return await _count_sql(res, key, now, win)


async def _count_sql(res: Resources, key: str, now: datetime, win: timedelta) -> Attempt:
    [row] = await res.db.hot_write(_count_stmt(res), {"key": key, "now": now,
                                                       "expires": now + win})
    return Attempt(int(row["count"]), _utc(row["expires_at"]))


async def check_and_count(
    res: Resources,
    scope: str,
    subject: str,
    *,
    limit: int | None = None,
    window: timedelta | None = None,
    code: Code = Code.MFA_TOO_MANY_ATTEMPTS,
) -> Attempt:
    """Reserve one attempt; raise ``AuthError(code, retry_after=…)`` when it is beyond
    ``limit`` (default ``mfa.max_attempts``) in the window (default
    ``mfa.attempt_window``). Call it before looking at the secret, and ``clear`` after a
    success."""
    lim, win = _limits(res, limit, window)
    attempt = await count(res, scope, subject, window=win)
    if attempt.count > lim:
        raise AuthError(code, retry_after=attempt.retry_after(res.clock.now()))
    return attempt


async def current(res: Resources, scope: str, subject: str) -> Attempt | None:
    """The subject's live window (read only), or None when there is none."""
    return (await current_many(res, [(scope, subject)]))[0]


async def current_many(res: Resources,
                       counters: list[tuple[str, str]]) -> list[Attempt | None]:
    """``current`` for several (scope, subject) pairs in one round trip."""
    now = res.clock.now()
    keys = [_key(scope, subject) for scope, subject in counters]
    found: dict[str, tuple[int, datetime]] = {}
    if res.redis is not None:
        pipe = res.redis.pipeline(transaction=False)
        for k in keys:
            pipe.hmget(f"{res.settings.redis_prefix}attempts:{k}", ["c", "e"])
        for k, (n, e) in zip(keys, await pipe.execute(), strict=True):
            if n is not None and e is not None:
                found[k] = (int(n), datetime.fromtimestamp(int(e) / 1000, tz=now.tzinfo))
    elif len(keys) <= _MANY:
        rows = await res.db.hot_fetch_all(_current_stmt(len(keys)),
                                          {f"k{i}": k for i, k in enumerate(keys)})
        found = {r["key"]: (int(r["count"]), _utc(r["expires_at"])) for r in rows}
    else:
        async with res.readmaker() as s:
            many = (await s.execute(select(Counter.key, Counter.count, Counter.expires_at)
                                    .where(Counter.key.in_(keys)))).all()
        found = {row[0]: (int(row[1]), row[2]) for row in many}
    out: list[Attempt | None] = []
    for k in keys:
        got = found.get(k)
        out.append(Attempt(*got) if got is not None and got[1] > now else None)
    return out


async def blocked_for(res: Resources, scope: str, subject: str, *,
                      limit: int | None = None) -> int | None:
    """Seconds until the subject may try again, or None when not blocked (read only)."""
    lim, _ = _limits(res, limit, None)
    got = await current(res, scope, subject)
    if got is None or got.count < lim:
        return None
    return got.retry_after(res.clock.now())


async def clear(res: Resources, scope: str, subject: str) -> None:
    """Forget the subject's failures (after a success)."""
    await clear_many(res, [(scope, subject)])


async def clear_many(res: Resources, counters: list[tuple[str, str]]) -> None:
    """``clear`` for several (scope, subject) pairs in one round trip."""
    keys = [_key(scope, subject) for scope, subject in counters]
    if res.redis is not None:
        await res.redis.delete(*[f"{res.settings.redis_prefix}attempts:{k}" for k in keys])
        return
    if len(keys) <= _MANY:
        await res.db.hot_write(_clear_stmt(len(keys)), {f"k{i}": k for i, k in enumerate(keys)})
        return
    async with transaction(res.sessionmaker) as tx:
        await tx.session.execute(delete(Counter).where(Counter.key.in_(keys)))


async def clear_prefix(res: Resources, scopes: tuple[str, ...], subject_prefix: str) -> None:
    """Forget every subject of ``scopes`` starting with ``subject_prefix`` (rare: a password
    reset lifting the per-client locks of one account; Redis walks its keys with one SCAN)."""
    keys = [_key(scope, subject_prefix) for scope in scopes]
    if res.redis is not None:
        base = f"{res.settings.redis_prefix}attempts:"
        pattern = _glob_escape(base) + "*" + _glob_escape(f":{subject_prefix}") + "*"
        wanted = tuple(base + k for k in keys)
        found = [k async for k in res.redis.scan_iter(match=pattern, count=1000)
                 if (k.decode() if isinstance(k, bytes) else k).startswith(wanted)]
        if found:
            await res.redis.delete(*found)
        return
    async with transaction(res.sessionmaker) as tx:
        await tx.session.execute(delete(Counter).where(or_(
            *[Counter.key.startswith(k, autoescape=True) for k in keys])))


def _glob_escape(text: str) -> str:
    return "".join("\\" + c if c in "*?[]\\" else c for c in text)
