"""/auth/mfa/challenge and /auth/mfa/verify: the second step of a sign-in (flows in
``authgate.mfa.challenge``)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Request
from pydantic import Field, StrictBool, StrictStr, field_validator
from starlette.responses import Response

from authgate.http.deps import Client, PendingMfaAllowed, Res
from authgate.http.mfa_allowance import mfa_allowance
from authgate.http.rate_limits import rate_limit
from authgate.http.responses import auth_response
from authgate.http.schemas import SECURED, AuthOut, MessageOut, _In, errors, respond
from authgate.mfa import challenge as flow
from authgate.registry import mfa_methods

router = APIRouter(prefix="/mfa")


class MfaChallengeIn(_In):
    method: Any = Field(None, examples=["email"], description=(
        "email | sms | totp | webauthn (phone means sms). Not validated, as upstream: other "
        "values answer 200 without sending anything."))


class MfaChallengeOut(MessageOut):
    options: dict[str, Any] | None = Field(None, description=(
        "method webauthn: PublicKeyCredentialRequestOptions as JSON (base64url binary, "
        "PublicKeyCredential.parseRequestOptionsFromJSON); answer with POST /auth/mfa/verify"
        ", otp = JSON.stringify(credential)"))


class MfaVerifyIn(_In):
    method: Any = Field(None, validate_default=True, examples=["email"],
                        description="email | sms | totp")
    otp: StrictStr = Field(..., min_length=1, examples=["123456"],
                           description="The code; for webauthn the assertion "
                                       "(JSON.stringify(credential))")
    trustDevice: StrictBool | None = None

    @field_validator("method", mode="after")
    @classmethod
    def _method(cls, v: Any) -> Any:
        if not isinstance(v, str) or v not in mfa_methods:
            names = sorted(mfa_methods, key=lambda m: m.login_rank)
            raise ValueError("must be one of the following values: "
                             + ", ".join(m.name for m in names))
        return v


@router.post("/challenge", tags=["MFA"], response_model=MfaChallengeOut,
             responses=errors(400, 401, 403, 429, 502),
             dependencies=[rate_limit("send_code", by="token")],
             summary="Send an MFA code by email or SMS, or get passkey assertion options",
             openapi_extra=SECURED)
async def mfa_challenge(res: Res, principal: PendingMfaAllowed,
                        body: Annotated[MfaChallengeIn | None, Body()] = None) -> Response:
    done = await flow.send_challenge(res, principal, body.method if body else None)
    if done.options is not None:
        return respond(MfaChallengeOut(message="Passkey challenge created",
                                       options=done.options))
    return respond(MfaChallengeOut(message="MFA code sent successfully"))


@router.post("/verify", tags=["Authentication"], response_model=AuthOut,
             responses=errors(400, 401, 403, 429),
             dependencies=[mfa_allowance(), rate_limit("mfa_verify")],
             summary="Verify a second factor and upgrade the session", openapi_extra=SECURED)
async def mfa_verify(body: MfaVerifyIn, request: Request, res: Res, principal: PendingMfaAllowed,
                     client: Client) -> Response:
    done = await flow.verify_step(res, principal, body.method, body.otp,
                                  trust_device=body.trustDevice, client=client)
    return auth_response(res, request, tokens=done.tokens, user=done.user,
                         message="2FA verification successful", trust_token=done.trust_token)
