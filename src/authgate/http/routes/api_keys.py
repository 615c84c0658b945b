"""/auth/api-keys: the caller's API keys (flows in ``authgate.apikeys.keys``).

Not among nest-auth's 76 operations (upstream manages access keys only in its admin
console). Open to a signed-in session with MFA done, never to an API key: a leaked key must
not mint, list or revoke keys.
"""

from __future__ import annotations

from datetime import timedelta

from fastapi import APIRouter, Depends
from pydantic import AwareDatetime, Field, StrictInt, StrictStr, TypeAdapter
from starlette.responses import Response

from authgate.apikeys import keys as flows
from authgate.errors import AuthError, Code
from authgate.http.deps import Authed, Res
from authgate.http.schemas import SECURED, MessageOut, _In, _Out, errors, iso, respond, respond_list


async def _enabled(res: Res) -> None:
    if not res.settings.api_keys.enabled:
        raise AuthError(Code.NOT_FOUND)


router = APIRouter(prefix="/api-keys", tags=["API keys"], dependencies=[Depends(_enabled)])


class CreateApiKeyIn(_In):
    name: StrictStr = Field(..., min_length=1, max_length=100, examples=["CI deploy"])
    description: StrictStr | None = Field(None, max_length=500)
    expiresAt: AwareDatetime | None = Field(
        None, description="When the key stops working (ISO 8601 with a zone)")
    expiresInDays: StrictInt | None = Field(None, ge=1, le=3650,
                                            description="Alternative to expiresAt")


class ApiKeyOut(_Out):
    id: str
    name: str
    description: str | None
    publicKey: str
    tenantId: str | None
    isActive: bool
    expiresAt: str | None
    lastUsedAt: str | None
    revokedAt: str | None
    createdAt: str


class NewApiKeyOut(ApiKeyOut):
    key: str = Field(..., description="`<publicKey>.<secret>`: send as `Authorization: "
                     "ApiKey <key>`. Shown only in this answer.")


_KEYS = TypeAdapter(list[ApiKeyOut])


def _fields(k: flows.KeyInfo) -> dict[str, object]:
    return {"id": k.id, "name": k.name, "description": k.description,
            "publicKey": k.public_key, "tenantId": k.tenant_id, "isActive": k.is_active,
            "expiresAt": iso(k.expires_at), "lastUsedAt": iso(k.last_used_at),
            "revokedAt": iso(k.revoked_at), "createdAt": iso(k.created_at)}


@router.post("", response_model=NewApiKeyOut, status_code=201,
             responses=errors(400, 401, 403, 404),
             summary="Create an API key for the current user (the secret is shown once)",
             openapi_extra=SECURED)
async def create_api_key(body: CreateApiKeyIn, res: Res, principal: Authed) -> Response:
    expires = body.expiresAt
    if body.expiresInDays is not None:
        if expires is not None:
            raise AuthError(Code.INVALID_INPUT, "Give expiresAt or expiresInDays, not both")
        expires = res.clock.now() + timedelta(days=body.expiresInDays)
    new = await flows.create(res, principal, name=body.name, description=body.description,
                             expires_at=expires)
    return respond(NewApiKeyOut(**_fields(new.info), key=new.key), status=201)


@router.get("", response_model=list[ApiKeyOut], responses=errors(401, 403, 404),
            summary="The current user's API keys (revoked and expired ones included)",
            openapi_extra=SECURED)
async def list_api_keys(res: Res, principal: Authed) -> Response:
    found = await flows.list_keys(res, principal)
    return respond_list(_KEYS, [ApiKeyOut(**_fields(k)) for k in found])


@router.delete("/{keyId}", response_model=MessageOut, responses=errors(401, 403, 404),
               summary="Revoke one of the current user's API keys", openapi_extra=SECURED)
async def revoke_api_key(keyId: str, res: Res, principal: Authed) -> Response:
    await flows.revoke(res, principal, keyId)
    return respond(MessageOut(message="API key revoked"))
