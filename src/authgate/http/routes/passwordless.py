"""/auth/passwordless/send (flow in ``authgate.accounts.passwordless``). The sign-in itself is
``POST /auth/login`` with ``providerName: "passwordless"`` (routes/auth.py)."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter
from pydantic import Field, StrictStr
from starlette.responses import Response

from authgate.accounts import passwordless
from authgate.config import Settings
from authgate.http.deps import Res
from authgate.http.rate_limits import FromBody, rate_limit
from authgate.http.schemas import MessageOut, _In, errors, respond
from authgate.identity.contact import account_ref

router = APIRouter(tags=["Authentication"])


class PasswordlessSendIn(_In):
    identifier: StrictStr = Field(..., examples=["user@example.com"],
                                  description="Email or phone (per channel)")
    channel: Literal["email", "sms"] = Field(..., examples=["email"])
    tenantId: StrictStr | None = Field(None, description=(
        "The tenant (tenant.mode shared or isolated; required when isolated); refused "
        "while tenancy is off"))


def _send_account(body: PasswordlessSendIn, settings: Settings) -> list[str]:
    """The account the code goes to: ``identifier`` looked up on ``channel``."""
    return [account_ref(body.channel, body.identifier, settings.phone_default_region)]


@router.post("/passwordless/send", response_model=MessageOut, responses=errors(400, 403),
             dependencies=[rate_limit("send_code", by=FromBody(PasswordlessSendIn, _send_account))],
             summary="Send a login code (same answer whether or not the account exists)")
async def passwordless_send(body: PasswordlessSendIn, res: Res) -> Response:
    await passwordless.send_code(res, identifier=body.identifier, channel=body.channel,
                                 tenant_id=body.tenantId)
    return respond(MessageOut(message=passwordless.SENT))
