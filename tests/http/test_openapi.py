"""/openapi.json documents every route, its request and response bodies, and the error
envelope for the failures each route can produce; /docs serves."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from fastapi import routing as fastapi_routing
from fastapi.routing import APIRoute

from tests.conftest import Harness

CONTRACT = Path("/work/shared/contract/nest-auth-2.11.1.openapi.json")
STATE_CHANGING = {"post", "put", "patch", "delete"}
EXTENSIONS = {"/auth/admin/totp/setup", "/auth/admin/totp/enable", "/auth/admin/totp/disable",
              "/auth/admin/api/audit-log",
              "/auth/passkeys", "/auth/passkeys/register-options", "/auth/passkeys/register",
              "/auth/passkeys/{passkeyId}", "/auth/passkeys/login-options",
              # issue 14: the server-side code flow and the linked identities
              "/auth/oauth/{provider}/start", "/auth/oauth/exchange", "/auth/identities",
              "/auth/identities/{identityId}",
              # issue 18: accepting an invitation (reset-password redeems it too, as upstream);
              # the caller's API keys
              "/auth/invite/accept", "/auth/api-keys", "/auth/api-keys/{keyId}",
              "/auth/sessions", "/auth/sessions/{sessionId}",  # issue 19 item 4
              "/auth/account", "/auth/account/export",  # ASVS 8.3.2: export, deletion
              "/auth/activity"}  # issue 16 §3: the caller's own audit trail
"""Routes authgate adds on purpose (docs/DIFFERENCES.md): an admin's own two-factor sign-in
and the admin audit log; passkeys (issue 17); social sign-in (issue 14); accepting an
invitation and the caller's API keys (issue 18); the caller's own sessions (issue 19 item 4);
the caller's security activity (issue 16)."""
NOT_JSON = {
    ("get", "/auth/callback/{provider}"): "text/html",  # the page that posts to its opener
    ("get", "/auth/oauth/{provider}/start"): "redirect",  # 302 to the provider
}


def _ref(content: dict[str, Any]) -> str:
    """The schema reference of a JSON body (an optional body is ``anyOf [ref, null]``)."""
    schema = content["application/json"]["schema"]
    for option in schema.get("anyOf", [schema]):
        if "$ref" in option:
            return str(option["$ref"])
    return ""


def _resolve(doc: dict[str, Any], ref: str) -> dict[str, Any]:
    node: Any = doc
    for part in ref.removeprefix("#/").split("/"):
        node = node[part]
    assert isinstance(node, dict)
    return node


def _app_routes(h: Harness) -> set[tuple[str, str]]:
    """(method, path) of every API route, walking included routers."""
    app = h.client._transport.app  # type: ignore[attr-defined]
    out: set[tuple[str, str]] = set()
    for ctx in fastapi_routing.iter_route_contexts(app.routes):
        if isinstance(ctx.original_route, APIRoute) and ctx.original_route.include_in_schema:
            out.update((m.lower(), str(ctx.path)) for m in ctx.methods or ())
    return out


async def test_every_route_is_documented(h: Harness) -> None:
    r = await h.client.get("/openapi.json")
    assert r.status_code == 200
    doc = r.json()
    documented = {(m, p) for p, ops in doc["paths"].items() for m in ops}
    routes = _app_routes(h)
    assert routes and routes <= documented, routes - documented
    for method, path in [("post", "/auth/signup"), ("post", "/auth/login"),
                         ("post", "/auth/refresh-token"), ("post", "/auth/logout"),
                         ("post", "/auth/logout-all"), ("get", "/auth/me"),
                         ("get", "/auth/user"), ("get", "/auth/verify-session"),
                         ("get", "/auth/client-config"), ("get", "/auth/csrf"),
                         ("get", "/auth/mfa/status"), ("post", "/auth/mfa/toggle")]:
        assert (method, path) in documented


