"""Assertions and direct-storage helpers shared by the HTTP and store tests.

They reach the real database through the app's own engines (no mocks): tests use them to put
a user into a state no public route can produce yet (suspended, deleted, TOTP enrolled).
"""

from __future__ import annotations

import base64
import json
from datetime import datetime
from http import HTTPStatus
from typing import Any

import httpx
from sqlalchemy import delete, func, select, update

from authgate.db import new_id
from authgate.identity.models import Permission, Role, RolePermission, User, UserRole
from authgate.mfa.models import TotpDevice
from authgate.resources import Resources

ENVELOPE_KEYS = {"statusCode", "error", "message", "code"}
STORES = ("database", "redis", "memory")
REDIS_TOPOLOGIES = ("redis-cluster", "redis-sentinel")
"""Beside the machine's Redis: a local Redis Cluster and a Sentinel set-up
(``tests/redis_topologies.py``); ``topology_url`` gives a parameter's ``redis_url``."""


def assert_error(r: httpx.Response, status: int, code: str, message: str | None = None) -> dict[str, Any]:
    """The contract's error envelope: exactly four keys, reason phrase, stable code."""
    assert r.status_code == status, (r.status_code, r.text)
    assert r.headers["content-type"].startswith("application/json"), r.headers
    body: dict[str, Any] = r.json()
    assert set(body) == ENVELOPE_KEYS, body
    assert body["statusCode"] == status
    assert body["error"] == HTTPStatus(status).phrase
    assert body["code"] == code, body
    assert isinstance(body["message"], str) and body["message"]
    if message is not None:
        assert body["message"] == message, body
    return body


def answer_headers(r: httpx.Response) -> dict[str, str]:
    """The response's headers without ``x-request-id`` (new for every request, so two
    answers that must look the same to a prober are compared without it)."""
    return {k: v for k, v in r.headers.items() if k != "x-request-id"}


def jwt_part(token: str, index: int) -> dict[str, Any]:
    """Decode a JWT header (0) or payload (1) without verifying it."""
    seg = token.split(".")[index]
    decoded: dict[str, Any] = json.loads(base64.urlsafe_b64decode(seg + "=" * (-len(seg) % 4)))
    return decoded


def claims(token: str) -> dict[str, Any]:
    return jwt_part(token, 1)


def set_cookies(r: httpx.Response) -> dict[str, dict[str, str]]:
    """Set-Cookie headers by cookie name: {"value": ..., "<lower-case attr>": value or ""}."""
    out: dict[str, dict[str, str]] = {}
    for raw in r.headers.get_list("set-cookie"):
        first, *attrs = [p.strip() for p in raw.split(";")]
        name, _, value = first.partition("=")
        entry = {"value": value.strip('"')}
        for a in attrs:
            k, _, v = a.partition("=")
            entry[k.strip().lower()] = v.strip()
        out[name] = entry
    return out


async def user_id_of(res: Resources, email: str) -> str:
    async with res.db.reader.connect() as conn:
        uid = (await conn.execute(select(User.id).where(User.email == email))).scalar_one()
    return str(uid)


async def set_user(res: Resources, user_id: str, **values: Any) -> None:
    """Change the user row as an admin tool would, then drop cached snapshots."""
    async with res.db.writer.begin() as conn:
        await conn.execute(update(User).where(User.id == user_id).values(**values))
    await res.store.user_changed(user_id)


async def delete_user(res: Resources, user_id: str) -> None:
    async with res.db.writer.begin() as conn:
        await conn.execute(delete(User).where(User.id == user_id))
    await res.store.user_changed(user_id)


async def stored_user(res: Resources, user_id: str) -> User:
    async with res.sessionmaker() as s:
        user = (await s.execute(select(User).where(User.id == user_id))).scalar_one()
    return user


async def count_users(res: Resources, email: str | None = None) -> int:
    stmt = select(func.count()).select_from(User)
    if email is not None:
        stmt = stmt.where(User.email == email)
    async with res.db.reader.connect() as conn:
        return int((await conn.execute(stmt)).scalar_one())


async def add_totp_device(
    res: Resources, user_id: str, *, verified: bool = True, name: str = "Phone",
    expires_at: datetime | None = None,
) -> str:
    """Insert a TOTP device row as the TOTP feature will: the secret column holds
    ``<kid>:<ciphertext>``; a dummy ciphertext is enough for status/toggle logic."""
    device_id = new_id()
    async with res.sessionmaker() as s:
        s.add(TotpDevice(
            id=device_id, user_id=user_id, secret_enc="d0:dummy-ciphertext",
            secret_lookup=new_id().replace("-", ""), device_name=name, verified=verified,
            expires_at=expires_at, created_at=res.clock.now(),
        ))
        await s.commit()
    return device_id


async def grant_permissions(res: Resources, user_id: str, role: str, *perms: str) -> None:
    """Give the user a role carrying ``perms`` (takes effect at the next login)."""
    now = res.clock.now()
    role_id = new_id()
    async with res.sessionmaker() as s:
        s.add(Role(id=role_id, name=role, guard="web", tenant_scope="", is_system=False,
                   is_active=True, created_at=now, updated_at=now))
        await s.flush()
        for p in perms:
            pid = new_id()
            s.add(Permission(id=pid, name=p, guard="web", created_at=now, updated_at=now))
            await s.flush()
            s.add(RolePermission(role_id=role_id, permission_id=pid))
        s.add(UserRole(user_id=user_id, role_id=role_id, created_at=now))
        await s.commit()
