"""/auth/sessions: the caller's own sessions, listed and ended one by one (ASVS 3.3.4;
beyond the contract, flows in ``authgate.accounts.own_sessions``)."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import TypeAdapter
from starlette.requests import Request
from starlette.responses import Response

from authgate.accounts import own_sessions
from authgate.http import cookies
from authgate.http.deps import MfaCompleted, Res
from authgate.http.schemas import (
    SECURED,
    MessageOut,
    SessionOut,
    SessionsOut,
    errors,
    respond,
)
from authgate.http.serializers import session_out

router = APIRouter(prefix="/sessions", tags=["Sessions"])
_SESSIONS = TypeAdapter(list[SessionOut])


@router.get("", response_model=SessionsOut, responses=errors(401, 403),
            summary="The caller's signed-in sessions, most recently active first",
            openapi_extra=SECURED)
async def list_sessions(res: Res, principal: MfaCompleted) -> Response:
    found = await own_sessions.list_sessions(res, principal)
    return respond(SessionsOut(data=[session_out(s, principal.session.id) for s in found]))


@router.delete("/{sessionId}", response_model=MessageOut, responses=errors(401, 403, 404),
               summary="End one of the caller's sessions (the caller's own: a logout)",
               openapi_extra=SECURED)
async def end_session(sessionId: str, request: Request, res: Res,
                      principal: MfaCompleted) -> Response:
    current = await own_sessions.end_session(res, principal, sessionId)
    response = respond(MessageOut(message="Session revoked successfully"))
    if current:
        cookies.clear_tokens(res.settings, request, response)
    return response
