"""The end-user tenant routes' flows: switch the session's tenant, look a tenant up by slug
(contract §2.6, §3.15).

Differences from upstream, on purpose: switching needs the MFA step done (W8: upstream lets
an MFA-pending session switch), and switching to a tenant the user is not a member of
answers 403 ``NOT_A_MEMBER_OF_TENANT`` (W20: upstream answers 401 ``USER_NOT_FOUND``), as
does an inactive membership.
"""

from __future__ import annotations

from authgate.authz.store import grants, in_session
from authgate.errors import AuthError, Code
from authgate.events import TENANT_SWITCHED, Event
from authgate.resources import Resources
from authgate.sessions.records import SessionRecord
from authgate.sessions.service import Principal, Sessions, TokenPair
from authgate.tenancy import store as tenants
from authgate.tenancy.service import TenantView, tenant_view
from authgate.tx import readonly


async def switch_tenant(res: Resources, principal: Principal,
                        tenant_id: str) -> tuple[SessionRecord, TokenPair]:
    """Move the caller's session to ``tenant_id`` (same session, MFA state kept, that
    tenant's roles and permissions) and mint new tokens.

    Raises TENANT_SWITCHING_DISABLED (tenancy off), TENANT_SWITCHING_NOT_SUPPORTED
    (isolated mode), TENANT_NOT_FOUND (unknown or inactive), NOT_A_MEMBER_OF_TENANT (403:
    no active membership there), SESSION_NOT_FOUND (the session ended meanwhile).
    """
    mode = res.settings.tenant.mode
    if mode == "off":
        raise AuthError(Code.TENANT_SWITCHING_DISABLED)
    if mode == "isolated":
        raise AuthError(Code.TENANT_SWITCHING_NOT_SUPPORTED)
    user_id = principal.user.id
    async with readonly(res.readmaker) as s:
        tenant = await tenants.tenant_by_id(s, tenant_id)
        if tenant is None or not tenant.is_active:
            raise AuthError(Code.TENANT_NOT_FOUND,
                            f"Tenant with ID '{tenant_id[:64]}' not found")
        held = await grants(in_session(s), user_id, tenant.id)
    if held is None:
        raise AuthError(Code.NOT_A_MEMBER_OF_TENANT)
    rec, tokens = await Sessions(res).switch_tenant(principal, tenant.id, held.snapshot())
    await res.events.emit(Event(TENANT_SWITCHED, user_id, {
        "sessionId": rec.id, "from": principal.session.tenant_id, "to": tenant.id}))
    return rec, tokens


async def lookup(res: Resources, slug: str | None) -> TenantView:
    """The active tenant with ``slug``. TENANT_NOT_FOUND "Tenant not found" when tenancy is
    off, the slug is missing, unknown or the tenant inactive (one answer for all)."""
    if not res.settings.tenant.enabled or not slug:
        raise AuthError(Code.TENANT_NOT_FOUND)
    async with readonly(res.readmaker) as s:
        tenant = await tenants.tenant_by_slug(s, slug)
    if tenant is None or not tenant.is_active:
        raise AuthError(Code.TENANT_NOT_FOUND)
    return tenant_view(tenant)
