"""Seed a benchmark database fast: users (one argon2 hash reused), a session per user and MFA
rows (a verified authenticator and two recovery codes per user).

PostgreSQL takes the rows through COPY; SQLite through one executemany per batch. A million
users with their sessions and MFA rows takes minutes, not hours::

    .venv/bin/python bench/seed.py --database-url postgresql+asyncpg://postgres@127.0.0.1/authgate_bench \
        --users 1000000

Users are ``user<N>@bench.test`` with the password ``PASSWORD``; seeding again continues the
numbering. Tokens are never stored: the suite mints them with the project's own code.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import sys
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

from authgate.config import PasswordHashSettings
from authgate.crypto import argon2id
from authgate.db import Database
from authgate.migrate import upgrade
from authgate.models import Base

PASSWORD = "bench-Password-4821"
BATCH = 20_000
EMAIL = "{prefix}{n}@bench.test"


def password_hash(password: str = PASSWORD) -> str:
    """One hash at the default cost (by the implementation the server uses), reused for
    every seeded user."""
    d = PasswordHashSettings()
    return argon2id.hash_password((d.time_cost, d.memory_cost_kib, d.parallelism), password)


def _rows(start: int, count: int, *, pw_hash: str, prefix: str, mfa_rows: bool,
          now: datetime) -> Iterator[dict[str, list[dict[str, Any]]]]:
    """Batches of rows per table for users start .. start+count-1."""
    issued = now.replace(microsecond=0)
    expires = issued + timedelta(days=7)
    session_data = {"roles": [], "permissions": []}
    for lo in range(start, start + count, BATCH):
        hi = min(lo + BATCH, start + count)
        batch: dict[str, list[dict[str, Any]]] = {
            "authgate_users": [], "authgate_sessions": [],
            "authgate_totp_devices": [], "authgate_recovery_codes": []}
        for n in range(lo, hi):
            uid = str(uuid.uuid4())
            batch["authgate_users"].append({
                "id": uid, "email": EMAIL.format(prefix=prefix, n=n), "phone": None,
                "password_hash": pw_hash, "status": "active", "email_verified_at": now,
                "phone_verified_at": None, "is_mfa_enabled": False,
                "must_change_password": False, "metadata": {}, "tenant_scope": "",
                "password_changed_at": now, "created_at": now, "updated_at": now})
            batch["authgate_sessions"].append({
                "id": str(uuid.uuid4()), "user_id": uid, "generation": 0, "rotated_at": issued,
                "expires_at": expires, "last_active": now, "created_at": now,
                "authenticated_at": now, "mfa_state": "none", "amr": ["pwd"],
                "tenant_id": None, "user_agent": "authgate-bench", "device_name": "Linux",
                "ip_address": "127.0.0.1", "data": session_data, "revoked_at": None})
            if mfa_rows:
                batch["authgate_totp_devices"].append({
                    "id": str(uuid.uuid4()), "user_id": uid,
                    "secret_enc": "bench:" + secrets.token_urlsafe(48),
                    "secret_lookup": secrets.token_hex(32), "device_name": "Bench App",
                    "verified": True, "last_used_step": None, "last_used_at": None,
                    "expires_at": None, "created_at": now})
                for _ in range(2):
                    batch["authgate_recovery_codes"].append({
                        "id": str(uuid.uuid4()), "user_id": uid,
                        "code_hash": secrets.token_hex(32), "used_at": None, "created_at": now})
        yield batch


def _pg_dsn(url: str) -> str:
    return url.replace("postgresql+asyncpg://", "postgresql://", 1)


_JSON_COLS = {"metadata", "amr", "data"}


async def _copy_pg(url: str, batches: Iterator[dict[str, list[dict[str, Any]]]]) -> None:
    import asyncpg

    conn = await asyncpg.connect(_pg_dsn(url))
    try:
        for batch in batches:
            async with conn.transaction():
                for table, rows in batch.items():
                    if not rows:
                        continue
                    cols = list(rows[0])
                    records = [tuple(json.dumps(r[c]) if c in _JSON_COLS else r[c] for c in cols)
                               for r in rows]
                    await conn.copy_records_to_table(table, records=records, columns=cols)
        await conn.execute("ANALYZE")
    finally:
        await conn.close()


async def _insert_sqlite(url: str, batches: Iterator[dict[str, list[dict[str, Any]]]]) -> None:
    db = Database(url)
    tables = Base.metadata.tables
    try:
        for batch in batches:
            async with db.writer.begin() as conn:
                for table, rows in batch.items():
                    if rows:
                        await conn.execute(tables[table].insert(), rows)
        async with db.writer.begin() as conn:
            await conn.exec_driver_sql("ANALYZE")
    finally:
        await db.dispose()


async def count_users(url: str, prefix: str = "user") -> int:
    from sqlalchemy import func, select

    from authgate.identity.models import User

    db = Database(url)
    try:
        async with db.reader.connect() as conn:
            stmt = select(func.count()).select_from(User).where(
                User.email.like(f"{prefix}%@bench.test"))
            return int((await conn.execute(stmt)).scalar_one())
    finally:
        await db.dispose()


async def migrate(url: str) -> None:
    db = Database(url)
    try:
        await upgrade(db.writer)
    finally:
        await db.dispose()


async def seed(url: str, users: int, *, prefix: str = "user", mfa_rows: bool = True,
               pw_hash: str | None = None, start: int | None = None) -> tuple[int, float]:
    """Insert ``users`` more users (continuing the numbering); returns (first index, seconds)."""
    t0 = time.perf_counter()
    if start is None:
        start = await count_users(url, prefix)
    batches = _rows(start, users, pw_hash=pw_hash or password_hash(), prefix=prefix,
                    mfa_rows=mfa_rows, now=datetime.now(UTC))
    if url.startswith("postgresql"):
        await _copy_pg(url, batches)
    else:
        await _insert_sqlite(url, batches)
    return start, time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--database-url", default=os.environ.get("AUTHGATE_DATABASE_URL"),
                    required="AUTHGATE_DATABASE_URL" not in os.environ)
    ap.add_argument("--users", type=int, default=1_000_000)
    ap.add_argument("--prefix", default="user", help="email prefix (user<N>@bench.test)")
    ap.add_argument("--no-mfa-rows", action="store_true")
    ap.add_argument("--migrate", action="store_true", help="create/upgrade the schema first")
    args = ap.parse_args()

    async def run() -> None:
        if args.migrate:
            await migrate(args.database_url)
        first, secs = await seed(args.database_url, args.users, prefix=args.prefix,
                                 mfa_rows=not args.no_mfa_rows)
        rate = args.users / secs if secs else 0
        print(f"seeded users {first}..{first + args.users - 1} in {secs:.1f}s "
              f"({rate:,.0f} users/s with sessions and MFA rows)", file=sys.stderr)

    asyncio.run(run())


if __name__ == "__main__":
    main()
