"""Permissions from the admin console: creating and deleting go through
``authgate.authz.service`` (holders' sessions follow); reads, search and the rename are
here. The duplicate and not-found answers carry codes (upstream's have none, W20)."""

from __future__ import annotations

from sqlalchemy import func, or_, select
from sqlalchemy.exc import IntegrityError

from authgate.admin.actor import Actor
from authgate.admin.ids import parse_id
from authgate.authz import service as authz
from authgate.errors import AuthError, Code
from authgate.identity.models import Permission
from authgate.resources import Resources
from authgate.tx import readonly, transaction

SEARCH_LIMIT = 20
MAX_LIMIT = 1000


def _like(term: str) -> str:
    escaped = term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped.lower()}%"


def _duplicate(name: str, guard: str) -> AuthError:
    return AuthError(Code.PERMISSION_ALREADY_EXISTS,
                     f"Permission '{name[:255]}' with guard '{guard[:64]}' already exists")


def _not_found(permission_id: str) -> AuthError:
    return AuthError(Code.PERMISSION_NOT_FOUND,
                     f"Permission with id {permission_id[:64]} not found")


def _matching(term: str) -> object:
    like = _like(term)
    return or_(func.lower(Permission.name).like(like, escape="\\"),
               func.lower(Permission.description).like(like, escape="\\"))


async def list_permissions(res: Resources, *, search: str | None = None,
                           category: str | None = None, guard: str | None = None,
                           limit: int | None = None) -> list[Permission]:
    """By name; ``search`` in the name or description (wildcards matched literally)."""
    stmt = select(Permission).order_by(Permission.name, Permission.guard)
    if search:
        stmt = stmt.where(_matching(search))  # type: ignore[arg-type]
    if category:
        stmt = stmt.where(Permission.category == category)
    if guard:
        stmt = stmt.where(Permission.guard == guard)
    if limit is not None and limit > 0:
        stmt = stmt.limit(min(limit, MAX_LIMIT))
    async with readonly(res.stale_readmaker) as s:
        return list((await s.execute(stmt)).scalars().all())


async def search(res: Resources, q: str | None, *, guard: str | None = None,
                 limit: int = SEARCH_LIMIT) -> list[Permission]:
    """At most ``limit`` (default 20) matches of ``q``; nothing for a blank ``q``."""
    if not q or not q.strip():
        return []
    return await list_permissions(res, search=q.strip(), guard=guard,
                                  limit=limit if limit > 0 else SEARCH_LIMIT)


async def guards(res: Resources) -> list[str]:
    """The guards permissions use, sorted."""
    async with readonly(res.stale_readmaker) as s:
        found = (await s.execute(select(Permission.guard).distinct())).scalars().all()
    return sorted(g for g in found if g)


async def categories(res: Resources) -> list[str]:
    async with readonly(res.stale_readmaker) as s:
        found = (await s.execute(select(Permission.category).distinct()
                                 .where(Permission.category.is_not(None)))).scalars().all()
    return sorted(c for c in found if c)


async def get_permission(res: Resources, permission_id: str) -> Permission:
    pid = parse_id(permission_id)
    async with readonly(res.readmaker) as s:
        found = await s.get(Permission, pid) if pid else None
    if found is None:
        raise _not_found(permission_id)
    return found


async def create_permission(res: Resources, actor: Actor, *, name: str, guard: str | None,
                            description: str | None, category: str | None) -> Permission:
    """Raises INVALID_INPUT (blank name), GUARD_NOT_ALLOWED, PERMISSION_ALREADY_EXISTS."""
    guard = guard or "web"
    try:
        made = await authz.create_permission(
            res, name=name, guard=guard, description=(description or "").strip() or None,
            category=(category or "").strip() or None)
    except AuthError as exc:
        if exc.code is Code.PERMISSION_ALREADY_EXISTS:
            raise _duplicate(name.strip(), guard) from None
        raise
    await actor.record(res, "permission.create", made.id, name=made.name, guard=made.guard)
    return await get_permission(res, made.id)


_UNSET: object = object()


async def update_permission(res: Resources, actor: Actor, permission_id: str, *,
                            name: str | None = None, category: object = _UNSET,
                            description: object = _UNSET) -> Permission:
    """Rename or re-describe; a blank ``category``/``description`` clears it. Raises
    PERMISSION_NOT_FOUND, INVALID_INPUT ("Permission name is required"),
    PERMISSION_ALREADY_EXISTS. Renaming changes what the holders' sessions carry: they
    follow at once (as for any role change)."""
    pid = parse_id(permission_id)
    if pid is None:
        raise _not_found(permission_id)
    if name is not None and not name.strip():
        raise AuthError(Code.INVALID_INPUT, "Permission name is required")
    renamed = False
    try:
        async with transaction(res.sessionmaker) as tx:
            p = await tx.session.get(Permission, pid, with_for_update=True)
            if p is None:
                raise _not_found(permission_id)
            if name is not None and name.strip() != p.name:
                p.name, renamed = name.strip(), True
            if category is not _UNSET:
                p.category = (str(category or "")).strip() or None
            if description is not _UNSET:
                p.description = (str(description or "")).strip() or None
            p.updated_at = res.clock.now()
            guard = p.guard
            await tx.session.flush()
    except IntegrityError:
        raise _duplicate((name or "").strip(), guard) from None
    if renamed:
        await authz.permission_changed(res, pid)
    await actor.record(res, "permission.update", pid, name=name)
    return await get_permission(res, pid)


async def delete_permission(res: Resources, actor: Actor, permission_id: str) -> None:
    pid = parse_id(permission_id)
    if pid is None:
        raise _not_found(permission_id)
    try:
        await authz.delete_permission(res, pid)
    except AuthError as exc:
        if exc.code is Code.PERMISSION_NOT_FOUND:
            raise _not_found(permission_id) from None
        raise
    await actor.record(res, "permission.delete", pid)
