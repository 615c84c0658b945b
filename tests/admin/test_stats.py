"""GET /auth/admin/api/stats: the 7-day series counted from the rows (sign-ups from the
users, logins from the sessions started), on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from tests.admin.api import ADMIN_SETTINGS, sign_in
from tests.conftest import MakeHarness


async def test_signups_and_logins_per_day(make_harness: MakeHarness) -> None:
    h = await make_harness(**ADMIN_SETTINGS)
    noon = datetime.now(UTC).replace(hour=12, minute=0, second=0, microsecond=0)
    h.clock.set(noon - timedelta(days=8))  # outside the window
    await h.make_user("old@example.com", tokens=True)
    h.clock.set(noon - timedelta(days=2))
    await h.make_user("two-days@example.com", tokens=True)
    await h.make_user("quiet@example.com")
    h.clock.set(noon)
    today = await h.make_user("today@example.com", tokens=True)
    assert (await h.login("today@example.com", today.password)).status_code == 200
    admin = await sign_in(h)
    r = await admin.get("/stats")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["stats"]["totalUsers"] == 4 and body["stats"]["recentSignups"] == 3
    days = body["activityData"]
    assert [d["date"] for d in days] == [
        (noon - timedelta(days=6 - i)).date().isoformat() for i in range(7)]
    assert [d["users"] for d in days] == [0, 0, 0, 0, 2, 0, 1]
    assert [d["logins"] for d in days] == [0, 0, 0, 0, 1, 0, 2]
    assert days[-1]["name"] == noon.strftime("%a")


async def test_logins_left_out_without_database_sessions(make_harness: MakeHarness) -> None:
    h = await make_harness(**ADMIN_SETTINGS, session={"storage": "redis"})
    await h.make_user("r@example.com", tokens=True)
    admin = await sign_in(h)
    days = (await admin.get("/stats")).json()["activityData"]
    assert all("logins" not in d for d in days) and days[-1]["users"] == 1
