"""Sessions in Redis: shared by every authgate process, nothing on the SQL hot path.

Layout (prefix ``authgate:``): ``sess:<id>`` JSON with a TTL at the session's expiry;
``usess:<user>`` set of that user's session ids; ``user:<id>`` JSON user snapshot with a
short TTL, dropped whenever the user row changes (``user_changed``), and written only if no
change came while the row was read (a claim first, then compare-and-set:
``_CACHE_IF_CLAIMED``). ``rider:<user>``: the rows of a cacheable rider
(``sessions.store.cacheable``: ``GET /auth/mfa/status``'s MFA rows) tagged with the rider's
name and a digest of its SQL, filled and dropped exactly like the snapshot (same claim, same
TTL, the same ``user_changed``). ``load`` is one MGET (three keys with such a rider).

On a Redis Cluster these keys sit in different hash slots (a session is found by its id
alone, so no hash tag could put it beside its user's keys): ``load`` and ``list_for_user``
read per slot in parallel (``mget_nonatomic``) and the two-key writes, a MULTI on one
server, run one after the other in the order that is safe if the second never happens: the
index entry before the session (an id without a session is tidied by ``list_for_user``; a
session missing from the index would survive a revoke-all) and once more after it. Whatever
removes index entries makes sure no session it unindexed is left alive: a revoke-all
deletes the sessions, unindexes them, then deletes them again (a sign-in racing it may have
written its session in between); the tidy (``list_for_user``, ``prune_index``) re-reads the
sessions it unindexed and puts back any that appeared (``tests/sessions/test_stores.py``
races them). The Lua scripts
touch one key each, so they run on any topology. A cluster caches no rider rows (the
caller runs the rider, as before): its load stays the two keys it was.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeVar

import orjson

from authgate import redisconn, redisdirect
from authgate.errors import ServiceUnavailable
from authgate.identity.snapshot import UserSnapshot
from authgate.sessions.records import (
    SessionRecord,
    session_from_json,
    to_json_dict,
    user_from_json,
)
from authgate.sessions.store import (
    Loaded,
    Rider,
    RiderLoader,
    RiderRows,
    UserLoader,
    cache_name,
)

if TYPE_CHECKING:
    from redis.asyncio.cluster import RedisCluster

    from authgate.redisconn import RedisClient

RedisError = redisconn.failures()  # every topology's "Redis cannot serve us now"

_ROTATE = """
local raw = redis.call('GET', KEYS[1])
if not raw then return 0 end
local s = cjson.decode(raw)
if tonumber(s['generation']) ~= tonumber(ARGV[1]) then return 0 end
local patch = cjson.decode(ARGV[2])
for k, v in pairs(patch) do s[k] = v end
s['generation'] = tonumber(ARGV[1]) + 1
local ttl = tonumber(ARGV[3])
if ttl and ttl > 0 then
  redis.call('SET', KEYS[1], cjson.encode(s), 'PX', ttl)
else
  redis.call('SET', KEYS[1], cjson.encode(s), 'KEEPTTL')
end
return 1
"""

# The user snapshot is cached only if no ``user_changed`` came while the row was read: a
# claim is written before the read and replaced by the snapshot only if it is still there
# (``user_changed`` deletes the key, claim or snapshot alike).
_CACHE_IF_CLAIMED = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[2], 'EX', tonumber(ARGV[3]))
return 1
"""
_CLAIM = b"claim:"  # a snapshot is a JSON object: it starts with "{"
_CLAIMS = (_CLAIM, _CLAIM.decode())  # bytes, or text from a client that decodes replies
_T = TypeVar("_T")
_CLAIM_SECONDS = 30  # a claimer that died leaves the user uncached this long, no longer

_UPDATE = """
local raw = redis.call('GET', KEYS[1])
if not raw then return 0 end
local s = cjson.decode(raw)
local patch = cjson.decode(ARGV[1])
for k, v in pairs(patch) do s[k] = v end
local ttl = tonumber(ARGV[2])
if ttl and ttl > 0 then
  redis.call('SET', KEYS[1], cjson.encode(s), 'PX', ttl)
else
  redis.call('SET', KEYS[1], cjson.encode(s), 'KEEPTTL')
end
return 1
"""


