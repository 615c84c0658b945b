"""``/auth/admin/api/roles`` (flows in ``authgate.admin.roles``)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import Field, StrictBool, StrictStr
from starlette.responses import Response

from authgate.admin import roles as flows
from authgate.admin.http.api_deps import AdminActor, AtMost1000
from authgate.admin.http.deps import ADMIN_SECURED, AdminAuthed, admin_errors
from authgate.admin.http.views import MessageOut, RoleOut, RolesOut, role_out
from authgate.http.deps import Res
from authgate.http.schemas import _In, respond

router = APIRouter(prefix="/admin/api/roles", tags=["Admin · Roles"])

Names = Annotated[list[StrictStr], AtMost1000]


class CreateRoleIn(_In):
    name: StrictStr = Field(..., min_length=1, max_length=255, examples=["editor"])
    guard: StrictStr = Field(..., min_length=1, max_length=64, examples=["web"])
    tenantId: StrictStr | None = None
    isSystem: StrictBool | None = None
    isActive: StrictBool | None = None
    permissions: Names | None = None


class UpdateRoleIn(_In):
    name: StrictStr | None = Field(None, max_length=255)
    isActive: StrictBool | None = None
    permissions: Names | None = None


@router.get("", response_model=RolesOut, responses=admin_errors(),
            summary="Roles (of a tenant, of a guard)", openapi_extra=ADMIN_SECURED)
async def list_roles(res: Res, admin: AdminAuthed,
                     tenantId: str | None = Query(None, max_length=64),
                     guard: str | None = Query(None, max_length=64)) -> Response:
    found = await flows.list_roles(res, tenant_id=tenantId, guard=guard)
    return respond(RolesOut(data=[role_out(v) for v in found]))


@router.post("", status_code=201, response_model=RoleOut, responses=admin_errors(400, 409),
             summary="Create a role with permissions", openapi_extra=ADMIN_SECURED)
async def create_role(body: CreateRoleIn, res: Res, actor: AdminActor) -> Response:
    made = await flows.create_role(
        res, actor, name=body.name, guard=body.guard, tenant_id=body.tenantId,
        is_system=bool(body.isSystem), is_active=body.isActive is not False,
        permissions=body.permissions or [])
    return respond(RoleOut(role=role_out(made)), 201)


@router.patch("/{id}", response_model=RoleOut, responses=admin_errors(400, 409),
              summary="Rename, (de)activate, or replace the permissions of a role",
              openapi_extra=ADMIN_SECURED)
async def update_role(id: str, body: UpdateRoleIn, res: Res,
                      actor: AdminActor) -> Response:
    updated = await flows.update_role(res, actor, id, name=body.name,
                                      is_active=body.isActive, permissions=body.permissions)
    return respond(RoleOut(role=role_out(updated)))


@router.delete("/{id}", response_model=MessageOut, responses=admin_errors(),
               summary="Delete a role", openapi_extra=ADMIN_SECURED)
async def delete_role(id: str, res: Res, actor: AdminActor) -> Response:
    await flows.delete_role(res, actor, id)
    return respond(MessageOut(message="Role removed"))
