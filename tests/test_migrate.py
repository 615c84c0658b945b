"""``authgate.migrate`` tells a database at the head revision without importing alembic, and
hands everything else to alembic."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic.script import ScriptDirectory

from authgate.migrate import alembic_config, head_revision

SCRIPT = '''"""{rev}

Revision ID: {rev}
Revises: {down}
"""
from alembic import op

revision{ann} = {rev!r}
down_revision{ann} = {down!r}
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass
'''


def _write(d: Path, rev: str, down: object, ann: str = "") -> None:
    (d / f"{rev}_step.py").write_text(SCRIPT.format(rev=rev, down=down, ann=ann))


def test_head_of_the_shipped_revisions_is_alembics() -> None:
    assert head_revision() == ScriptDirectory.from_config(alembic_config()).get_current_head()


@pytest.mark.parametrize("ann", ["", ": str", ": str | None"])
def test_head_of_a_linear_chain(tmp_path: Path, ann: str) -> None:
    _write(tmp_path, "0001", None, ann)
    _write(tmp_path, "0002", "0001", ann)
    _write(tmp_path, "0003", "0002", ann)
    (tmp_path / "__init__.py").write_text("revision = 'not-a-revision'\n")
    assert head_revision(tmp_path) == "0003"


def test_no_head_when_alembic_must_decide(tmp_path: Path) -> None:
    _write(tmp_path, "0001", None)
    _write(tmp_path, "0002", "0001")
    _write(tmp_path, "0003", "0001")  # two heads
    assert head_revision(tmp_path) is None
    _write(tmp_path, "0004", ("0002", "0003"))  # a merge
    assert head_revision(tmp_path) is None
    (tmp_path / "0004_step.py").unlink()
    (tmp_path / "0003_step.py").write_text("from x import REV\nrevision = REV\n")
    assert head_revision(tmp_path) is None  # a line it cannot read
    (tmp_path / "0003_step.py").unlink()
    assert head_revision(tmp_path) == "0002"
    (tmp_path / "0001_step.py").unlink()
    assert head_revision(tmp_path) is None  # its parent is missing