# The Lua scripts decode and re-encode the whole record with cjson, which turns every empty
# JSON array into ``{}``. ``data`` (roles, permissions: often empty lists) is therefore kept
# as an embedded JSON string that the scripts never look inside.
def _encode(record: SessionRecord) -> bytes:
    raw = to_json_dict(record)
    raw["data"] = orjson.dumps(raw["data"]).decode()
    return orjson.dumps(raw)


def _decode(raw: bytes | str) -> SessionRecord:
    d = orjson.loads(raw)
    if isinstance(d.get("data"), str):
        d["data"] = orjson.loads(d["data"])
    return session_from_json(d)


def _patch(changes: dict[str, Any]) -> str:
    out: dict[str, Any] = {}
    for k, v in changes.items():
        if k == "data":
            out[k] = orjson.dumps(v).decode()
        elif isinstance(v, datetime):
            out[k] = v.isoformat()
        elif isinstance(v, tuple):
            out[k] = list(v)
        else:
            out[k] = v
    return json.dumps(out)


def _cell(v: Any) -> Any:
    """A rider value as JSON that ``_decode_rows`` restores exactly: None, bool, int and str as
    themselves (exact types only), a datetime (naive or with its offset) as ``{"d": iso}``;
    anything else is refused (TypeError: the rows are then not cached)."""
    t = type(v)
    if v is None or t is bool or t is int or t is str:
        return v
    if t is datetime:
        return {"d": v.isoformat()}
    raise TypeError(f"a cached rider value cannot be a {t.__name__}")


def _encode_rows(tag: str, rows: RiderRows) -> bytes:
    """``[tag, columns, [[cell, ...], ...]]`` (a JSON array: never taken for a claim)."""
    cols = list(rows[0].keys()) if rows else []
    body = []
    for r in rows:
        if list(r.keys()) != cols:
            raise TypeError("rider rows with different columns")
        body.append([_cell(r[c]) for c in cols])
    return orjson.dumps([tag, cols, body])


def _decode_rows(raw: bytes | str | None, tag: str) -> RiderRows | None:
    """The cached rows of the rider tagged ``tag``; None: none cached for it (no key, a
    claim, or another rider's rows)."""
    if raw is None or raw[:len(_CLAIM)] in _CLAIMS:
        return None
    got, cols, body = orjson.loads(raw)
    if got != tag:
        return None
    iso = datetime.fromisoformat  # _uncell inline: this runs on every cached status
    return [dict(zip(cols, [iso(v["d"]) if type(v) is dict else v for v in row], strict=True))
            for row in body]


def _ttl_ms(changes: dict[str, Any], now: datetime | None) -> int:
    exp = changes.get("expires_at")
    if isinstance(exp, datetime) and now is not None:
        return max(1, int((exp - now).total_seconds() * 1000))
    return 0


