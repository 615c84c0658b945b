"""/auth/passwordless/send (flow in ``authgate.accounts.passwordless``). The sign-in itself is
``POST /auth/login`` with ``providerName: "passwordless"`` (routes/auth.py)."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter
from pydantic import Field, StrictStr
from starlette.responses import Response

from authgate.accounts import passwordless
from authgate.http.deps import Res
from authgate.http.rate_limits import rate_limit
from authgate.http.schemas import MessageOut, _In, errors, respond

router = APIRouter(tags=["Authentication"])


class PasswordlessSendIn(_In):
    identifier: StrictStr = Field(..., examples=["user@example.com"],
                                  description="Email or phone (per channel)")
    channel: Literal["email", "sms"] = Field(..., examples=["email"])
    tenantId: StrictStr | None = Field(None, description="Refused: tenancy is off")


@router.post("/passwordless/send", response_model=MessageOut, responses=errors(400, 403),
             dependencies=[rate_limit("send_code", by="body")],
             summary="Send a login code (same answer whether or not the account exists)")
async def passwordless_send(body: PasswordlessSendIn, res: Res) -> Response:
    await passwordless.send_code(res, identifier=body.identifier, channel=body.channel,
                                 tenant_id=body.tenantId)
    return respond(MessageOut(message=passwordless.SENT))
