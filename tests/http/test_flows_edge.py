"""Issue #11 §3: the rules live in the flows, the edge maps codes to statuses, and the
session store is never written inside an open unit of work."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from fastapi import APIRouter, FastAPI
from httpx import ASGITransport, AsyncClient

from authgate import events
from authgate.errors import AuthError, Code
from authgate.events import Event
from authgate.http import errors as http_errors
from authgate.http.errors import route_statuses
from tests.conftest import Harness, bearer
from tests.helpers import assert_error, claims

SRC = Path(__file__).resolve().parents[2] / "src" / "authgate"


async def test_logout_emits_logged_out_once(h: Harness) -> None:
    seen: list[Event] = []
    h.res.events.subscribe(events.LOGGED_OUT, seen.append)
    access = await h.user_token()
    r = await h.client.post("/auth/logout", headers=bearer(access))
    assert r.status_code == 200
    assert [(e.user_id, e.data) for e in seen] == [
        (claims(access)["sub"], {"sessionId": claims(access)["sessionId"]})]
    # nothing ended the second time (the token's session is gone: anonymous logout)
    assert (await h.client.post("/auth/logout", headers=bearer(access))).status_code == 200
    assert (await h.client.post("/auth/logout")).status_code == 200
    assert len(seen) == 1


async def test_logout_all_emits_logged_out_all(h: Harness) -> None:
    seen: list[Event] = []
    h.res.events.subscribe(events.LOGGED_OUT_ALL, seen.append)
    access = await h.user_token()
    await h.login()
    r = await h.client.post("/auth/logout-all", headers=bearer(access))
    assert r.status_code == 200
    assert [(e.user_id, e.data) for e in seen] == [(claims(access)["sub"], {"sessions": 2})]


def test_auth_error_has_no_status() -> None:
    err = AuthError(Code.USER_NOT_FOUND)
    assert not hasattr(err, "status")
    with pytest.raises(TypeError):
        AuthError(Code.USER_NOT_FOUND, status=400)  # type: ignore[call-arg]


async def test_a_route_declares_its_own_status_for_a_code() -> None:
    router = APIRouter()

    @router.get("/plain")
    async def plain() -> None:
        raise AuthError(Code.MFA_NOT_ENABLED)

    @router.get("/quirk")
    @route_statuses({Code.MFA_NOT_ENABLED: 401})
    async def quirk() -> None:
        raise AuthError(Code.MFA_NOT_ENABLED)

    app = FastAPI()
    http_errors.install(app, redis_errors=False)
    app.include_router(router)
    async with AsyncClient(transport=ASGITransport(app=app), base_url="http://t") as c:
        assert_error(await c.get("/plain"), 403, "MFA_NOT_ENABLED")
        assert_error(await c.get("/quirk"), 401, "MFA_NOT_ENABLED")


def _calls_in(node: ast.AST) -> list[str]:
    """Calls made while ``node`` runs: not those in functions it only defines (they run
    after the commit, e.g. ``tx.after_commit(lambda: ...)``)."""
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
        return []
    found = [ast.unparse(node.func)] if isinstance(node, ast.Call) else []
    for child in ast.iter_child_nodes(node):
        found.extend(_calls_in(child))
    return found


def test_no_session_store_write_inside_a_unit_of_work() -> None:
    """The rule of ``tx.py``: commit first, then write the session store (SQLite would wait
    on its own writer lock). A store write inside ``async with transaction(...)`` or
    ``codes.consume(...)`` fails here."""
    store_writes = ("res.store.", "self.res.store.", "Sessions(", "revoke_after_password_change")
    offenders: list[str] = []
    for path in SRC.rglob("*.py"):
        tree = ast.parse(path.read_text(), str(path))
        for node in ast.walk(tree):
            if not isinstance(node, ast.AsyncWith):
                continue
            opens = [ast.unparse(item.context_expr) for item in node.items]
            if not any(o.startswith(("transaction(", "codes.consume(", "consume("))
                       for o in opens):
                continue
            for stmt in node.body:
                for call in _calls_in(stmt):
                    if call.startswith(store_writes):
                        offenders.append(f"{path.relative_to(SRC)}:{stmt.lineno} {call}")
    assert offenders == []


def test_routes_open_no_unit_of_work_and_build_no_body_by_hand() -> None:
    """Routes parse, call one flow, serialise a response model: no ``transaction``/
    ``readonly`` and no hand-built JSON (orjson, a ``Response`` of a dict) in them."""
    found: list[str] = []
    for path in (SRC / "http" / "routes").glob("*.py"):
        tree = ast.parse(path.read_text(), str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.Call):
                name = ast.unparse(node.func)
                if name in ("transaction", "readonly", "orjson.dumps", "JSONResponse"):
                    found.append(f"{path.name}:{node.lineno} {name}")
            if isinstance(node, ast.ImportFrom) and node.module in ("authgate.tx", "orjson"):
                found.append(f"{path.name}:{node.lineno} imports {node.module}")
    assert found == []
