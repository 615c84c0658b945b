"""/auth/activity: the caller's own security activity from the audit trail (beyond the
contract; flow in ``authgate.accounts.activity``)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from starlette.responses import Response

from authgate.accounts import activity
from authgate.audit.query import EVENT_FILTER, split_events
from authgate.http.deps import MfaCompleted, Res
from authgate.http.schemas import (
    SECURED,
    ActivityOut,
    PageMetaOut,
    errors,
    respond,
)
from authgate.http.serializers import activity_entry

router = APIRouter(tags=["Sessions"])


@router.get("/activity", response_model=ActivityOut, responses=errors(400, 401, 403),
            summary="The caller's security activity (sign-ins, MFA, password, sessions), "
                    "newest first (beyond the contract)",
            openapi_extra=SECURED)
async def own_activity(res: Res, principal: MfaCompleted,
                       page: Annotated[int, Query(ge=1, le=10_000)] = 1,
                       limit: Annotated[int, Query(ge=1, le=100)] = 20,
                       event: Annotated[str | None, Query(
                           max_length=640, pattern=EVENT_FILTER,
                           description="Event names or `prefix.*`, comma-separated")] = None,
                       ) -> Response:
    entries, total = await activity.own_activity(res, principal, page=page, limit=limit,
                                                 events=split_events(event))
    return respond(ActivityOut(
        data=[activity_entry(e) for e in entries],
        meta=PageMetaOut(page=page, limit=limit, total=total,
                         totalPages=(total + limit - 1) // limit)))
