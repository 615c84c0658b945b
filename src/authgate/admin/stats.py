"""``GET /auth/admin/api/stats``: the dashboard's counts and the 7-day series of sign-ups
and logins, counted from the rows on either database."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Integer, and_, case, func, select

from authgate.identity.models import Role, Tenant, User
from authgate.resources import Resources
from authgate.sessions.models import SessionRow
from authgate.tx import readonly

_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


@dataclass(frozen=True, slots=True)
class Stats:
    total_users: int
    active_users: int
    verified_users: int
    total_roles: int
    total_tenants: int
    recent_signups: int
    activity: list[tuple[str, int]]
    """(weekday, sign-ups) for the last 7 UTC days, oldest first, today last."""
    days: list[datetime]
    """The start (UTC midnight) of each of those days."""
    logins: list[int] | None
    """Sessions started on each of those days that are still stored (database session
    storage only: Redis and memory stores cannot be counted by day)."""


async def dashboard(res: Resources) -> Stats:
    now = res.clock.now()
    today = datetime(now.year, now.month, now.day, tzinfo=now.tzinfo)
    first_day = today - timedelta(days=6)
    async with readonly(res.stale_readmaker) as s:
        count = func.count()
        total, active, verified, recent = (await s.execute(select(
            count,
            func.count().filter(User.status == "active"),
            func.count().filter(User.email_verified_at.is_not(None)),
            func.count().filter(User.created_at >= now - timedelta(days=7)),
        ).select_from(User))).one()
        roles = (await s.execute(select(func.count()).select_from(Role))).scalar_one()
        tenants = (await s.execute(select(func.count()).select_from(Tenant))).scalar_one()
        created = (await s.execute(select(User.created_at)
                                   .where(User.created_at >= first_day))).scalars().all()
        starts = [first_day + timedelta(days=i) for i in range(8)]
        logins: list[int] | None = None
        if res.settings.session.storage == "database":
            col = SessionRow.created_at
            row = (await s.execute(select(*(
                func.coalesce(func.sum(case((and_(col >= starts[i], col < starts[i + 1]), 1),
                                            else_=0)), 0).cast(Integer) for i in range(7)))
                .where(col >= first_day))).one()
            logins = [int(v) for v in row]
    per_day = [0] * 7
    for at in created:
        index = (at - first_day).days
        if 0 <= index < 7:
            per_day[index] += 1
    activity = [(_DAYS[(first_day + timedelta(days=i)).weekday()], per_day[i]) for i in range(7)]
    return Stats(total_users=int(total), active_users=int(active), verified_users=int(verified),
                 total_roles=int(roles), total_tenants=int(tenants),
                 recent_signups=int(recent), activity=activity, days=starts[:7],
                 logins=logins)
