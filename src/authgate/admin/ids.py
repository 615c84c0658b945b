"""Path ids: a value that is not a UUID names nothing (404, never a database error)."""

from __future__ import annotations

import uuid


def parse_id(value: str) -> str | None:
    """The canonical UUID string, or None for anything else."""
    try:
        return str(uuid.UUID(value))
    except (ValueError, AttributeError, TypeError):
        return None
