"""/auth tenant routes: switch the session's tenant, look a tenant up by slug (flows in
``authgate.accounts.tenants``)."""

from __future__ import annotations

import re
from typing import Annotated

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, StrictStr, field_validator
from starlette.responses import Response

from authgate.accounts import tenants as flows
from authgate.errors import Code
from authgate.http.deps import Authed, Res
from authgate.http.errors import route_statuses
from authgate.http.responses import auth_response
from authgate.http.schemas import SECURED, AuthOut, _In, errors, respond

router = APIRouter(tags=["Tenants"])

_UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-"
                   r"[0-9a-fA-F]{12}$")


class SwitchTenantIn(_In):
    tenantId: StrictStr

    @field_validator("tenantId")
    @classmethod
    def _uuid(cls, v: str) -> str:
        if not _UUID.match(v):
            raise ValueError("must be a UUID")
        return v.lower()


class TenantLookupOut(BaseModel):
    id: str
    slug: str | None
    name: str


@router.post("/switch-tenant", response_model=AuthOut, responses=errors(400, 401, 403),
             summary="Move the session to another tenant the user belongs to (shared mode)",
             openapi_extra=SECURED)
async def switch_tenant(body: SwitchTenantIn, request: Request, res: Res,
                        principal: Authed) -> Response:
    _, tokens = await flows.switch_tenant(res, principal, body.tenantId)
    return auth_response(res, request, tokens=tokens, message="Tenant switched successfully",
                         requires_mfa=False, user=principal.user)


@router.get("/tenants/lookup", response_model=TenantLookupOut, responses=errors(400, 404),
            summary="Find an active tenant by its slug (public)")
@route_statuses({Code.TENANT_NOT_FOUND: 404})
async def lookup(res: Res, slug: Annotated[str | None, Query(max_length=255)] = None
                 ) -> Response:
    t = await flows.lookup(res, slug)
    return respond(TenantLookupOut(id=t.id, slug=t.slug, name=t.name))
