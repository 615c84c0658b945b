"""Which tenant a request means, under ``tenant.mode`` (contract §2.1 step 4, §3.15).

``requested_tenant`` checks a request's ``tenantId`` before anything else (signup, login,
forgot-password, passwordless, invite); ``user_scope`` is the account scope look-ups use
(a tenant's own accounts in isolated mode, the one global scope otherwise);
``session_tenant`` decides the tenant a new session opens in.
"""

from __future__ import annotations

from authgate.config import Settings
from authgate.errors import AuthError, Code
from authgate.identity.snapshot import UserSnapshot
from authgate.resources import Resources
from authgate.tenancy import store
from authgate.tx import readonly

NOT_A_MEMBER = "User does not belong to this tenant"


def user_scope(settings: Settings, tenant_id: str | None) -> str:
    """The ``tenant_scope`` accounts are looked up and created in: the tenant in isolated
    mode, ``""`` (one account per person) otherwise."""
    return (tenant_id or "") if settings.tenant.mode == "isolated" else ""


async def requested_tenant(res: Resources, tenant_id: str | None) -> str | None:
    """The tenant a request names, checked: TENANT_NOT_ENABLED (a ``tenantId`` while
    tenancy is off), TENANT_NOT_FOUND (unknown or inactive: told apart from nothing, so a
    disabled tenant is not revealed), TENANT_ID_REQUIRED (isolated mode without one)."""
    mode = res.settings.tenant.mode
    if mode == "off":
        if tenant_id is not None:
            raise AuthError(Code.TENANT_NOT_ENABLED)
        return None
    if tenant_id is None or tenant_id == "":
        if mode == "isolated":
            raise AuthError(Code.TENANT_ID_REQUIRED)
        return None
    async with readonly(res.readmaker) as s:
        tenant = await store.tenant_by_id(s, tenant_id)
    if tenant is None or not tenant.is_active:
        raise AuthError(Code.TENANT_NOT_FOUND, f"Tenant with ID '{tenant_id[:64]}' not found")
    return tenant.id


async def session_tenant(res: Resources, user: UserSnapshot, requested: str | None) -> str | None:
    """The tenant a new session of ``user`` opens in (``requested``: the checked
    ``tenantId`` of the request). Isolated: the account's own tenant. Shared: the one asked
    for, which needs an active membership (403 ACCESS_DENIED otherwise), else the user's
    default tenant, else none."""
    mode = res.settings.tenant.mode
    if mode == "off":
        return None
    if mode == "isolated":
        if requested is not None and user.tenant_id != requested:
            raise AuthError(Code.ACCESS_DENIED, NOT_A_MEMBER)  # never: looked up in scope
        return user.tenant_id
    async with readonly(res.readmaker) as s:
        if requested is not None:
            if await store.active_membership(s, user.id, requested) is None:
                raise AuthError(Code.ACCESS_DENIED, NOT_A_MEMBER)
            return requested
        default = await store.default_membership(s, user.id)
    return default.tenant_id if default is not None else None
