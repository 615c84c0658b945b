"""/auth/passkeys: register, list, rename and remove passkeys (WebAuthn), and the options
of a passwordless sign-in (flows in ``authgate.mfa.passkeys``; the sign-in itself is
``POST /auth/login`` with ``providerName: "passkey"``, the MFA step
``/auth/mfa/challenge`` + ``/auth/mfa/verify`` with ``method: "webauthn"``).

Registration follows authenticator set-up: closed to MFA-pending sessions except the
enrolment exception (``Enrolling``); listing and renaming need a completed MFA step;
removal also the step-up window (``mfa.reauth_window``).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import Field, StrictStr, TypeAdapter
from starlette.responses import Response

from authgate.http import serializers
from authgate.http.deps import MfaCompleted, Res
from authgate.http.rate_limits import rate_limit
from authgate.http.routes.mfa_devices import Enrolling
from authgate.http.schemas import (
    SECURED,
    MessageOut,
    PasskeyOut,
    _In,
    _Out,
    errors,
    respond,
    respond_list,
)
from authgate.mfa import passkeys as flow

router = APIRouter(prefix="/passkeys", tags=["Passkeys"])
_LIST = TypeAdapter(list[PasskeyOut])
_CREDENTIAL = ("The PublicKeyCredential as JSON (credential.toJSON(): base64url binary "
               "fields)")


class RegisterPasskeyIn(_In):
    credential: dict[str, Any] = Field(..., description=_CREDENTIAL)
    name: StrictStr | None = Field(None, max_length=64, examples=["MacBook Touch ID"])


class RenamePasskeyIn(_In):
    name: StrictStr = Field(..., min_length=1, max_length=64, examples=["YubiKey 5"])


class PasskeyOptionsOut(_Out):
    options: dict[str, Any] = Field(description=(
        "PublicKeyCredentialCreationOptions / RequestOptions as JSON (base64url binary "
        "fields: PublicKeyCredential.parseCreationOptionsFromJSON / "
        "parseRequestOptionsFromJSON)"))


@router.post("/register-options", response_model=PasskeyOptionsOut,
             responses=errors(400, 401, 403),
             dependencies=[rate_limit("passkey_options")],
             summary="Start registering a passkey (creation options)", openapi_extra=SECURED)
async def register_options(res: Res, principal: Enrolling) -> Response:
    """Creation options for the caller (challenge bound to this session, 5 minutes, single
    use). 403 PASSKEYS_NOT_ENABLED; 400 PASSKEY_LIMIT_REACHED; 401 MFA_REQUIRED (a pending
    session outside the enrolment exception); 429 RATE_LIMITED."""
    options = await flow.registration_options(res, principal)
    return respond(PasskeyOptionsOut(options=options))


@router.post("/register", response_model=PasskeyOut, responses=errors(400, 401, 403, 409),
             summary="Finish registering a passkey (the browser's credential)",
             openapi_extra=SECURED)
async def register(body: RegisterPasskeyIn, res: Res, principal: Enrolling) -> Response:
    """Verify the browser's registration response and store the passkey. 400
    PASSKEY_CHALLENGE_INVALID (unknown, spent, expired or another session's challenge),
    PASSKEY_REGISTRATION_FAILED (origin, RP id, type, attestation, user verification),
    PASSKEY_LIMIT_REACHED, INVALID_INPUT; 409 PASSKEY_ALREADY_REGISTERED; 403
    PASSKEYS_NOT_ENABLED; 401 MFA_REQUIRED."""
    passkey = await flow.register(res, principal, body.credential, body.name)
    return respond(serializers.passkey(passkey))


@router.get("", response_model=list[PasskeyOut], responses=errors(401, 403),
            summary="The caller's passkeys", openapi_extra=SECURED)
async def list_passkeys(res: Res, principal: MfaCompleted) -> Response:
    """Oldest first. 403 PASSKEYS_NOT_ENABLED; 401 MFA_REQUIRED (pending session)."""
    found = await flow.list_passkeys(res, principal)
    return respond_list(_LIST, [serializers.passkey(p) for p in found])


@router.patch("/{passkeyId}", response_model=PasskeyOut, responses=errors(400, 401, 403, 404),
              summary="Rename a passkey", openapi_extra=SECURED)
async def rename_passkey(passkeyId: str, body: RenamePasskeyIn, res: Res,
                         principal: MfaCompleted) -> Response:
    """400 INVALID_INPUT; 404 PASSKEY_NOT_FOUND (also another user's id); 403
    PASSKEYS_NOT_ENABLED."""
    passkey = await flow.rename(res, principal, passkeyId, body.name)
    return respond(serializers.passkey(passkey))


@router.delete("/{passkeyId}", response_model=MessageOut, responses=errors(401, 403, 404),
               summary="Remove a passkey", openapi_extra=SECURED)
async def remove_passkey(passkeyId: str, res: Res, principal: MfaCompleted) -> Response:
    """Removing the last usable factor turns the account's MFA off. 404 PASSKEY_NOT_FOUND;
    403 REAUTH_REQUIRED (outside ``mfa.reauth_window``), PASSKEYS_NOT_ENABLED."""
    await flow.remove(res, principal, passkeyId)
    return respond(MessageOut(message="Passkey removed successfully"))


@router.post("/login-options", response_model=PasskeyOptionsOut, responses=errors(403),
             dependencies=[rate_limit("passkey_options")],
             summary="Options for a passwordless passkey sign-in (then POST /auth/login "
                     "with providerName passkey)")
async def login_options(res: Res) -> Response:
    """Request options with no credential list (discoverable credentials; conditional UI
    works with them) and user verification required. 403 PASSKEYS_NOT_ENABLED (unless
    ``webauthn.passwordless``); 429 RATE_LIMITED. The sign-in: ``POST /auth/login``
    ``{providerName: "passkey", credentials: {credential}}`` — 401 PASSKEY_INVALID, 400
    PASSKEY_CHALLENGE_INVALID, 401 PASSKEY_CLONE_DETECTED, 401 ACCOUNT_INACTIVE."""
    options = await flow.login_options(res)
    return respond(PasskeyOptionsOut(options=options))
