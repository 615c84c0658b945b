"""The migrations build exactly the schema the models declare (tables, columns, indexes,
foreign keys), on both databases: a model change without its migration, or a migration
that misses an index, fails here rather than in production."""

from __future__ import annotations

from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy.ext.asyncio import create_async_engine

import authgate.models  # noqa: F401 - every table on Base.metadata
from authgate.db import Base


async def test_migrations_match_the_models(database_url: str) -> None:
    engine = create_async_engine(database_url)
    try:
        async with engine.connect() as conn:
            diff: list[Any] = await conn.run_sync(lambda c: compare_metadata(
                MigrationContext.configure(c, opts={"compare_type": False}), Base.metadata))
    finally:
        await engine.dispose()
    assert diff == []


async def test_the_purged_tables_have_their_expiry_index(database_url: str) -> None:
    """Each purge batch finds expired rows through an index (migration 0011)."""
    from sqlalchemy import inspect

    engine = create_async_engine(database_url)
    try:
        async with engine.connect() as conn:
            def indexed(c: Any) -> dict[str, bool]:
                insp = inspect(c)
                return {t: any(ix["column_names"] == ["expires_at"]
                               for ix in insp.get_indexes(t))
                        for t in ("authgate_sessions", "authgate_one_time_codes",
                                  "authgate_counters", "authgate_admin_sessions")}
            found = await conn.run_sync(indexed)
    finally:
        await engine.dispose()
    assert found == dict.fromkeys(found, True)
