"""A host FastAPI application that mounts authgate as a library.

authgate adds the /auth routes (signup, login, refresh, MFA, ...), the error envelope and
the body limits; the host protects its own routes with two dependencies:

* ``gate.current_user``: any fully signed-in user (MFA completed);
* ``gate.require(permissions=(...))``: a signed-in user holding one of those permissions.

Run it (SQLite in the working directory, development secret generated on first start)::

    authgate migrate
    uvicorn --factory examples.fastapi_app:create_app --port 8000

Then ``POST /auth/signup`` and call ``GET /orders`` with ``Authorization: Bearer <token>``.
"""

# No ``from __future__ import annotations`` here: FastAPI reads the route signatures at
# run time, and the dependency aliases below are local to create_app.
from typing import Annotated, Any

from fastapi import Depends, FastAPI

from authgate import AuthGate, Principal, Settings, load_settings
from authgate.clock import Clock

ORDERS: dict[str, list[dict[str, Any]]] = {}
"""Orders per user id: the host app's own data, keyed by the authenticated user."""


def create_app(settings: Settings | None = None, *, clock: Clock | None = None) -> FastAPI:
    """Build the host app; ``settings`` default to the environment / AUTHGATE_CONFIG."""
    gate = AuthGate(settings or load_settings(), clock=clock)
    app = FastAPI(title="Orders", lifespan=gate.lifespan)
    gate.install(app)

    CurrentUser = Annotated[Principal, Depends(gate.current_user)]
    ReportReader = Annotated[Principal, Depends(gate.require(permissions=("reports.read",)))]

    @app.get("/orders")
    async def list_orders(user: CurrentUser) -> dict[str, Any]:
        """The caller's own orders: 401 without a valid, MFA-complete session."""
        return {"userId": user.user.id, "email": user.user.email,
                "orders": ORDERS.get(user.user.id, [])}

    @app.post("/orders")
    async def add_order(user: CurrentUser, order: dict[str, Any]) -> dict[str, Any]:
        ORDERS.setdefault(user.user.id, []).append(order)
        return {"count": len(ORDERS[user.user.id])}

    @app.get("/reports")
    async def reports(user: ReportReader) -> dict[str, Any]:
        """Only for users whose roles grant ``reports.read`` (403 otherwise)."""
        return {"reports": ["daily-sales"], "viewer": user.user.id}

    return app


if __name__ == "__main__":
    import uvicorn

    uvicorn.run(create_app(), host="127.0.0.1", port=8000)
