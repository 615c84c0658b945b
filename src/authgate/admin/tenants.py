"""Tenants from the admin console, through ``authgate.tenancy.service`` (a PATCH without
``metadata`` keeps it: upstream resets it to ``{}``, W17)."""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import select

from authgate.admin.actor import Actor
from authgate.admin.ids import parse_id
from authgate.errors import AuthError, Code
from authgate.identity.models import Tenant
from authgate.resources import Resources
from authgate.tenancy import service as tenancy
from authgate.tenancy.service import TenantView, check_slug, tenant_view
from authgate.tx import readonly

SLUG_MESSAGE = ("Slug must be lowercase alphanumeric with hyphens, no leading/trailing or "
                "consecutive hyphens")


_SLUG = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")


def _checked_slug(slug: str) -> str:
    """The contract's slug rule (no consecutive hyphens either), answered with the code
    INVALID_SLUG_FORMAT (upstream's DTO answers it without a code, W20)."""
    try:
        check_slug(slug)
    except AuthError:
        raise AuthError(Code.INVALID_SLUG_FORMAT, SLUG_MESSAGE) from None
    if not _SLUG.match(slug):
        raise AuthError(Code.INVALID_SLUG_FORMAT, SLUG_MESSAGE)
    return slug


def _checked_id(tenant_id: str) -> str:
    tid = parse_id(tenant_id)
    if tid is None:
        raise AuthError(Code.TENANT_NOT_FOUND)
    return tid


def _taken(slug: str | None) -> AuthError:
    return AuthError(Code.TENANT_ALREADY_EXISTS,
                     f"Tenant with slug '{(slug or '')[:64]}' already exists")


async def list_tenants(res: Resources) -> list[TenantView]:
    """Newest first."""
    async with readonly(res.stale_readmaker) as s:
        rows = (await s.execute(select(Tenant).order_by(Tenant.created_at.desc(),
                                                        Tenant.id))).scalars().all()
    return [tenant_view(t) for t in rows]


async def create_tenant(res: Resources, actor: Actor, *, name: str, slug: str,
                        description: str | None, metadata: dict[str, Any] | None
                        ) -> TenantView:
    """Raises INVALID_INPUT (blank name), INVALID_SLUG_FORMAT, TENANT_ALREADY_EXISTS."""
    _checked_slug(slug)
    try:
        made = await tenancy.create_tenant(res, name=name, slug=slug, description=description,
                                           metadata=metadata)
    except AuthError as exc:
        raise _taken(slug) if exc.code is Code.TENANT_ALREADY_EXISTS else exc from None
    await actor.record(res, "tenant.create", made.id, name=made.name, slug=made.slug)
    return made


_UNSET: Any = object()


async def update_tenant(res: Resources, actor: Actor, tenant_id: str, *,
                        name: str | None = None, slug: Any = _UNSET,
                        description: Any = _UNSET,
                        metadata: dict[str, Any] | None = None) -> TenantView:
    """Change what is given, keep the rest (``metadata`` too). Raises TENANT_NOT_FOUND,
    INVALID_SLUG_FORMAT, TENANT_ALREADY_EXISTS."""
    tid = _checked_id(tenant_id)
    changes: dict[str, Any] = {}
    if slug is not _UNSET and slug is not None:
        changes["slug"] = _checked_slug(slug)
    if description is not _UNSET:
        changes["description"] = description
    try:
        updated = await tenancy.update_tenant(res, tid, name=name, metadata=metadata,
                                              **changes)
    except AuthError as exc:
        raise _taken(slug) if exc.code is Code.TENANT_ALREADY_EXISTS else exc from None
    await actor.record(res, "tenant.update", tid, fields=sorted(
        k for k, v in (("name", name), ("metadata", metadata)) if v is not None) + sorted(
        changes))
    return updated


async def delete_tenant(res: Resources, actor: Actor, tenant_id: str) -> None:
    tid = _checked_id(tenant_id)
    await tenancy.delete_tenant(res, tid)
    await actor.record(res, "tenant.delete", tid)
