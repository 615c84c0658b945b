"""The guard's role and permission step (contract §1.9 step 11), on the session snapshot.

Pure: the caller hands in what the session holds; no I/O, so a host route's ``require``
costs no round trip. Order and messages as upstream: guard mismatch, no roles, missing
roles (all of them are needed), missing permissions (any-of by default, or all-of). One
difference (W20): a permission check on a user without any role answers
``NO_ROLES_ASSIGNED`` rather than ``MISSING_REQUIRED_PERMISSIONS``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from authgate.errors import AuthError, Code


def _active(roles: Iterable[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    return [r for r in roles if r.get("isActive", True) is not False]


def check(held_roles: Sequence[Mapping[str, Any]], held_permissions: Iterable[str], *,
          roles: Sequence[str] = (), permissions: Sequence[str] = (), any_of: bool = True,
          guard: str | None = None) -> None:
    """Raise the guard's 403 unless the holder satisfies the requirement.

    ``roles``: every one is needed. ``permissions``: at least one (``any_of``) or all.
    ``guard``: the holder's roles must include one of that guard (upstream checks it only
    together with ``roles``; here it applies to a permission requirement too)."""
    if not roles and not permissions:
        return
    active = _active(held_roles)
    if guard is not None:
        guards = list(dict.fromkeys(str(r.get("guard")) for r in active if r.get("guard")))
        if guard not in guards:
            raise AuthError(Code.GUARD_MISMATCH,
                            f"Access denied: Guard mismatch. Required: {guard}, "
                            f"Found: {', '.join(guards) if guards else 'none'}")
    if roles:
        names = {str(r.get("name")) for r in active}
        if not names:
            raise AuthError(Code.NO_ROLES_ASSIGNED, "Access denied: No roles assigned")
        missing = [r for r in roles if r not in names]
        if missing:
            raise AuthError(Code.MISSING_REQUIRED_ROLES,
                            f"Access denied: Missing required roles: {', '.join(missing)}")
    if permissions:
        if not active:
            raise AuthError(Code.NO_ROLES_ASSIGNED,
                            "Access denied: No roles assigned for permission check")
        have = set(held_permissions)
        ok = (any(p in have for p in permissions) if any_of
              else all(p in have for p in permissions))
        if not ok:
            if any_of:
                msg = "Access denied: Requires at least one of: " + ", ".join(permissions)
            else:
                msg = ("Access denied: Missing required permissions: "
                       + ", ".join(p for p in permissions if p not in have))
            raise AuthError(Code.MISSING_REQUIRED_PERMISSIONS, msg)
