"""/auth password routes: change, and forgot → verify the code → reset (flows in
``authgate.accounts.passwords`` and ``authgate.accounts.password_reset``)."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import Field, StrictStr, field_validator
from starlette.responses import Response

from authgate.accounts import password_reset, passwords
from authgate.config import Settings
from authgate.errors import Code
from authgate.http.deps import Client, MfaCompleted, Res
from authgate.http.errors import route_statuses
from authgate.http.rate_limits import FromBody, rate_limit
from authgate.http.schemas import (
    SECURED,
    MessageOut,
    _CodeIn,
    _In,
    _Out,
    errors,
    respond,
)
from authgate.identity.contact import account_ref
from authgate.identity.store import valid_email

router = APIRouter(tags=["Authentication"])
# Not skip-MFA: an MFA-pending session (a password alone) must not change the password.


class ChangePasswordIn(_In):
    currentPassword: StrictStr = Field(..., min_length=1)
    newPassword: StrictStr = Field(..., min_length=1)


@router.post("/change-password", response_model=MessageOut,
             responses=errors(400, 401, 403, 429),
             summary="Change the password (other sessions and trusted devices are revoked)",
             openapi_extra=SECURED)
async def change_password(body: ChangePasswordIn, res: Res, principal: MfaCompleted,
                          client: Client) -> Response:
    await passwords.change_password(res, principal, body.currentPassword, body.newPassword,
                                    client=client)
    return respond(MessageOut(message="Password changed successfully"))


# forgot → verify code → reset --------------------------------------------------------------
class _ByAddressIn(_In):
    email: StrictStr | None = Field(None, examples=["user@example.com"],
                                    description="Required when phone is absent")
    phone: StrictStr | None = Field(None, max_length=32, examples=["+1234567890"],
                                    description="Required when email is absent; wins if both")
    tenantId: StrictStr | None = Field(None, description=(
        "The tenant (tenant.mode shared or isolated; required when isolated); refused "
        "while tenancy is off"))

    @field_validator("email")
    @classmethod
    def _email(cls, v: str | None) -> str | None:
        if v and not valid_email(v):
            raise ValueError("must be an email")
        return v


class ForgotPasswordIn(_ByAddressIn):
    """The phone is normalised (and refused with INVALID_PHONE_FORMAT) by the flow."""


class VerifyForgotPasswordOtpIn(_CodeIn, _ByAddressIn):
    """The reset code for the account named by email or phone."""


def _reset_account(body: _ByAddressIn, settings: Settings) -> list[str]:
    """The one account the reset flow looks up: by phone when one is given, else by email."""
    named = password_reset.named_address(body.email, body.phone)
    return [account_ref(*named, settings.phone_default_region)] if named else []


class ResetPasswordIn(_In):
    token: StrictStr = Field(..., min_length=1, description="resetToken from "
                             "/auth/verify-forgot-password-otp")
    newPassword: StrictStr = Field(..., min_length=1, examples=["NewSecurePass123!"])


class ResetTokenOut(_Out):
    message: str
    resetToken: str


@router.post("/forgot-password", response_model=MessageOut, responses=errors(400),
             dependencies=[rate_limit("forgot_password",
                                      by=FromBody(ForgotPasswordIn, _reset_account))],
             summary="Send a password reset code (same answer whether or not the account exists)")
async def forgot_password(body: ForgotPasswordIn, res: Res) -> Response:
    await password_reset.request_reset(res, email=body.email, phone=body.phone,
                                 tenant_id=body.tenantId)
    return respond(MessageOut(message=password_reset.REQUESTED))


@router.post("/verify-forgot-password-otp", response_model=ResetTokenOut, responses=errors(400),
             dependencies=[rate_limit("otp_verify",
                                      by=FromBody(VerifyForgotPasswordOtpIn, _reset_account),
                                      per_client=True)],
             summary="Exchange the reset code for a single-use reset token")
async def verify_forgot_password_otp(body: VerifyForgotPasswordOtpIn, res: Res) -> Response:
    token = await password_reset.verify_code(
        res, email=body.email, phone=body.phone, tenant_id=body.tenantId,
        code=body.value())
    return respond(ResetTokenOut(message="OTP verified successfully", resetToken=token))


@router.post("/reset-password", response_model=MessageOut, responses=errors(400),
             summary="Set a new password with a reset token (ends every session)")
@route_statuses({Code.USER_NOT_FOUND: 400})  # the contract's answer for a deleted account
async def reset_password(body: ResetPasswordIn, res: Res) -> Response:
    await password_reset.reset_password(res, token=body.token, new_password=body.newPassword)
    return respond(MessageOut(message="Password has been reset successfully"))
