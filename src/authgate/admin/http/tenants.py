"""``/auth/admin/api/tenants`` (flows in ``authgate.admin.tenants``)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import Field, StrictStr
from starlette.responses import Response

from authgate.admin import tenants as flows
from authgate.admin.http.api_deps import AdminActor
from authgate.admin.http.deps import ADMIN_SECURED, AdminAuthed, admin_errors
from authgate.admin.http.views import MessageOut, TenantOut, TenantsOut, tenant_out
from authgate.errors import Code
from authgate.http.deps import Res
from authgate.http.errors import route_statuses
from authgate.http.schemas import _In, respond

router = APIRouter(prefix="/admin/api/tenants", tags=["Admin · Tenants"])
_404 = {Code.TENANT_NOT_FOUND: 404}


class CreateTenantIn(_In):
    name: StrictStr = Field(..., min_length=1, max_length=255, examples=["Acme"])
    slug: StrictStr = Field(..., min_length=1, max_length=255, examples=["acme"])
    description: StrictStr | None = Field(None, max_length=1000)
    metadata: dict[str, Any] | None = None


class UpdateTenantIn(_In):
    name: StrictStr | None = Field(None, min_length=1, max_length=255)
    slug: StrictStr | None = Field(None, max_length=255)
    description: StrictStr | None = Field(None, max_length=1000)
    metadata: dict[str, Any] | None = None


@router.get("", response_model=TenantsOut, responses=admin_errors(),
            summary="Tenants, newest first", openapi_extra=ADMIN_SECURED)
async def list_tenants(res: Res, admin: AdminAuthed) -> Response:
    return respond(TenantsOut(data=[tenant_out(t) for t in await flows.list_tenants(res)]))


@router.post("", status_code=201, response_model=TenantOut, responses=admin_errors(400, 409),
             summary="Create a tenant", openapi_extra=ADMIN_SECURED)
async def create_tenant(body: CreateTenantIn, res: Res, actor: AdminActor) -> Response:
    made = await flows.create_tenant(res, actor, name=body.name, slug=body.slug,
                                     description=body.description, metadata=body.metadata)
    return respond(TenantOut(tenant=tenant_out(made)), 201)


@router.patch("/{id}", response_model=TenantOut, responses=admin_errors(400, 409),
              summary="Update a tenant (what is left out is kept, metadata too)",
              openapi_extra=ADMIN_SECURED)
@route_statuses(_404)
async def update_tenant(id: str, body: UpdateTenantIn, res: Res,
                        actor: AdminActor) -> Response:
    given = body.model_fields_set
    extra: dict[str, Any] = {}
    if "slug" in given:
        extra["slug"] = body.slug
    if "description" in given:
        extra["description"] = body.description
    updated = await flows.update_tenant(res, actor, id, name=body.name,
                                        metadata=body.metadata, **extra)
    return respond(TenantOut(tenant=tenant_out(updated)))


@router.delete("/{id}", response_model=MessageOut, responses=admin_errors(),
               summary="Delete a tenant", openapi_extra=ADMIN_SECURED)
@route_statuses(_404)
async def delete_tenant(id: str, res: Res, actor: AdminActor) -> Response:
    await flows.delete_tenant(res, actor, id)
    return respond(MessageOut(message="Tenant removed"))
