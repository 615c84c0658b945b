"""``INSERT … ON CONFLICT`` for the database in use.

SQLAlchemy spells the upsert per dialect (``sqlalchemy.dialects.sqlite.insert`` and
``sqlalchemy.dialects.postgresql.insert`` build the same statement). The dialect module is
imported on first use, so a server loads only its own database's (PostgreSQL's is about
1.6 MB of a SQLite worker's memory otherwise).
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

from sqlalchemy import FromClause

from authgate.db import Database


def insert(db: Database, table: FromClause) -> Any:
    """``<dialect>.insert(table)``: chain ``.values(...)`` and ``.on_conflict_do_update(...)``
    (``excluded`` holds the proposed row) exactly as with the dialect's own ``insert``."""
    name = "sqlite" if db.is_sqlite else "postgresql"
    return import_module(f"sqlalchemy.dialects.{name}").insert(table)
