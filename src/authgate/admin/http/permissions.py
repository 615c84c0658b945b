"""``/auth/admin/api/permissions`` (flows in ``authgate.admin.permissions``). The fixed
paths (``/guards``, ``/search``, ``/categories``) are declared before ``/{id}``."""

from __future__ import annotations

from fastapi import APIRouter, Query
from pydantic import Field, StrictStr
from starlette.responses import Response

from authgate.admin import permissions as flows
from authgate.admin.http.api_deps import AdminActor, lenient_int
from authgate.admin.http.deps import ADMIN_SECURED, AdminAuthed, admin_errors
from authgate.admin.http.views import (
    MessageOut,
    NamesOut,
    PermissionOut,
    PermissionsOut,
    permission_out,
)
from authgate.http.deps import Res
from authgate.http.schemas import _In, respond

router = APIRouter(prefix="/admin/api/permissions", tags=["Admin · Permissions"])


class CreatePermissionIn(_In):
    name: StrictStr = Field(..., min_length=1, max_length=255, examples=["users.invite"])
    guard: StrictStr | None = Field(None, max_length=64, examples=["web"])
    description: StrictStr | None = Field(None, max_length=1000)
    category: StrictStr | None = Field(None, max_length=255, examples=["users"])


class UpdatePermissionIn(_In):
    name: StrictStr | None = Field(None, max_length=255)
    category: StrictStr | None = Field(None, max_length=255)
    description: StrictStr | None = Field(None, max_length=1000)


@router.get("", response_model=PermissionsOut, responses=admin_errors(),
            summary="Permissions (search, category, guard, limit)", openapi_extra=ADMIN_SECURED)
async def list_permissions(res: Res, admin: AdminAuthed,
                           search: str | None = Query(None, max_length=255),
                           category: str | None = Query(None, max_length=255),
                           guard: str | None = Query(None, max_length=64),
                           limit: str | None = Query(None)) -> Response:
    found = await flows.list_permissions(res, search=search, category=category, guard=guard,
                                         limit=lenient_int(limit, 0) or None)
    return respond(PermissionsOut(data=[permission_out(p) for p in found]))


@router.post("", status_code=201, response_model=PermissionOut,
             responses=admin_errors(400, 409), summary="Create a permission",
             openapi_extra=ADMIN_SECURED)
async def create_permission(body: CreatePermissionIn, res: Res, actor: AdminActor) -> Response:
    made = await flows.create_permission(res, actor, name=body.name, guard=body.guard,
                                         description=body.description, category=body.category)
    return respond(PermissionOut(permission=permission_out(made)), 201)


@router.get("/guards", response_model=NamesOut, responses=admin_errors(),
            summary="The guards permissions use", openapi_extra=ADMIN_SECURED)
async def guards(res: Res, admin: AdminAuthed) -> Response:
    return respond(NamesOut(data=await flows.guards(res)))


@router.get("/search", response_model=PermissionsOut, responses=admin_errors(),
            summary="Search permissions by name or description", openapi_extra=ADMIN_SECURED)
async def search(res: Res, admin: AdminAuthed, q: str | None = Query(None, max_length=255),
                 guard: str | None = Query(None, max_length=64),
                 limit: str | None = Query(None)) -> Response:
    found = await flows.search(res, q, guard=guard,
                               limit=lenient_int(limit, flows.SEARCH_LIMIT))
    return respond(PermissionsOut(data=[permission_out(p) for p in found]))


@router.get("/categories", response_model=NamesOut, responses=admin_errors(),
            summary="The categories permissions use", openapi_extra=ADMIN_SECURED)
async def categories(res: Res, admin: AdminAuthed) -> Response:
    return respond(NamesOut(data=await flows.categories(res)))


@router.get("/{id}", response_model=PermissionOut, responses=admin_errors(),
            summary="A permission", openapi_extra=ADMIN_SECURED)
async def get_permission(id: str, res: Res, admin: AdminAuthed) -> Response:
    return respond(PermissionOut(permission=permission_out(
        await flows.get_permission(res, id))))


@router.patch("/{id}", response_model=PermissionOut,
              responses=admin_errors(400, 409), summary="Rename or re-describe a permission",
              openapi_extra=ADMIN_SECURED)
async def update_permission(id: str, body: UpdatePermissionIn, res: Res,
                            actor: AdminActor) -> Response:
    given = body.model_fields_set
    extra: dict[str, object] = {}
    if "category" in given:
        extra["category"] = body.category
    if "description" in given:
        extra["description"] = body.description
    updated = await flows.update_permission(res, actor, id, name=body.name,
                                            **extra)
    return respond(PermissionOut(permission=permission_out(updated)))


@router.delete("/{id}", response_model=MessageOut, responses=admin_errors(),
               summary="Delete a permission", openapi_extra=ADMIN_SECURED)
async def delete_permission(id: str, res: Res, actor: AdminActor) -> Response:
    await flows.delete_permission(res, actor, id)
    return respond(MessageOut(message="Permission deleted successfully"))
