"""``GET /health/live`` and ``GET /health/ready``: for load balancers and orchestrators.

Outside ``/auth`` (``AuthGate.install`` adds them at the root; a host app that wants them
elsewhere includes ``router`` itself), never rate limited, no authentication, and nothing in
the answer but states: no versions, hosts or error texts.
"""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter
from pydantic import BaseModel
from starlette.responses import Response

from authgate import health
from authgate.http.deps import Res
from authgate.http.schemas import respond

router = APIRouter(tags=["Health"])


class LiveOut(BaseModel):
    status: Literal["ok"]


class ReadyOut(BaseModel):
    status: Literal["ok", "draining", "unavailable"]
    checks: dict[str, Literal["ok", "unavailable"]]
    """``database`` always, ``redis`` when ``redis_url`` is set."""


@router.get("/health/live", response_model=LiveOut, summary="The process is up")
async def live() -> Response:
    return respond(LiveOut(status="ok"))


@router.get("/health/ready", response_model=ReadyOut, summary="Ready to take traffic",
            responses={503: {"model": ReadyOut, "description":
                             "Draining (shutting down) or a dependency is unreachable"}})
async def ready(res: Res) -> Response:
    r = await health.readiness(res)
    status = "ok" if r.ready else "draining" if r.draining else "unavailable"
    return respond(ReadyOut(status=status, checks=r.checks), 200 if r.ready else 503)
