"""/auth/mfa: authenticator set-up and devices, recovery codes (flows in
``authgate.mfa.devices``).

Setup, verify-setup, device removal and recovery-code generation are closed to MFA-pending
sessions; listing devices and verify-recovery-code are open to them; reset-totp is closed to
them too (W8, issue #12: a password plus one recovery code must not remove the owner's
authenticators). The enrolment exception: a session pending only because ``mfa.required`` is
on, for a user with no usable method, may set up an authenticator (else it could never
finish MFA).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Request
from pydantic import Field, StrictBool, StrictStr, TypeAdapter
from starlette.responses import Response

from authgate.errors import Code
from authgate.http import serializers
from authgate.http.deps import Client, MfaCompleted, PendingMfaAllowed, Res, guard
from authgate.http.errors import route_statuses
from authgate.http.mfa_allowance import mfa_allowance
from authgate.http.rate_limits import rate_limit
from authgate.http.responses import auth_response
from authgate.http.schemas import (
    SECURED,
    AuthOut,
    MessageOut,
    MfaDeviceOut,
    _In,
    _Out,
    errors,
    respond,
    respond_list,
)
from authgate.mfa import challenge, devices
from authgate.mfa import totp as totp_flows
from authgate.sessions.service import Principal

router = APIRouter(prefix="/mfa", tags=["MFA"])
_PendingOk = guard(mfa_pending=True, must_change=True, unverified_email=True)


async def _enrolling_principal(principal: Annotated[Principal, Depends(_PendingOk)],
                               res: Res) -> Principal:
    """Verified sessions, or pending ones with enrolment open; else MFA_REQUIRED."""
    await totp_flows.check_enrollment_allowed(res, principal)
    return principal


Enrolling = Annotated[Principal, Depends(_enrolling_principal)]


# schemas -----------------------------------------------------------------------------------
class SetupTotpIn(_In):
    label: StrictStr | None = Field(None, max_length=128,
                                    description="Account name shown in the app")
    deviceName: StrictStr | None = Field(None, max_length=128)


class VerifyTotpSetupIn(_In):
    otp: StrictStr = Field(..., min_length=1, examples=["123456"])
    secret: StrictStr = Field(..., min_length=1, description="The base32 secret from setup")


class VerifyRecoveryIn(_In):
    code: StrictStr = Field(..., min_length=1, examples=["ABCD-EFGH-IJKL-MNOP"])
    trustDevice: StrictBool | None = None
    rememberDevice: StrictBool | None = Field(None, description="1.x name of trustDevice")


class ResetTotpIn(_In):
    code: Any = Field(None, examples=["ABCD-EFGH-IJKL-MNOP"])


class TotpSetupOut(_Out):
    secret: str
    qrCode: str
    otpAuthUrl: str
    issuer: str
    account: str


class RecoveryCodesOut(_Out):
    codes: list[str]
    code: str


_DEVICES = TypeAdapter(list[MfaDeviceOut])


# authenticator set-up ---------------------------------------------------------------------
@router.post("/setup-totp", response_model=TotpSetupOut, responses=errors(400, 401, 403),
             summary="Start setting up an authenticator app", openapi_extra=SECURED)
async def setup_totp(res: Res, principal: Enrolling,
                     body: Annotated[SetupTotpIn | None, Body()] = None) -> Response:
    st = await devices.begin_totp_setup(res, principal, label=body.label if body else None,
                                        device_name=body.deviceName if body else None)
    return respond(TotpSetupOut(secret=st.secret, qrCode=st.qr_code,
                                otpAuthUrl=st.otp_auth_url, issuer=st.issuer,
                                account=st.account))


@router.post("/verify-totp-setup", response_model=MessageOut, responses=errors(400, 401, 403),
             summary="Confirm an authenticator with a current code", openapi_extra=SECURED)
async def verify_totp_setup(body: VerifyTotpSetupIn, res: Res,
                            principal: Enrolling) -> Response:
    await devices.confirm_totp_setup(res, principal, secret=body.secret, code=body.otp)
    return respond(MessageOut(message="Device setup successfully"))


@router.get("/devices", response_model=list[MfaDeviceOut], responses=errors(401, 403),
            summary="The caller's authenticator devices", openapi_extra=SECURED)
async def list_devices(res: Res, principal: PendingMfaAllowed) -> Response:
    found = await devices.list_devices(res, principal)
    return respond_list(_DEVICES, [serializers.device(d) for d in found])


@router.delete("/devices/{deviceId}", response_model=MessageOut,
               responses=errors(401, 403, 404), summary="Remove an authenticator device",
               openapi_extra=SECURED)
async def remove_device(deviceId: str, res: Res, principal: MfaCompleted) -> Response:
    await devices.remove_device(res, principal, deviceId)
    return respond(MessageOut(message="MFA device removed successfully"))


# recovery codes -----------------------------------------------------------------------------
@router.post("/generate-recovery-code", response_model=RecoveryCodesOut,
             responses=errors(401, 403), summary="Replace the caller's recovery codes",
             openapi_extra=SECURED)
async def generate_recovery_code(res: Res, principal: MfaCompleted) -> Response:
    codes = await devices.regenerate_recovery_codes(res, principal)
    return respond(RecoveryCodesOut(codes=codes, code=codes[0]))


@router.post("/verify-recovery-code", response_model=AuthOut,
             responses=errors(400, 401, 429),
             dependencies=[mfa_allowance(), rate_limit("mfa_verify")],
             tags=["Authentication"], summary="Finish an MFA sign-in with a recovery code",
             openapi_extra=SECURED)
@route_statuses({Code.MFA_NOT_ENABLED: 401})  # this route's answer upstream
async def verify_recovery_code(body: VerifyRecoveryIn, request: Request, res: Res,
                               principal: PendingMfaAllowed, client: Client) -> Response:
    wanted = body.trustDevice if body.trustDevice is not None else body.rememberDevice
    done = await challenge.verify_recovery_code(res, principal, body.code,
                                                trust_device=wanted, client=client)
    return auth_response(res, request, tokens=done.tokens,
                         message="Recovery code verification successful", user=done.user,
                         trust_token=done.trust_token)


@router.post("/reset-totp", response_model=MessageOut, responses=errors(401, 403, 429),
             dependencies=[rate_limit("mfa_verify")],
             summary="Remove all authenticators with a recovery code", openapi_extra=SECURED)
async def reset_totp(res: Res, principal: MfaCompleted,
                     body: Annotated[ResetTotpIn | None, Body()] = None) -> Response:
    await devices.reset_totp(res, principal, body.code if body else None)
    return respond(MessageOut(message="MFA reset successfully"))
