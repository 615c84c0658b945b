"""/auth/mfa: authenticator set-up and devices, recovery codes (contract §2.5).

Guards follow §2.0 (setup, verify-setup, device removal and recovery-code generation are
closed to MFA-pending sessions; listing devices, verify-recovery-code and reset-totp are
open to them), plus W1's enrolment exception: a session pending only because
``mfa.required`` is on, for a user with no usable method, may set up an authenticator.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Request
from pydantic import Field, StrictBool, StrictStr
from starlette.responses import Response

from authgate.errors import AuthError, Code
from authgate.http.deps import Client, MfaCompleted, PendingMfaAllowed, Res, guard
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
    json_response,
)
from authgate.http.serializers import device
from authgate.mfa import policy, recovery_codes
from authgate.mfa import totp as totp_flows
from authgate.mfa.reauth import require_recent_auth
from authgate.mfa.trust import maybe_issue_trust
from authgate.sessions.service import Principal, Sessions
from authgate.tx import readonly, transaction

router = APIRouter(prefix="/mfa", tags=["MFA"])
_PendingOk = guard(mfa_pending=True, must_change=True, unverified_email=True)


async def _enrolling_principal(principal: Annotated[Principal, Depends(_PendingOk)],
                               res: Res) -> Principal:
    """Verified sessions, or pending ones with enrolment open (W1); else MFA_REQUIRED."""
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


# authenticator set-up ---------------------------------------------------------------------
@router.post("/setup-totp", response_model=TotpSetupOut, responses=errors(400, 401, 403),
             summary="Start setting up an authenticator app", openapi_extra=SECURED)
async def setup_totp(res: Res, principal: Enrolling,
                     body: Annotated[SetupTotpIn | None, Body()] = None) -> Response:
    async with transaction(res.sessionmaker) as tx:
        st = await totp_flows.begin_setup(res, tx, principal.user,
                                          label=body.label if body else None,
                                          device_name=body.deviceName if body else None)
    return json_response({"secret": st.secret, "qrCode": st.qr_code,
                          "otpAuthUrl": st.otp_auth_url, "issuer": st.issuer,
                          "account": st.account})


@router.post("/verify-totp-setup", response_model=MessageOut, responses=errors(400, 401, 403),
             summary="Confirm an authenticator with a current code", openapi_extra=SECURED)
async def verify_totp_setup(body: VerifyTotpSetupIn, res: Res,
                            principal: Enrolling) -> Response:
    async with transaction(res.sessionmaker) as tx:
        await totp_flows.confirm_setup(res, tx, principal.user.id, secret=body.secret,
                                       code=body.otp)
    return json_response({"message": "Device setup successfully"})


@router.get("/devices", response_model=list[MfaDeviceOut], responses=errors(401, 403),
            summary="The caller's authenticator devices", openapi_extra=SECURED)
async def list_devices(res: Res, principal: PendingMfaAllowed) -> Response:
    async with readonly(res.readmaker) as s:
        devices = await totp_flows.list_devices(res, s, principal.user.id)
    return json_response([device(d) for d in devices])


@router.delete("/devices/{deviceId}", response_model=MessageOut,
               responses=errors(401, 403, 404), summary="Remove an authenticator device",
               openapi_extra=SECURED)
async def remove_device(deviceId: str, res: Res, principal: MfaCompleted) -> Response:
    require_recent_auth(res, principal)
    async with transaction(res.sessionmaker) as tx:
        await totp_flows.remove_device(res, tx, principal.user, deviceId)
    return json_response({"message": "MFA device removed successfully"})


# recovery codes -----------------------------------------------------------------------------
@router.post("/generate-recovery-code", response_model=RecoveryCodesOut,
             responses=errors(401, 403), summary="Replace the caller's recovery codes",
             openapi_extra=SECURED)
async def generate_recovery_code(res: Res, principal: MfaCompleted) -> Response:
    if not res.settings.mfa.enabled:
        raise AuthError(Code.MFA_NOT_ENABLED)
    require_recent_auth(res, principal)
    async with transaction(res.sessionmaker) as tx:
        codes = await recovery_codes.generate(res, tx, principal.user.id)
    return json_response({"codes": codes, "code": codes[0]})


@router.post("/verify-recovery-code", response_model=AuthOut,
             responses=errors(400, 401, 429), dependencies=[rate_limit("mfa_verify")],
             tags=["Authentication"], summary="Finish an MFA sign-in with a recovery code",
             openapi_extra=SECURED)
async def verify_recovery_code(body: VerifyRecoveryIn, request: Request, res: Res,
                               principal: PendingMfaAllowed, client: Client) -> Response:
    user = principal.user
    if not policy.mfa_required_for(res, user):
        raise AuthError(Code.MFA_NOT_ENABLED, "MFA is not enabled", status=401)
    await recovery_codes.redeem(res, user.id, body.code)
    _, tokens = await Sessions(res).complete_mfa(principal, "recovery_code")
    wanted = body.trustDevice if body.trustDevice is not None else body.rememberDevice
    trust = await maybe_issue_trust(res, user.id, client, wanted)
    return auth_response(res, request, tokens=tokens,
                         message="Recovery code verification successful", user=user,
                         trust_token=trust)


@router.post("/reset-totp", response_model=MessageOut, responses=errors(401, 403, 429),
             dependencies=[rate_limit("mfa_verify")],
             summary="Remove all authenticators with a recovery code", openapi_extra=SECURED)
async def reset_totp(res: Res, principal: PendingMfaAllowed,
                     body: Annotated[ResetTotpIn | None, Body()] = None) -> Response:
    if not res.settings.mfa.enabled:
        raise AuthError(Code.MFA_NOT_ENABLED)
    require_recent_auth(res, principal)
    await totp_flows.reset_with_recovery_code(res, principal.user, body.code if body else None)
    return json_response({"message": "MFA reset successfully"})
