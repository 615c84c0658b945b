"""/auth/mfa: status and the per-user toggle (TOTP, codes and recovery live beside them)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from starlette.responses import Response

from authgate.http import serializers
from authgate.http.deps import get_resources, mfa_completed, pending_mfa_allowed
from authgate.http.schemas import (
    SECURED,
    MessageOut,
    MfaStatusOut,
    ToggleMfaIn,
    errors,
    respond,
)
from authgate.mfa import policy
from authgate.sessions.service import Principal

router = APIRouter(prefix="/mfa", tags=["MFA"])

StatusCaller = Annotated[Principal, Depends(pending_mfa_allowed(rider=policy.status_rider))]
"""``PendingMfaAllowed`` whose session is read together with the MFA status rows."""

ToggleCaller = Annotated[Principal, Depends(mfa_completed(rider=policy.toggle_rider))]
"""``MfaCompleted`` whose session is read together with the toggle's facts (database
session store only: ``policy.toggle_rider``)."""


@router.get("/status", response_model=MfaStatusOut, responses=errors(401),
            summary="MFA status for the current user", openapi_extra=SECURED)
async def mfa_status(request: Request, principal: StatusCaller) -> Response:
    res = get_resources(request)  # not a dependency: one fewer to solve on a hot route
    st = await policy.status(res, principal.user, principal.rider)
    return respond(serializers.mfa_status(st))


@router.post("/toggle", response_model=MessageOut, responses=errors(400, 401, 403),
             summary="Enable or disable MFA for the current user", openapi_extra=SECURED)
async def toggle(body: ToggleMfaIn, request: Request, principal: ToggleCaller) -> Response:
    res = get_resources(request)  # not a dependency: one fewer to solve on a hot route
    await policy.toggle(res, principal, body.enabled)
    word = "enabled" if body.enabled else "disabled"
    return respond(MessageOut(message=f"MFA {word} successfully"))
