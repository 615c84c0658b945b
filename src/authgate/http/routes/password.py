"""/auth password routes: change (forgot/reset live beside it)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends
from pydantic import Field, StrictStr
from starlette.responses import Response

from authgate.http.deps import Res, guard
from authgate.http.schemas import MessageOut, _In, errors, json_response
from authgate.identity import passwords
from authgate.sessions.service import Principal

router = APIRouter(tags=["Authentication"])
SECURED = {"security": [{"access-token": []}]}
# Not skip-MFA (contract W8): an MFA-pending session must not change the password.
AuthedPE = Annotated[Principal, Depends(guard(must_change=True, unverified_email=True))]


class ChangePasswordIn(_In):
    currentPassword: StrictStr = Field(..., min_length=1)
    newPassword: StrictStr = Field(..., min_length=1)


@router.post("/change-password", response_model=MessageOut, responses=errors(400, 401, 403),
             summary="Change the password (other sessions and trusted devices are revoked)",
             openapi_extra=SECURED)
async def change_password(body: ChangePasswordIn, res: Res, principal: AuthedPE) -> Response:
    await passwords.change_password(res, principal, body.currentPassword, body.newPassword)
    return json_response({"message": "Password changed successfully"})
