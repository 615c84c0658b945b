"""Every error code is either raised somewhere in src or listed as reserved in errors.py, so
the list of codes cannot fill up with dead ones unnoticed."""

from __future__ import annotations

import ast
from pathlib import Path

from authgate.errors import RESERVED, Code

SRC = Path(__file__).resolve().parents[1] / "src" / "authgate"


def _used_codes() -> dict[Code, list[str]]:
    """``Code.X`` references in src, other than keys of a dict literal (the message table in
    errors.py and the status table in http/errors.py name every code) and the RESERVED list."""
    used: dict[Code, list[str]] = {}
    for path in sorted(SRC.rglob("*.py")):
        tree = ast.parse(path.read_text(), filename=str(path))
        skip = {id(k) for node in ast.walk(tree) if isinstance(node, ast.Dict)
                for k in node.keys if k is not None}
        skip |= {id(n) for node in ast.walk(tree)
                 if isinstance(node, ast.AnnAssign | ast.Assign)
                 and "RESERVED" in {t.id for t in (node.targets if isinstance(node, ast.Assign)
                                                   else [node.target])
                                    if isinstance(t, ast.Name)}
                 for n in ast.walk(node)}
        for node in ast.walk(tree):
            if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)
                    and node.value.id == "Code" and id(node) not in skip
                    and node.attr in Code.__members__):
                used.setdefault(Code[node.attr], []).append(
                    f"{path.relative_to(SRC)}:{node.lineno}")
    return used


def test_every_code_is_raised_or_reserved() -> None:
    used = _used_codes()
    dead = [c.value for c in Code if c not in used and c not in RESERVED]
    assert dead == [], f"never raised: use them, or list them in errors.RESERVED: {dead}"


def test_reserved_codes_are_not_raised() -> None:
    used = _used_codes()
    raised = {c.value: used[c] for c in RESERVED if c in used}
    assert raised == {}, f"raised now: take them off errors.RESERVED: {raised}"


def test_the_scan_sees_uses_and_skips_the_tables() -> None:
    used = _used_codes()
    assert Code.INVALID_CREDENTIALS in used  # raised by identity/accounts.py
    assert Code.NOT_FOUND in used  # the edge maps an unknown route to it
    assert Code.MFA_CODE_EXPIRED not in used  # a key of both tables, and nothing more
