"""``/auth/admin/api/users``: the nine user-management routes (flows in
``authgate.admin.users``). Bodies are checked strictly and fields the DTO does not name are
ignored (no mass assignment of ``passwordHash``, ``id``, ``mustChangePassword``…); a path
id that is not a UUID is a 404 like an unknown one."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import AfterValidator, Field, StrictBool, StrictStr, field_validator
from starlette.responses import Response

from authgate.admin import users as flows
from authgate.admin.http.api_deps import AdminActor, AtMost1000, lenient_int
from authgate.admin.http.deps import ADMIN_SECURED, AdminAuthed, admin_errors
from authgate.admin.http.views import (
    MessageOut,
    SessionsOut,
    UserDetailOut,
    UserListOut,
    UserOut,
    detail_out,
    safe_user,
    session_out,
)
from authgate.errors import Code
from authgate.http.deps import Res
from authgate.http.errors import route_statuses
from authgate.http.schemas import _In, respond
from authgate.identity.store import valid_email

router = APIRouter(prefix="/admin/api/users", tags=["Admin · Users"])
_NOT_FOUND_404 = {Code.USER_NOT_FOUND: 404, Code.SESSION_NOT_FOUND: 404}


def _utc(v: datetime | None) -> datetime | None:
    if v is not None and v.tzinfo is None:
        return v.replace(tzinfo=UTC)
    return v.astimezone(UTC) if v is not None else None


class _UserFields(_In):
    phone: StrictStr | None = Field(None, max_length=32)
    isActive: StrictBool | None = None
    emailVerifiedAt: datetime | None = None
    phoneVerifiedAt: datetime | None = None
    metadata: dict[str, Any] | None = None
    isPlatformUser: StrictBool | None = None
    password: StrictStr | None = Field(None, min_length=1, max_length=1024)

    @field_validator("emailVerifiedAt", "phoneVerifiedAt")
    @classmethod
    def _aware(cls, v: datetime | None) -> datetime | None:
        return _utc(v)


def _email(v: str) -> str:
    if not valid_email(v):
        raise ValueError("must be an email")
    return v


Email = Annotated[StrictStr, AfterValidator(_email)]


class CreateUserIn(_UserFields):
    email: Email = Field(..., examples=["user@example.com"])
    tenantId: StrictStr | None = None


class TenantRolesIn(_In):
    tenantId: StrictStr
    roleIds: list[StrictStr] | None = None


class UpdateUserIn(_UserFields):
    email: Email | None = None
    isMfaEnabled: StrictBool | None = None
    emailLoginEnabled: StrictBool | None = None
    phoneLoginEnabled: StrictBool | None = None
    tenantIds: list[StrictStr] | None = None
    tenantRoles: list[TenantRolesIn] | None = None
    roleIds: Annotated[list[StrictStr], AtMost1000] | None = None
    platformRoleIds: list[StrictStr] | None = None


_PATCH_FIELDS = {
    "email": "email", "phone": "phone", "isActive": "is_active",
    "emailVerifiedAt": "email_verified_at", "phoneVerifiedAt": "phone_verified_at",
    "password": "password", "metadata": "metadata", "isMfaEnabled": "is_mfa_enabled",
    "emailLoginEnabled": "email_login_enabled", "phoneLoginEnabled": "phone_login_enabled",
    "tenantIds": "tenant_ids", "tenantRoles": "tenant_roles", "roleIds": "role_ids",
    "platformRoleIds": "platform_role_ids", "isPlatformUser": "is_platform_user",
}


@router.get("", response_model=UserListOut, responses=admin_errors(),
            summary="List users (paging, search, filters)", openapi_extra=ADMIN_SECURED)
async def list_users(res: Res, admin: AdminAuthed,
                     page: str | None = Query(None), limit: str | None = Query(None),
                     search: str | None = Query(None, max_length=320),
                     status: str | None = Query(None), tenantId: str | None = Query(None),
                     roleName: str | None = Query(None), scope: str | None = Query(None),
                     ) -> Response:
    found = await flows.list_users(res, page=lenient_int(page, 1), limit=lenient_int(limit, 10),
                                   search=search, status=status, tenant_id=tenantId,
                                   role_name=roleName, scope=scope)
    total_pages = -(-found.total // found.limit)
    return respond(UserListOut(
        data=[safe_user(u) for u in found.items],
        meta={"page": found.page, "limit": found.limit, "total": found.total,
              "totalPages": total_pages, "scope": found.scope}))


@router.post("", status_code=201, response_model=UserOut, responses=admin_errors(400, 409),
             summary="Create a user", openapi_extra=ADMIN_SECURED)
@route_statuses({Code.TENANT_NOT_FOUND: 404})
async def create_user(body: CreateUserIn, res: Res, actor: AdminActor) -> Response:
    created = await flows.create_user(res, actor, flows.NewUser(
        email=body.email, phone=body.phone, password=body.password,
        is_active=body.isActive if body.isActive is not None else True,
        email_verified_at=body.emailVerifiedAt, phone_verified_at=body.phoneVerifiedAt,
        metadata=body.metadata or {}, tenant_id=body.tenantId,
        is_platform_user=bool(body.isPlatformUser)))
    return respond(UserOut(user=safe_user(created)), 201)


@router.get("/{id}", response_model=UserDetailOut, responses=admin_errors(),
            summary="A user with identities, devices, MFA and sessions",
            openapi_extra=ADMIN_SECURED)
@route_statuses(_NOT_FOUND_404)
async def get_user(id: str, res: Res, admin: AdminAuthed) -> Response:
    return respond(detail_out(res, await flows.user_detail(res, id)))


@router.patch("/{id}", response_model=UserOut, responses=admin_errors(400, 409),
              summary="Update a user", openapi_extra=ADMIN_SECURED)
@route_statuses(_NOT_FOUND_404)
async def update_user(id: str, body: UpdateUserIn, res: Res,
                      actor: AdminActor) -> Response:
    given = {_PATCH_FIELDS[k]: getattr(body, k) for k in body.model_fields_set
             if k in _PATCH_FIELDS}
    if "tenant_roles" in given and given["tenant_roles"] is not None:
        given["tenant_roles"] = [tr.model_dump() for tr in given["tenant_roles"]]
    updated = await flows.update_user(res, actor, id, flows.UserPatch(**given))
    return respond(UserOut(user=safe_user(updated)))


@router.delete("/{id}", response_model=MessageOut, responses=admin_errors(),
               summary="Delete a user", openapi_extra=ADMIN_SECURED)
@route_statuses(_NOT_FOUND_404)
async def delete_user(id: str, res: Res, actor: AdminActor) -> Response:
    await flows.delete_user(res, actor, id)
    return respond(MessageOut(message="User removed"))


@router.delete("/{id}/totp-devices/{deviceId}", response_model=MessageOut,
               responses=admin_errors(), summary="Remove one of a user's authenticators",
               openapi_extra=ADMIN_SECURED)
@route_statuses(_NOT_FOUND_404)
async def delete_totp_device(id: str, deviceId: str, res: Res,
                             actor: AdminActor) -> Response:
    await flows.delete_totp_device(res, actor, id, deviceId)
    return respond(MessageOut(message="TOTP device deleted successfully"))


@router.get("/{id}/sessions", response_model=SessionsOut, responses=admin_errors(),
            summary="A user's sessions, most recent first", openapi_extra=ADMIN_SECURED)
@route_statuses(_NOT_FOUND_404)
async def list_sessions(id: str, res: Res, admin: AdminAuthed) -> Response:
    found = await flows.list_sessions(res, id)
    return respond(SessionsOut(data=[session_out(r) for r in found]))


@router.delete("/{id}/sessions", response_model=MessageOut, responses=admin_errors(),
               summary="End all of a user's sessions", openapi_extra=ADMIN_SECURED)
@route_statuses(_NOT_FOUND_404)
async def revoke_sessions(id: str, res: Res, actor: AdminActor) -> Response:
    await flows.revoke_sessions(res, actor, id)
    return respond(MessageOut(message="All sessions revoked successfully"))


@router.delete("/{id}/sessions/{sessionId}", response_model=MessageOut,
               responses=admin_errors(), summary="End one of a user's sessions",
               openapi_extra=ADMIN_SECURED)
@route_statuses(_NOT_FOUND_404)
async def revoke_session(id: str, sessionId: str, res: Res,
                         actor: AdminActor) -> Response:
    await flows.revoke_session(res, actor, id, sessionId)
    return respond(MessageOut(message="Session revoked successfully"))