async def test_operations_have_request_response_and_error_schemas(h: Harness) -> None:
    doc = (await h.client.get("/openapi.json")).json()
    error = doc["components"]["schemas"]["ErrorOut"]
    assert set(error["required"]) == {"statusCode", "error", "message", "code"}
    text = json.dumps(doc)
    assert '"422"' not in text and "HTTPValidationError" not in text
    for path, ops in doc["paths"].items():
        if not path.startswith("/auth"):
            continue
        for method, op in ops.items():
            where = f"{method.upper()} {path}"
            responses = op["responses"]
            if NOT_JSON.get((method, path)) == "redirect":
                assert "302" in responses, where
                responses = {k: v for k, v in responses.items() if k != "302"}
            elif NOT_JSON.get((method, path)) == "text/html":
                for status, resp in responses.items():  # its own refusals are pages too
                    if status != "429":
                        assert set(resp["content"]) == {"text/html"}, (where, status)
                continue
            ok = responses.get("200") or responses.get("201")
            if ok is not None or (method, path) not in NOT_JSON:
                assert ok is not None and "application/json" in ok.get("content", {}), where
                assert ok["content"]["application/json"]["schema"], where
            if "requestBody" in op:
                assert _ref(op["requestBody"]["content"]).startswith("#/components/schemas/"), \
                    where
                assert _ref(responses["400"]["content"]) == "#/components/schemas/ErrorOut", \
                    where
            security = op.get("security") or []
            secured = bool(security) and {} not in security  # {} marks optional auth
            if secured:
                assert _ref(responses["401"]["content"]) == "#/components/schemas/ErrorOut", \
                    where
            if security and method in STATE_CHANGING:  # CSRF in cookie mode, policy refusals
                assert _ref(responses["403"]["content"]) == "#/components/schemas/ErrorOut", \
                    where
            for status, resp in responses.items():
                if status.startswith(("4", "5")):
                    assert _ref(resp["content"]) == "#/components/schemas/ErrorOut", \
                        (where, status)


async def test_key_schemas_match_the_contract(h: Harness) -> None:
    doc = (await h.client.get("/openapi.json")).json()
    paths = doc["paths"]
    toggle = _resolve(doc, _ref(paths["/auth/mfa/toggle"]["post"]["requestBody"]["content"]))
    assert toggle["required"] == ["enabled"]
    assert toggle["properties"]["enabled"]["type"] == "boolean"
    login = _resolve(doc, _ref(paths["/auth/login"]["post"]["requestBody"]["content"]))
    assert "credentials" in login["required"]
    status = _resolve(doc, _ref(paths["/auth/mfa/status"]["get"]["responses"]["200"]["content"]))
    assert set(status["required"]) >= {"isEnabled", "verifiedMethods", "configuredMethods",
                                       "allowUserToggle", "allowMethodSelection", "totpDevices",
                                       "hasRecoveryCode", "required", "canToggle"}
    auth = _resolve(doc, _ref(paths["/auth/login"]["post"]["responses"]["200"]["content"]))
    assert {"accessToken", "refreshToken", "isRequiresMfa", "message"} <= set(auth["properties"])
    assert doc["components"]["securitySchemes"]["access-token"]["scheme"] == "bearer"


async def test_every_documented_auth_path_exists_upstream(h: Harness) -> None:
    """Wire compatibility: authgate adds no /auth route that nest-auth 2.11.1 lacks (but the
    deliberate ``EXTENSIONS``), and no extension collides with an upstream path."""
    upstream = json.loads(CONTRACT.read_text())["paths"]
    ours = (await h.client.get("/openapi.json")).json()["paths"]
    for path in EXTENSIONS:
        assert path not in upstream and path in ours, path
    for path, ops in ours.items():
        if path.startswith("/auth") and path not in EXTENSIONS:
            assert path in upstream, path
            assert set(ops) <= set(upstream[path]), path


async def test_docs_page(h: Harness) -> None:
    r = await h.client.get("/docs")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/html")
    assert "/openapi.json" in r.text and "swagger" in r.text.lower()