class RedisSessionStore:
    live_user = False  # sessions.store.SessionStore.live_user

    def __init__(
        self,
        client: RedisClient,
        user_loader: UserLoader,
        *,
        prefix: str = "authgate:",
        user_ttl_seconds: int = 300,
        rider_loader: RiderLoader | None = None,
    ) -> None:
        """``rider_loader``: runs a rider for a user (the database); without it no rider
        rows are cached and the caller runs riders itself."""
        self._r = client
        # the hot commands (load, get, the user snapshot) on a pipelined line of their own
        # where the topology allows it (authgate.redisdirect), else on the client
        self._direct = redisdirect.for_client(client)
        self._fast: RedisClient | redisdirect.RedisDirect = self._direct or client
        self._cluster: RedisCluster | None = client if redisconn.is_cluster(client) else None
        self._load_user = user_loader
        self._p = prefix
        self._user_ttl = user_ttl_seconds
        self._rotate = client.register_script(_ROTATE)
        self._update = client.register_script(_UPDATE)
        self._cache_user = client.register_script(_CACHE_IF_CLAIMED)
        self._load_rider = rider_loader
        self._tags: dict[int, tuple[Rider, str | None]] = {}

    def _sk(self, sid: str) -> str:
        return f"{self._p}sess:{sid}"

    def _uk(self, uid: str) -> str:
        return f"{self._p}user:{uid}"

    def _usk(self, uid: str) -> str:
        return f"{self._p}usess:{uid}"

    def _rk(self, uid: str) -> str:
        return f"{self._p}rider:{uid}"

    def _tag(self, rider: Rider) -> str | None:
        """The cache tag of a cacheable rider (its name and a digest of its SQL: a worker
        with other settings composes other SQL and never reads these rows), once per
        rider; None: not cached here (not marked, a cluster, or no loader)."""
        hit = self._tags.get(id(rider))
        if hit is None or hit[0] is not rider:
            name = cache_name(rider)
            tag = None
            if name is not None and self._cluster is None and self._load_rider is not None:
                tag = f"{name}:{hashlib.sha256(str(rider).encode()).hexdigest()[:16]}"
            hit = self._tags[id(rider)] = (rider, tag)  # kept alive: keyed by its id
        return hit[1]

    async def create(self, record: SessionRecord) -> None:
        ttl = max(1, int((record.expires_at - record.created_at).total_seconds() * 1000))
        try:
            if self._cluster is not None:  # two slots: the index entry first (and last)
                await self._r.sadd(self._usk(record.user_id), record.id)
                await self._r.set(self._sk(record.id), _encode(record), px=ttl)
                # a revoke-all between the two took the entry out before the session
                # existed: put it back, or this session would escape every later revoke-all
                await self._r.sadd(self._usk(record.user_id), record.id)
                return
            async with self._r.pipeline(transaction=True) as pipe:
                pipe.set(self._sk(record.id), _encode(record), px=ttl)
                pipe.sadd(self._usk(record.user_id), record.id)
                await pipe.execute()
        except RedisError as exc:
            raise ServiceUnavailable("Session store unavailable", backend="redis") from exc

    async def load(
        self, session_id: str, user_id: str, now: datetime, *, rider: Rider | None = None
    ) -> Loaded | None:
        """One MGET. A cacheable rider's rows come from the same MGET, or are read and
        cached here (``_rider_from_database``); any other rider is not run here: the caller
        runs it (``Loaded.rider`` None)."""
        tag = self._tag(rider) if rider is not None else None
        raw_r: bytes | str | None = None
        try:
            if tag is not None:  # the hot path of a cached rider: one MGET of three keys
                raw_s, raw_u, raw_r = await self._fast.mget(
                    self._sk(session_id), self._uk(user_id), self._rk(user_id))
            elif self._cluster is None:  # the hot path: one MGET
                raw_s, raw_u = await self._fast.mget(self._sk(session_id), self._uk(user_id))
            else:
                raw_s, raw_u = await self._cluster.mget_nonatomic(
                    [self._sk(session_id), self._uk(user_id)])
        except RedisError as exc:
            raise ServiceUnavailable("Session store unavailable", backend="redis") from exc
        if raw_s is None:
            return None
        rec = _decode(raw_s)
        if rec.user_id != user_id or rec.expires_at <= now:
            return None
        if raw_u is not None and raw_u[:len(_CLAIM)] not in _CLAIMS:
            user: UserSnapshot | None = user_from_json(orjson.loads(raw_u))
        else:
            user = await self._user_from_database(user_id)
        if tag is None or user is None or rider is None:
            return Loaded(rec, user)
        rows = _decode_rows(raw_r, tag)
        if rows is None:
            rows = await self._rider_from_database(rider, tag, user_id)
        return Loaded(rec, user, rows)

    async def _rider_from_database(self, rider: Rider, tag: str, user_id: str) -> RiderRows:
        """The rider's rows, cached as the user snapshot is (``_read_and_cache``)."""
        assert self._load_rider is not None  # _tag answers None without it
        load = self._load_rider

        def encode(rows: RiderRows) -> bytes | None:
            try:
                return _encode_rows(tag, rows)
            except TypeError:  # a value the codec cannot restore exactly: stay live
                return None

        return await self._read_and_cache(self._rk(user_id), lambda: load(rider, user_id),
                                          encode)

    async def _user_from_database(self, user_id: str) -> UserSnapshot | None:
        """The user row, cached as ``_read_and_cache`` caches."""
        return await self._read_and_cache(
            self._uk(user_id), lambda: self._load_user(user_id),
            lambda snap: orjson.dumps(to_json_dict(snap)) if snap is not None else None)

    async def _read_and_cache(self, key: str, read: Callable[[], Awaitable[_T]],
                              encode: Callable[[_T], bytes | None]) -> _T:
        """``read()``, cached under ``key`` unless ``user_changed`` came meanwhile: the key
        is claimed first and the value written only if the claim is still there
        (``_CACHE_IF_CLAIMED``), so a value read before a commit is never cached after the
        invalidation that follows it. Another request's claim stands: read, do not cache;
        ``encode`` answering None: do not cache."""
        claim = _CLAIM + secrets.token_hex(8).encode()
        try:
            claimed = await self._fast.set(key, claim, nx=True, ex=_CLAIM_SECONDS)
        except RedisError as exc:
            raise ServiceUnavailable("Session store unavailable", backend="redis") from exc
        value = await read()
        data = encode(value) if claimed else None
        if data is not None:
            try:
                await self._cache_user(keys=[key], args=[claim, data, self._user_ttl])
            except RedisError as exc:
                raise ServiceUnavailable("Session store unavailable", backend="redis") from exc
        return value

    async def get(self, session_id: str, now: datetime) -> SessionRecord | None:
        try:
            raw = await self._fast.get(self._sk(session_id))
        except RedisError as exc:
            raise ServiceUnavailable("Session store unavailable", backend="redis") from exc
        if raw is None:
            return None
        rec = _decode(raw)
        return rec if rec.expires_at > now else None

    async def rotate(
        self, session_id: str, expected_generation: int, changes: dict[str, Any]
    ) -> bool:
        now = changes.get("rotated_at")
        try:
            ok = await self._rotate(
                keys=[self._sk(session_id)],
                args=[expected_generation, _patch(changes), _ttl_ms(changes, now)],
            )
        except RedisError as exc:
            raise ServiceUnavailable("Session store unavailable", backend="redis") from exc
        return bool(ok)

    async def update(self, session_id: str, changes: dict[str, Any]) -> None:
        now = changes.get("last_active")
        try:
            await self._update(
                keys=[self._sk(session_id)], args=[_patch(changes), _ttl_ms(changes, now)]
            )
        except RedisError as exc:
            raise ServiceUnavailable("Session store unavailable", backend="redis") from exc

    async def delete(self, session_id: str) -> bool:
        try:
            raw = await self._r.get(self._sk(session_id))
            if raw is None:
                return False
            uid = orjson.loads(raw).get("user_id", "")
            if self._cluster is not None:  # two slots: the session first
                deleted = await self._r.delete(self._sk(session_id))
                await self._r.srem(self._usk(uid), session_id)
                return bool(deleted)
            async with self._r.pipeline(transaction=True) as pipe:
                pipe.delete(self._sk(session_id))
                pipe.srem(self._usk(uid), session_id)
                deleted, _ = await pipe.execute()
        except RedisError as exc:
            raise ServiceUnavailable("Session store unavailable", backend="redis") from exc
        return bool(deleted)

    async def delete_for_user(self, user_id: str, *, keep: str | None = None) -> int:
        try:
            ids = [i.decode() if isinstance(i, bytes) else i
                   for i in await self._r.smembers(self._usk(user_id))]
            doomed = [i for i in ids if i != keep]
            if not doomed:
                return 0
            if self._cluster is not None:  # many slots: no MULTI (module docstring)
                keys = [self._sk(i) for i in doomed]
                deleted = await self._r.delete(*keys)
                await self._r.srem(self._usk(user_id), *doomed)
                # a sign-in racing this one wrote its session after the first DEL but had
                # indexed it before SMEMBERS: the SREM just unindexed it. End it too.
                return int(deleted) + int(await self._r.delete(*keys))
            async with self._r.pipeline(transaction=True) as pipe:
                pipe.delete(*[self._sk(i) for i in doomed])
                pipe.srem(self._usk(user_id), *doomed)
                deleted, _ = await pipe.execute()
        except RedisError as exc:
            raise ServiceUnavailable("Session store unavailable", backend="redis") from exc
        return int(deleted)

    async def list_for_user(self, user_id: str, now: datetime) -> list[SessionRecord]:
        try:
            ids = [i.decode() if isinstance(i, bytes) else i
                   for i in await self._r.smembers(self._usk(user_id))]
            if not ids:
                return []
            raws = await self._mget([self._sk(i) for i in ids])
            gone = [i for i, raw in zip(ids, raws, strict=True) if raw is None]
            if gone:  # expired by TTL: tidy the index lazily
                await self._unindex(self._usk(user_id), gone)
        except RedisError as exc:
            raise ServiceUnavailable("Session store unavailable", backend="redis") from exc
        live = [_decode(r) for r in raws if r is not None]
        live = [s for s in live if s.expires_at > now]
        return sorted(live, key=lambda s: s.last_active, reverse=True)

    async def user_changed(self, user_id: str) -> None:
        """Drop the user snapshot and the cached rider rows (claims too: a fill under way
        is then not cached). On a cluster only the snapshot (no rider rows cached there;
        the two keys sit in different slots)."""
        try:
            if self._cluster is None:
                await self._fast.delete(self._uk(user_id), self._rk(user_id))
                return
            await self._fast.delete(self._uk(user_id))
        except RedisError as exc:
            raise ServiceUnavailable("Session store unavailable", backend="redis") from exc

    async def prune_index(self, *, dry_run: bool = False, batch: int = 500) -> int:
        """Drop the ids of ended sessions from the per-user index sets: ``usess:<user>``
        has no TTL of its own, so a user who never lists their sessions would keep every
        id ever issued. SCAN walks the sets ``batch`` keys at a time; an ended session
        never comes back to life, so checking and removing need not be atomic (on a
        cluster an id is indexed just before its session is written: ``_unindex``).
        Returns the ids dropped (``dry_run``: that would be)."""
        dropped = 0
        pattern = "".join("\\" + c if c in "*?[]\\" else c for c in self._p) + "usess:*"
        try:
            async for key in self._r.scan_iter(match=pattern, count=batch):
                ids = [i.decode() if isinstance(i, bytes) else i
                       for i in await self._r.smembers(key)]
                if not ids:
                    continue
                pipe = self._r.pipeline(transaction=False)
                for i in ids:
                    pipe.exists(self._sk(i))
                gone = [i for i, alive in zip(ids, await pipe.execute(), strict=True)
                        if not alive]
                if gone and not dry_run:
                    dropped += await self._unindex(key, gone)
                else:
                    dropped += len(gone)
        except RedisError as exc:
            raise ServiceUnavailable("Session store unavailable") from exc
        return dropped

    async def ping(self) -> None:
        try:
            await self._r.ping()
        except RedisError as exc:
            raise ServiceUnavailable("Session store unavailable", backend="redis") from exc

    async def _unindex(self, index_key: str, gone: list[str]) -> int:
        """Take the ids of ended sessions out of a user's index; returns how many. On a
        cluster a sign-in indexes its id just before it writes the session: one that
        appeared meanwhile is put back, or no revoke-all would find it."""
        await self._r.srem(index_key, *gone)
        if self._cluster is None:
            return len(gone)
        raws = await self._mget([self._sk(i) for i in gone])
        back = [i for i, raw in zip(gone, raws, strict=True) if raw is not None]
        if back:
            await self._r.sadd(index_key, *back)
        return len(gone) - len(back)

    async def _mget(self, keys: list[str]) -> list[Any]:
        """One MGET; on a cluster one per hash slot, in parallel."""
        if self._cluster is not None:
            return await self._cluster.mget_nonatomic(keys)
        return list(await self._r.mget(keys))

    async def close(self) -> None:
        if self._direct is not None:
            await self._direct.close()
        await redisconn.close(self._r)
