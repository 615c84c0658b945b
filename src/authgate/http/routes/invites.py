"""/auth invitations: invite someone (permission ``users.invite`` in the tenant), accept
(flows in ``authgate.accounts.invites``)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends
from pydantic import BaseModel, Field, StrictStr, field_validator
from starlette.responses import Response

from authgate.accounts import invites, password_reset
from authgate.errors import Code
from authgate.http.deps import Res, require
from authgate.http.errors import route_statuses
from authgate.http.rate_limits import rate_limit
from authgate.http.schemas import SECURED, MessageOut, _In, errors, respond
from authgate.identity.store import valid_email
from authgate.sessions.service import Principal

router = APIRouter(tags=["Authentication"])

Inviter = Annotated[Principal, Depends(require(permissions=(invites.INVITE_PERMISSION,)))]


class InviteIn(_In):
    email: StrictStr | None = Field(None, examples=["new.member@example.com"])
    phone: StrictStr | None = Field(None, max_length=32)
    tenantId: StrictStr | None = Field(None, description=(
        "The tenant to invite into (default: the inviter's current tenant); the inviter "
        "needs users.invite there"))
    metadata: dict[str, Any] | None = None

    @field_validator("email")
    @classmethod
    def _email(cls, v: str | None) -> str | None:
        if v is not None and not valid_email(v):
            raise ValueError("must be an email")
        return v


class InviteOut(BaseModel):
    message: str
    userId: str
    isNewUser: bool


class AcceptInviteIn(_In):
    token: StrictStr = Field(..., min_length=1)
    newPassword: StrictStr = Field(..., min_length=8)


@router.post("/invite", response_model=InviteOut, status_code=201,
             responses=errors(400, 401, 403, 429, 502),
             dependencies=[rate_limit("send_code", by="token")],
             summary="Invite someone by email or phone (permission users.invite)",
             openapi_extra=SECURED)
async def invite(body: InviteIn, res: Res, inviter: Inviter) -> Response:
    done = await invites.invite(res, inviter, email=body.email, phone=body.phone,
                                tenant_id=body.tenantId, metadata=body.metadata)
    return respond(InviteOut(message="Invitation sent", userId=done.user_id,
                             isNewUser=done.is_new_user), status=201)


@router.post("/invite/accept", response_model=MessageOut, responses=errors(400),
             summary="Accept an invitation: choose a password (the address is then verified)")
@route_statuses({Code.USER_NOT_FOUND: 400})
async def accept_invite(body: AcceptInviteIn, res: Res) -> Response:
    await password_reset.reset_password(res, token=body.token, new_password=body.newPassword,
                                        verify_address=True)
    return respond(MessageOut(message="Invitation accepted"))
