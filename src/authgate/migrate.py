"""Schema migrations (Alembic), runnable from the CLI, the app's start-up and tests.

Alembic (with Mako and the revision scripts, about 10 MB of a worker's memory) is imported
only when there is something to do: a database already at the head revision is recognised
from its ``alembic_version`` row and the revision files' ids, so restarting a server on a
migrated SQLite database never loads it.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

if TYPE_CHECKING:  # alembic is imported when a migration runs, not by every server process
    from alembic.config import Config

MIGRATIONS = Path(__file__).parent / "migrations"
VERSION_TABLE = "alembic_version"
_REVISION = re.compile(r"^revision\s*(?::[^=\n]*)?=\s*(.+?)\s*$", re.MULTILINE)
_DOWN_REVISION = re.compile(r"^down_revision\s*(?::[^=\n]*)?=\s*(.+?)\s*$", re.MULTILINE)
_QUOTED = re.compile(r"""(['"])([^'"\\]+)\1""")


def alembic_config(connection: Connection | None = None) -> Config:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("file_template", "%%(year)d-%%(month).2d-%%(day).2d_%%(slug)s")
    if connection is not None:
        cfg.attributes["connection"] = connection
    return cfg


def head_revision(versions: Path = MIGRATIONS / "versions") -> str | None:
    """The one head of the revision chain, read from the scripts' ``revision`` and
    ``down_revision`` lines without importing alembic. None whenever that is not certain
    (a line it cannot read, a merge, several heads): then alembic decides."""
    revisions: set[str] = set()
    parents: set[str] = set()
    for script in versions.glob("*.py"):
        if script.name.startswith(("__init__", ".#")):  # what alembic skips too
            continue
        source = script.read_text(encoding="utf-8")
        rev, down = _REVISION.findall(source), _DOWN_REVISION.findall(source)
        if len(rev) != 1 or len(down) != 1 or (m := _QUOTED.fullmatch(rev[0])) is None:
            return None
        revisions.add(m.group(2))
        if down[0] != "None":
            if (d := _QUOTED.fullmatch(down[0])) is None:
                return None
            parents.add(d.group(2))
    heads = revisions - parents
    return heads.pop() if len(heads) == 1 and parents <= revisions else None


def _stamped(conn: Connection) -> list[str] | None:
    """The revisions recorded in the database; None when it has no version table."""
    if not inspect(conn).has_table(VERSION_TABLE):
        return None
    return [str(r) for r in conn.execute(text(f"SELECT version_num FROM {VERSION_TABLE}"))
            .scalars()]


async def upgrade(engine: AsyncEngine, revision: str = "head") -> None:
    """Bring the schema to ``revision``; data is kept (migrations only alter)."""

    def _at_head(conn: Connection) -> bool:
        head = head_revision()
        return head is not None and _stamped(conn) == [head]

    def _run(conn: Connection) -> None:
        from alembic import command

        command.upgrade(alembic_config(conn), revision)

    async with engine.begin() as conn:
        # Checked inside the migration's own transaction (BEGIN IMMEDIATE on SQLite), so a
        # process starting beside one that is migrating waits for it, then sees the head.
        if revision == "head" and await conn.run_sync(_at_head):
            return
        await conn.run_sync(_run)


async def current(engine: AsyncEngine) -> str | None:
    def _rev(conn: Connection) -> Any:
        stamped = _stamped(conn)
        if stamped is None or len(stamped) <= 1:
            return stamped[0] if stamped else None
        from alembic.runtime.migration import MigrationContext  # several heads: its error

        return MigrationContext.configure(conn).get_current_revision()

    async with engine.connect() as conn:
        rev: str | None = await conn.run_sync(_rev)
        return rev
