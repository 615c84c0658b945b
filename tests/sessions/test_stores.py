"""The three session stores behave alike: driven directly through the SessionStore interface,
against the real database and the real Redis."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from datetime import timedelta, timezone
from typing import Any

import pytest
from sqlalchemy import bindparam, select
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError

from authgate.db import Database, new_id
from authgate.errors import AuthError, Code, ServiceUnavailable
from authgate.sessions.db_store import DatabaseSessionStore, S, U
from authgate.sessions.records import SessionRecord
from authgate.sessions.redis_store import RedisSessionStore
from authgate.sessions.service import Sessions
from authgate.sessions.store import SessionStore, cacheable
from tests.conftest import Harness, MakeHarness
from tests.helpers import REDIS_TOPOLOGIES, STORES, set_user, user_id_of
from tests.redis_topologies import topology_url
from tests.servers import free_port


@pytest.fixture(params=[*STORES, *REDIS_TOPOLOGIES])
async def sh(request: pytest.FixtureRequest, make_harness: MakeHarness, backend: str) -> Harness:
    """An app on each store (Redis: also on a cluster and behind Sentinel) with two users and
    no session (rows written directly)."""
    topology = request.param
    if topology in REDIS_TOPOLOGIES and backend == "sqlite":
        pytest.skip("Redis topologies do not depend on the database: the PostgreSQL run has them")
    storage = "redis" if topology in REDIS_TOPOLOGIES else topology
    url = topology_url(request, topology)
    h = await make_harness(session={"storage": storage}, **({"redis_url": url} if url else {}))
    for email in ("alice@example.com", "bob@example.com"):
        await h.make_user(email)
    return h


def record(h: Harness, user_id: str, *, age: float = 0.0, lifetime: float = 3600.0,
           data: dict[str, object] | None = None) -> SessionRecord:
    now = h.clock.now().replace(microsecond=0) - timedelta(seconds=age)
    return SessionRecord(
        id=new_id(), user_id=user_id, generation=0, rotated_at=now,
        expires_at=now + timedelta(seconds=lifetime), last_active=now, created_at=now,
        authenticated_at=now, mfa_state="pending", amr=("pwd",), tenant_id=None,
        user_agent="pytest", device_name="Linux", ip_address="127.0.0.1",
        data={"roles": [], "permissions": [], "nested": {"k": [1, 2]}} if data is None else data,
    )


async def _alice(h: Harness) -> str:
    return await user_id_of(h.res, "alice@example.com")


async def test_create_then_load_round_trips_every_field(sh: Harness) -> None:
    store: SessionStore = sh.res.store
    uid = await _alice(sh)
    rec = record(sh, uid)
    await store.create(rec)
    loaded = await store.load(rec.id, uid, sh.clock.now())
    assert loaded is not None
    got, user, _ = loaded
    assert got == rec
    assert isinstance(got.data["roles"], list) and isinstance(got.amr, tuple)
    assert user is not None and user.id == uid and user.email == "alice@example.com"
    assert await store.get(rec.id, sh.clock.now()) == rec


async def test_load_refuses_another_users_token(sh: Harness) -> None:
    uid = await _alice(sh)
    rec = record(sh, uid)
    await sh.res.store.create(rec)
    bob = await user_id_of(sh.res, "bob@example.com")
    assert await sh.res.store.load(rec.id, bob, sh.clock.now()) is None
    assert await sh.res.store.load("no-such-session", uid, sh.clock.now()) is None


# Riders (``sessions.store``): reads about the token's user, built once. One with a row per
# session of the user in the database, one that never has a row; the user's own row.
_OWN_SESSIONS = select(S.c.id.label("sid"), S.c.device_name).where(
    S.c.user_id == bindparam("uid"))
_NOTHING = select(S.c.id).where(S.c.user_id == bindparam("uid"), S.c.device_name.is_(None))
_EMAIL = select(U.c.email.label("address")).where(U.c.id == bindparam("uid"))


async def test_a_rider_comes_with_the_session_where_the_store_can_carry_it(
        sh: Harness) -> None:
    store = sh.res.store
    uid = await _alice(sh)
    recs = [record(sh, uid), record(sh, uid)]
    for rec in recs:
        await store.create(rec)
    now = sh.clock.now()
    loaded = await store.load(recs[0].id, uid, now, rider=_OWN_SESSIONS)
    assert loaded is not None and loaded.session == recs[0] and loaded.user is not None
    if isinstance(store, DatabaseSessionStore):  # the same statement: its rows, own names
        assert loaded.rider is not None
        assert sorted(r["sid"] for r in loaded.rider) == sorted(r.id for r in recs)
        assert all(dict(r) == {"sid": r["sid"], "device_name": "Linux"} for r in loaded.rider)
        empty = await store.load(recs[0].id, uid, now, rider=_NOTHING)
        assert empty is not None and empty.session == recs[0] and empty.rider == []
    else:  # Redis, memory: the caller runs it
        assert loaded.rider is None
    # no rows of anyone's for a token naming another user's session, or none at all
    bob = await user_id_of(sh.res, "bob@example.com")
    assert await store.load(recs[0].id, bob, now, rider=_OWN_SESSIONS) is None
    assert await store.load("no-such-session", uid, now, rider=_OWN_SESSIONS) is None
    later = now + timedelta(hours=2)
    assert await store.load(recs[0].id, uid, later, rider=_OWN_SESSIONS) is None


_CACHED_EMAIL = cacheable(_EMAIL, "test-email")


async def test_a_cacheable_riders_rows_are_kept_by_redis_on_one_server_only(
        sh: Harness) -> None:
    """Redis on one server (direct line or not): the rows come with the session, cached
    until ``user_changed``; a cluster (keys in other slots) and the memory store leave the
    rider to the caller; the database store runs it in its statement as any rider."""
    store = sh.res.store
    uid = await _alice(sh)
    rec = record(sh, uid)
    await store.create(rec)
    now = sh.clock.now()
    loaded = await store.load(rec.id, uid, now, rider=_CACHED_EMAIL)
    assert loaded is not None and loaded.session == rec
    carried = isinstance(store, DatabaseSessionStore) or (
        isinstance(store, RedisSessionStore) and store._cluster is None)
    if not carried:
        assert loaded.rider is None
        return
    assert [dict(r) for r in loaded.rider or ()] == [{"address": "alice@example.com"}]
    async with sh.res.db.writer.begin() as conn:  # behind the app's back
        await conn.execute(U.update().where(U.c.id == uid).values(email="carol@example.com"))
    again = await store.load(rec.id, uid, now, rider=_CACHED_EMAIL)
    assert again is not None
    if isinstance(store, RedisSessionStore):  # cached until the invalidation
        assert [dict(r) for r in again.rider or ()] == [{"address": "alice@example.com"}]
        await store.user_changed(uid)
        again = await store.load(rec.id, uid, now, rider=_CACHED_EMAIL)
        assert again is not None
    assert [dict(r) for r in again.rider or ()] == [{"address": "carol@example.com"}]
    bob = await user_id_of(sh.res, "bob@example.com")
    assert await store.load(rec.id, bob, now, rider=_CACHED_EMAIL) is None


async def test_a_rider_binding_anything_but_the_user_id_is_refused(
        make_harness: MakeHarness) -> None:
    """On PostgreSQL the hot path binds named parameters only: a constant bound by value
    would fail there alone; the database store refuses it on both databases when it
    composes the statement."""
    h = await make_harness(session={"storage": "database"})
    await h.make_user("alice@example.com")
    uid = await _alice(h)
    rec = record(h, uid)
    await h.res.store.create(rec)
    bad = select(S.c.id).where(S.c.user_id == bindparam("uid"), S.c.device_name == "x")
    with pytest.raises(ValueError, match="a rider binds uid and nothing else"):
        await h.res.store.load(rec.id, uid, h.clock.now(), rider=bad)


async def test_authenticate_hands_the_rider_rows_to_the_principal(sh: Harness) -> None:
    """Every store: the principal carries the rider's rows (read with the session on the
    database store, after it elsewhere); none for a session the checks refuse."""
    u = await sh.make_user("carol@example.com", tokens=True)
    assert u.access_token is not None
    sessions = Sessions(sh.res)
    principal = await sessions.authenticate(u.access_token, allow_mfa_pending=True,
                                            rider=_EMAIL)
    assert principal.rider is not None
    assert [dict(r) for r in principal.rider] == [{"address": "carol@example.com"}]
    plain = await sessions.authenticate(u.access_token, allow_mfa_pending=True)
    assert plain.rider is None and plain.session == principal.session
    bare = await sessions.authenticate(u.access_token, allow_mfa_pending=True,
                                       rider=_NOTHING)
    assert bare.rider is not None and list(bare.rider) == []
    uid = await _alice(sh)
    pending = record(sh, uid)  # MFA pending: refused where pending sessions are not allowed
    await sh.res.store.create(pending)
    loaded = await sh.res.store.load(pending.id, uid, sh.clock.now())
    assert loaded is not None and loaded.user is not None
    token = sessions.mint(pending, loaded.user, sh.clock.now()).access_token
    with pytest.raises(AuthError) as refused:
        await sessions.authenticate(token, allow_mfa_pending=False, rider=_EMAIL)
    assert refused.value.code == Code.MFA_REQUIRED


async def test_expired_sessions_are_invisible(sh: Harness) -> None:
    store = sh.res.store
    uid = await _alice(sh)
    rec = record(sh, uid, lifetime=60)
    live = record(sh, uid, lifetime=3600)
    await store.create(rec)
    await store.create(live)
    later = sh.clock.now() + timedelta(seconds=61)
    assert await store.load(rec.id, uid, later) is None
    assert await store.get(rec.id, later) is None
    assert [s.id for s in await store.list_for_user(uid, later)] == [live.id]


async def test_rotate_is_a_compare_and_swap(sh: Harness) -> None:
    store = sh.res.store
    uid = await _alice(sh)
    rec = record(sh, uid)
    await store.create(rec)
    later = rec.rotated_at + timedelta(minutes=1)
    changes = {"rotated_at": later, "expires_at": later + timedelta(hours=1),
               "last_active": later, "mfa_state": "verified", "amr": ("pwd", "totp")}
    assert await store.rotate(rec.id, 0, changes) is True
    assert await store.rotate(rec.id, 0, changes) is False  # stale generation
    got = await store.get(rec.id, later)
    assert got is not None
    assert got.generation == 1 and got.mfa_state == "verified" and got.amr == ("pwd", "totp")
    assert got.rotated_at == later and got.expires_at == later + timedelta(hours=1)
    assert got.data == rec.data and isinstance(got.data["roles"], list)
    assert await store.rotate("missing", 0, changes) is False
    # every kind of column a rotation writes (PostgreSQL: the hot path, values as given)
    east = timezone(timedelta(hours=2))
    data = {"roles": [{"name": "Gérant", "tenantId": None}], "permissions": [], "n": 2}
    assert await store.rotate(rec.id, 1, {"rotated_at": later.astimezone(east),
                                          "last_active": later, "data": data}) is True
    got = await store.get(rec.id, later)
    assert got is not None and got.generation == 2 and got.data == data
    assert got.rotated_at == later


async def test_concurrent_rotations_have_one_winner(sh: Harness) -> None:
    store = sh.res.store
    uid = await _alice(sh)
    rec = record(sh, uid)
    await store.create(rec)
    later = rec.rotated_at + timedelta(seconds=5)
    results = await asyncio.gather(*[
        store.rotate(rec.id, 0, {"rotated_at": later, "last_active": later})
        for _ in range(25)
    ])
    assert results.count(True) == 1
    got = await store.get(rec.id, later)
    assert got is not None and got.generation == 1


async def test_update_patches_without_rotating(sh: Harness) -> None:
    store = sh.res.store
    uid = await _alice(sh)
    rec = record(sh, uid)
    await store.create(rec)
    later = rec.last_active + timedelta(minutes=10)
    await store.update(rec.id, {"last_active": later, "expires_at": later + timedelta(hours=2)})
    got = await store.get(rec.id, later)
    assert got is not None
    assert got.generation == 0 and got.last_active == later
    assert got.expires_at == later + timedelta(hours=2)
    await store.update("missing", {"last_active": later})  # a no-op, not an error


async def test_delete_and_delete_for_user(sh: Harness) -> None:
    store = sh.res.store
    uid = await _alice(sh)
    bob = await user_id_of(sh.res, "bob@example.com")
    mine = [record(sh, uid, age=i) for i in range(4)]
    theirs = record(sh, bob)
    for r in [*mine, theirs]:
        await store.create(r)
    now = sh.clock.now()
    assert await store.delete(mine[0].id) is True
    assert await store.delete(mine[0].id) is False
    assert await store.delete_for_user(uid, keep=mine[1].id) == 2
    assert [s.id for s in await store.list_for_user(uid, now)] == [mine[1].id]
    assert await store.delete_for_user(uid) == 1
    assert await store.list_for_user(uid, now) == []
    assert [s.id for s in await store.list_for_user(bob, now)] == [theirs.id]


async def test_list_is_most_recently_active_first(sh: Harness) -> None:
    store = sh.res.store
    uid = await _alice(sh)
    recs = [record(sh, uid, age=age) for age in (30, 10, 20)]
    for r in recs:
        await store.create(r)
    listed = await store.list_for_user(uid, sh.clock.now())
    assert [s.id for s in listed] == [recs[1].id, recs[2].id, recs[0].id]


async def test_user_changed_makes_the_next_load_see_the_change(sh: Harness) -> None:
    store = sh.res.store
    uid = await _alice(sh)
    rec = record(sh, uid)
    await store.create(rec)
    first = await store.load(rec.id, uid, sh.clock.now())
    assert first is not None and first[1] is not None and first[1].is_mfa_enabled is False
    await set_user(sh.res, uid, is_mfa_enabled=True)  # calls store.user_changed
    again = await store.load(rec.id, uid, sh.clock.now())
    assert again is not None and again[1] is not None and again[1].is_mfa_enabled is True


async def test_a_change_during_the_user_read_is_not_cached(sh: Harness) -> None:
    """The user row changes (and ``user_changed`` runs) while a load is reading it: that load
    answers what it read, but the snapshot must not be cached after the invalidation — the
    next load sees the change (else a suspended user was served for the cache's lifetime)."""
    store: Any = sh.res.store
    if sh.settings.session.storage == "database":
        return  # reads the user live (test_database_store_reads_the_user_live)
    uid = await _alice(sh)
    rec = record(sh, uid)
    await store.create(rec)
    await store.user_changed(uid)  # nothing cached yet
    original = store._load_user

    async def racing(user_id: str) -> Any:
        snap = await original(user_id)  # the row as it was
        await set_user(sh.res, user_id, status="suspended")  # changed meanwhile
        return snap

    store._load_user = racing
    try:
        first = await store.load(rec.id, uid, sh.clock.now())
    finally:
        store._load_user = original
    assert first is not None and first[1] is not None and first[1].status == "active"
    again = await store.load(rec.id, uid, sh.clock.now())
    assert again is not None and again[1] is not None and again[1].status == "suspended"
    third = await store.load(rec.id, uid, sh.clock.now())  # cached again from here on
    assert third is not None and third[1] is not None and third[1].status == "suspended"


async def test_a_load_beside_another_ones_claim_reads_the_row_and_leaves_the_claim(
        sh: Harness) -> None:
    """Redis: a request reading the user row marks the cache key with its claim first; a load
    that finds the claim reads the row itself and caches nothing (the claim's owner will)."""
    if sh.settings.session.storage != "redis":
        return
    assert sh.res.redis is not None
    uid = await _alice(sh)
    rec = record(sh, uid)
    await sh.res.store.create(rec)
    key = f"{sh.settings.redis_prefix}user:{uid}"
    await sh.res.redis.set(key, b"claim:someone-else", ex=30)
    loaded = await sh.res.store.load(rec.id, uid, sh.clock.now())
    assert loaded is not None and loaded[1] is not None and loaded[1].id == uid
    assert await sh.res.redis.get(key) == b"claim:someone-else"
    await sh.res.store.user_changed(uid)  # the claim is gone with the invalidation
    loaded = await sh.res.store.load(rec.id, uid, sh.clock.now())
    assert loaded is not None and loaded[1] is not None
    cached = await sh.res.redis.get(key)
    assert cached is not None and cached.startswith(b"{")
    assert 0 < await sh.res.redis.ttl(key) <= sh.settings.session.user_cache_ttl.total_seconds()


async def test_database_store_reads_the_user_live(make_harness: MakeHarness) -> None:
    from sqlalchemy import update

    from authgate.identity.models import User

    h = await make_harness()
    await h.signup()
    uid = await _alice(h)
    rec = record(h, uid)
    await h.res.store.create(rec)
    async with h.res.db.writer.begin() as conn:  # no user_changed call at all
        await conn.execute(update(User).where(User.id == uid).values(status="suspended"))
    loaded = await h.res.store.load(rec.id, uid, h.clock.now())
    assert loaded is not None and loaded[1] is not None and loaded[1].status == "suspended"


async def test_ping(sh: Harness) -> None:
    """A live store answers; a store whose server is gone says so instead of answering."""
    assert await sh.res.store.ping() is None
    storage = sh.settings.session.storage
    if storage == "memory":
        return
    if storage == "redis":
        import redis.asyncio as aioredis

        from authgate.sessions.redis_store import RedisSessionStore

        client = aioredis.from_url(f"redis://127.0.0.1:{free_port()}/0", socket_connect_timeout=2)
        gone: SessionStore = RedisSessionStore(client, _no_user, prefix="gone:")
        with pytest.raises(ServiceUnavailable):
            await gone.ping()
        await gone.close()
    else:
        url = make_url(sh.settings.database_url)
        db = Database("sqlite+aiosqlite:////nonexistent/dir/gone.db" if sh.res.db.is_sqlite
                      else url.set(port=free_port()).render_as_string(hide_password=False))
        with pytest.raises((OSError, DBAPIError)):
            await DatabaseSessionStore(db).ping()
        await db.dispose()


async def _no_user(user_id: str) -> None:
    return None


@pytest.mark.parametrize("topology", ["redis", *REDIS_TOPOLOGIES])
async def test_redis_keys_expire_with_the_session(make_harness: MakeHarness, topology: str,
                                                  request: pytest.FixtureRequest) -> None:
    url = topology_url(request, topology)
    h = await make_harness(session={"storage": "redis"}, **({"redis_url": url} if url else {}))
    await h.signup()
    uid = await _alice(h)
    rec = record(h, uid, lifetime=120)
    await h.res.store.create(rec)
    assert h.res.redis is not None
    key = f"{h.settings.redis_prefix}sess:{rec.id}"
    assert 0 < await h.res.redis.pttl(key) <= 120_000
    later = rec.rotated_at + timedelta(seconds=30)
    assert await h.res.store.rotate(rec.id, 0, {"rotated_at": later,
                                                "expires_at": later + timedelta(hours=1)})
    assert 120_000 < await h.res.redis.pttl(key) <= 3_600_000
    assert await h.res.redis.sismember(f"{h.settings.redis_prefix}usess:{uid}", rec.id)


async def test_a_session_created_during_a_revoke_all_stays_revocable(sh: Harness) -> None:
    """Sign-ins racing "sign out everywhere": whichever wins, a session that still exists
    afterwards is listed for its user, so the next revoke-all ends it (on a cluster the
    session and its user's index are in different hash slots: no MULTI covers both)."""
    store = sh.res.store
    uid = await _alice(sh)
    now = sh.clock.now()
    recs = [record(sh, uid) for _ in range(40)]

    async def later(ticks: int, work: Awaitable[object]) -> None:
        for _ in range(ticks):  # start a few event-loop turns late: other interleavings
            await asyncio.sleep(0)
        await work

    for n, rec in enumerate(recs):
        await asyncio.gather(store.create(rec), *(
            later((n + k) % 7, store.delete_for_user(uid) if k % 2 else
                  store.list_for_user(uid, now)) for k in range(6)))
    alive = {r.id for r in recs if await store.get(r.id, now) is not None}
    assert alive <= {s.id for s in await store.list_for_user(uid, now)}
    await store.delete_for_user(uid)
    assert [r.id for r in recs if await store.get(r.id, now) is not None] == []
