"""/auth email and phone verification for the signed-in user (flows in
``authgate.identity.verification``).

Guard: authenticated with MFA completed (an MFA-pending session is refused: a password
alone must not prove an address),
allowed while a password change is forced and while the email is unverified (P E).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body
from pydantic import Field, StrictStr
from starlette.responses import Response

from authgate.http.deps import MfaCompleted, Res
from authgate.http.rate_limits import rate_limit
from authgate.http.schemas import SECURED, MessageOut, _CodeIn, _In, errors, respond
from authgate.identity import verification

router = APIRouter(tags=["Authentication"])


class SendVerificationIn(_In):
    tenantId: StrictStr | None = Field(None, description="Accepted and ignored")


class VerifyCodeIn(_CodeIn):
    tenantId: StrictStr | None = Field(None, description="Accepted and ignored")


SendBody = Annotated[SendVerificationIn | None, Body()]


@router.post("/send-email-verification", response_model=MessageOut,
             responses=errors(400, 401, 403, 429, 502),
             dependencies=[rate_limit("send_code", by="token")],
             summary="Email a verification code to the signed-in user", openapi_extra=SECURED)
async def send_email_verification(res: Res, principal: MfaCompleted,
                                  body: SendBody = None) -> Response:
    await verification.send(res, principal.user.id, "email")
    return respond(MessageOut(message="Verification email sent"))


@router.post("/verify-email", response_model=MessageOut, responses=errors(400, 401, 403),
             dependencies=[rate_limit("otp_verify", by="token")],
             summary="Verify the email address with the emailed code", openapi_extra=SECURED)
async def verify_email(body: VerifyCodeIn, res: Res, principal: MfaCompleted) -> Response:
    await verification.verify(res, principal.user.id, "email", body.value())
    return respond(MessageOut(message="Email verified successfully"))


@router.post("/send-phone-verification", response_model=MessageOut,
             responses=errors(400, 401, 403, 429, 502),
             dependencies=[rate_limit("send_code", by="token")],
             summary="Text a verification code to the signed-in user", openapi_extra=SECURED)
async def send_phone_verification(res: Res, principal: MfaCompleted,
                                  body: SendBody = None) -> Response:
    await verification.send(res, principal.user.id, "phone")
    return respond(MessageOut(message="Verification SMS sent"))


@router.post("/verify-phone", response_model=MessageOut, responses=errors(400, 401, 403),
             dependencies=[rate_limit("otp_verify", by="token")],
             summary="Verify the phone number with the texted code", openapi_extra=SECURED)
async def verify_phone(body: VerifyCodeIn, res: Res, principal: MfaCompleted) -> Response:
    await verification.verify(res, principal.user.id, "phone", body.value())
    return respond(MessageOut(message="Phone verified successfully"))
