"""Migration 0010 moves the admin audit trail into the one audit table, and back down."""

from __future__ import annotations

import uuid
from pathlib import Path

import asyncpg
from sqlalchemy import text

from authgate.db import Database
from authgate.migrate import alembic_config, upgrade
from tests.conftest import PG_ADMIN

ROWS = [("a1", "2026-12-01 10:00:00", "admin-1", "root@example.com", "user.update", "u-1",
         "10.0.0.1", '{"fields": ["isActive"]}'),
        ("a2", "2026-12-01 11:00:00", None, None, "admin.bootstrap", "admin-1", None, "{}")]


async def _downgrade(db: Database, revision: str) -> None:
    from alembic import command

    async with db.writer.begin() as conn:
        await conn.run_sync(lambda c: command.downgrade(alembic_config(c), revision))


async def test_admin_rows_move_into_the_audit_log_and_back(backend: str, tmp_path: Path) -> None:
    name = f"authgate_mig_{uuid.uuid4().hex[:8]}"
    if backend == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path / 'm.db'}"
    else:
        admin = await asyncpg.connect(PG_ADMIN)
        await admin.execute(f'CREATE DATABASE "{name}"')
        await admin.close()
        url = f"postgresql+asyncpg://{PG_ADMIN.split('://', 1)[1].rsplit('/', 1)[0]}/{name}"
    db = Database(url)
    try:
        await upgrade(db.writer, "0009")
        async with db.writer.begin() as conn:
            for r in ROWS:
                await conn.execute(text(
                    "INSERT INTO authgate_admin_audit (id, at, actor_id, actor_email, action, "
                    "target, ip_address, details) VALUES (:id, :at, :actor, :email, :action, "
                    ":target, :ip, :details)"),
                    dict(zip(("id", "at", "actor", "email", "action", "target", "ip",
                              "details"), r, strict=True)) | (
                        {} if backend == "sqlite" else {"at": _ts(r[1])}))
        await upgrade(db.writer)
        async with db.writer.connect() as conn:
            got = (await conn.execute(text(
                "SELECT id, event, actor_type, actor_id, actor_email, user_id, target, outcome,"
                " ip_address FROM authgate_audit_log ORDER BY id"))).all()
        assert [tuple(g) for g in got] == [
            ("a1", "user.update", "admin", "admin-1", "root@example.com", "u-1", "u-1",
             "success", "10.0.0.1"),
            ("a2", "admin.bootstrap", "admin", None, None, None, "admin-1", "success", None)]
        await _downgrade(db, "0009")
        async with db.writer.connect() as conn:
            back = (await conn.execute(text(
                "SELECT id, action, actor_email, target FROM authgate_admin_audit ORDER BY id"
            ))).all()
        assert [tuple(b) for b in back] == [("a1", "user.update", "root@example.com", "u-1"),
                                            ("a2", "admin.bootstrap", None, "admin-1")]
    finally:
        await db.dispose()
        if backend != "sqlite":
            admin = await asyncpg.connect(PG_ADMIN)
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            await admin.close()


def _ts(value: str) -> object:
    from datetime import UTC, datetime

    return datetime.fromisoformat(value).replace(tzinfo=UTC)
