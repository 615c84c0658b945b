"""The ceiling: the same server stack answering a constant JSON body on a bare route.

Served exactly like authgate (same server, same worker count, orjson like authgate's
responses), so each route's throughput divided by this one's is the share of the stack's
capacity that authgate's own work leaves.
"""

from __future__ import annotations

import orjson
from fastapi import FastAPI
from starlette.responses import Response

BODY = orjson.dumps({"id": "00000000-0000-4000-8000-000000000000", "email": "user@bench.test",
                     "isActive": True, "metadata": {}})

app = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)


@app.get("/ceiling")
async def ceiling() -> Response:
    return Response(BODY, media_type="application/json")


def factory() -> FastAPI:
    return app
