"""A real local identity provider for the social sign-in tests: an OpenID Connect provider
(discovery, JWKS with key rotation, an authorization endpoint, a token endpoint with client
authentication, single-use codes and PKCE checked with Authlib, user-info) issuing ID tokens
signed with ``joserfc``, plus stand-ins of the GitHub API, Facebook's Graph API and Google's
tokeninfo. A Starlette app served by uvicorn on a free 127.0.0.1 port in its own thread.

Fixture ``idp`` (one server per test session, reset for every test). ``idp.issuer`` is the
issuer URL; ``idp.id_token(sub=..., email=...)`` mints a token; ``idp.rotate()`` makes a
new signing key current (the old one stays published until ``idp.retire()``);
``idp.delay`` makes every answer that slow; ``idp.fail`` makes every answer a 500.
"""

from __future__ import annotations

import asyncio
import secrets
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import pytest
import uvicorn
from authlib.oauth2.rfc7636 import create_s256_code_challenge
from joserfc import jwt
from joserfc.jwk import ECKey, RSAKey
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from tests.servers import HOST, free_port

CLIENT_ID = "authgate-test-client"
CLIENT_SECRET = "idp-client-secret-0123456789"
GITHUB_CLIENT_ID = "gh-client-id"
GITHUB_SECRET = "gh-client-secret"
FB_APP_ID = "1234567890"
FB_SECRET = "fb-app-secret"


@dataclass
class IdpUser:
    sub: str
    email: str | None
    email_verified: bool = True
    name: str | None = "Alice Example"


@dataclass
class Idp:
    port: int = 0
    keys: list[RSAKey | ECKey] = field(default_factory=list)
    published: list[RSAKey | ECKey] = field(default_factory=list)
    codes: dict[str, dict[str, Any]] = field(default_factory=dict)
    access_tokens: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Bearer token → {"sub", "email", "email_verified", "name", "aud"/"app"}."""
    github_emails: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    user: IdpUser = field(default_factory=lambda: IdpUser("idp-alice", "alice@example.com"))
    """Who signs in at the authorization endpoint."""
    delay: float = 0.0
    fail: bool = False
    requests: list[str] = field(default_factory=list)
    token_requests: list[dict[str, str]] = field(default_factory=list)
    _server: uvicorn.Server | None = None
    _thread: threading.Thread | None = None

    # -- controls --------------------------------------------------------------------
    @property
    def issuer(self) -> str:
        return f"http://{HOST}:{self.port}"

    @property
    def key(self) -> RSAKey | ECKey:
        return self.keys[-1]

    def settings(self, **extra: Any) -> dict[str, Any]:
        """``social.oidc.<name>`` settings for this provider."""
        return {"issuer": self.issuer, "client_id": CLIENT_ID,
                "client_secret": CLIENT_SECRET, **extra}

    def rotate(self) -> RSAKey:
        key = RSAKey.generate_key(2048, parameters={"kid": secrets.token_hex(6),
                                                    "use": "sig", "alg": "RS256"})
        self.keys.append(key)
        self.published.append(key)
        return key

    def retire(self) -> None:
        """Stop publishing every key but the current one."""
        self.published[:] = [self.key]

    def reset(self) -> Idp:
        self.keys.clear()
        self.published.clear()
        self.rotate()
        self.codes.clear()
        self.access_tokens.clear()
        self.github_emails.clear()
        self.user = IdpUser("idp-alice", "alice@example.com")
        self.delay, self.fail = 0.0, False
        self.requests.clear()
        self.token_requests.clear()
        return self

    def id_token(self, sub: str = "idp-alice", email: str | None = "alice@example.com", *,
                 email_verified: Any = True, aud: Any = CLIENT_ID, iss: str | None = None,
                 exp_in: int = 600, iat_offset: int = 0, nonce: str | None = None,
                 key: RSAKey | ECKey | None = None, kid: str | None = None,
                 alg: str = "RS256", **claims: Any) -> str:
        now = int(time.time()) + iat_offset
        body: dict[str, Any] = {"iss": iss or self.issuer, "sub": sub, "aud": aud,
                                "iat": now, "exp": now + exp_in, **claims}
        if email is not None:
            body["email"] = email
            body["email_verified"] = email_verified
        if nonce is not None:
            body["nonce"] = nonce
        signer = key or self.key
        header = {"alg": alg, "kid": kid or signer.kid}
        return jwt.encode(header, body, signer, algorithms=[alg])

    def access_token(self, **info: Any) -> str:
        token = "at-" + secrets.token_urlsafe(16)
        self.access_tokens[token] = info
        return token

    # -- the server ------------------------------------------------------------------
    def app(self) -> Starlette:
        async def gate(request: Request) -> Response | None:
            self.requests.append(request.url.path)
            if self.delay:
                await asyncio.sleep(self.delay)
            if self.fail:
                return JSONResponse({"error": "server_error"}, status_code=500)
            return None

        async def discovery(request: Request) -> Response:
            return await gate(request) or JSONResponse({
                "issuer": self.issuer,
                "authorization_endpoint": f"{self.issuer}/authorize",
                "token_endpoint": f"{self.issuer}/token",
                "userinfo_endpoint": f"{self.issuer}/userinfo",
                "jwks_uri": f"{self.issuer}/jwks",
                "response_types_supported": ["code"],
                "subject_types_supported": ["public"],
                "id_token_signing_alg_values_supported": ["RS256"],
                "code_challenge_methods_supported": ["S256"],
            })

        async def jwks(request: Request) -> Response:
            return await gate(request) or JSONResponse(
                {"keys": [k.as_dict(private=False) for k in self.published]})

        async def authorize(request: Request) -> Response:
            q = request.query_params
            if q.get("client_id") != CLIENT_ID or q.get("response_type") != "code":
                return JSONResponse({"error": "unauthorized_client"}, status_code=400)
            if q.get("code_challenge_method") != "S256" or not q.get("code_challenge"):
                return JSONResponse({"error": "invalid_request"}, status_code=400)
            code = secrets.token_urlsafe(16)
            self.codes[code] = {"redirect_uri": q["redirect_uri"], "nonce": q.get("nonce"),
                                "challenge": q["code_challenge"], "user": self.user}
            sep = "&" if "?" in q["redirect_uri"] else "?"
            return RedirectResponse(
                q["redirect_uri"] + sep + urlencode({"code": code, "state": q.get("state", "")}),
                status_code=302)

        async def token(request: Request) -> Response:
            failed = await gate(request)
            if failed:
                return failed
            from urllib.parse import parse_qsl

            form = dict(parse_qsl((await request.body()).decode()))
            self.token_requests.append({k: str(v) for k, v in form.items()})
            if (form.get("client_id"), form.get("client_secret")) != (CLIENT_ID, CLIENT_SECRET):
                return JSONResponse({"error": "invalid_client"}, status_code=401)
            grant = self.codes.pop(str(form.get("code")), None)  # single use
            if grant is None or grant["redirect_uri"] != form.get("redirect_uri"):
                return JSONResponse({"error": "invalid_grant"}, status_code=400)
            verifier = str(form.get("code_verifier", ""))
            if create_s256_code_challenge(verifier) != grant["challenge"]:
                return JSONResponse({"error": "invalid_grant",
                                     "error_description": "PKCE"}, status_code=400)
            u: IdpUser = grant["user"]
            return JSONResponse({
                "access_token": self.access_token(sub=u.sub, email=u.email),
                "token_type": "Bearer", "expires_in": 300,
                "id_token": self.id_token(u.sub, u.email, email_verified=u.email_verified,
                                          nonce=grant["nonce"], name=u.name)})

        def _bearer(request: Request) -> dict[str, Any] | None:
            auth = request.headers.get("authorization", "")
            return self.access_tokens.get(auth.removeprefix("Bearer ").strip())

        async def userinfo(request: Request) -> Response:
            failed = await gate(request)
            info = _bearer(request)
            return failed or (JSONResponse(info) if info else JSONResponse(
                {"error": "invalid_token"}, status_code=401))

        # Google tokeninfo --------------------------------------------------------------
        async def tokeninfo(request: Request) -> Response:
            failed = await gate(request)
            info = self.access_tokens.get(request.query_params.get("access_token", ""))
            if failed or info is None:
                return failed or JSONResponse({"error": "invalid_token"}, status_code=400)
            return JSONResponse({"aud": info.get("aud", CLIENT_ID), "sub": info["sub"],
                                 "email": info.get("email"),
                                 "email_verified": "true" if info.get("email_verified", True)
                                 else "false", "expires_in": "3000"})

        # GitHub ------------------------------------------------------------------------
        async def gh_check(request: Request) -> Response:
            failed = await gate(request)
            import base64

            auth = request.headers.get("authorization", "").removeprefix("Basic ")
            creds = base64.b64decode(auth).decode() if auth else ""
            body = await request.json()
            info = self.access_tokens.get(body.get("access_token", ""))
            if failed:
                return failed
            if (creds != f"{GITHUB_CLIENT_ID}:{GITHUB_SECRET}"
                    or request.path_params["cid"] != GITHUB_CLIENT_ID):
                return JSONResponse({"message": "Bad credentials"}, status_code=401)
            if info is None or info.get("app", GITHUB_CLIENT_ID) != GITHUB_CLIENT_ID:
                return JSONResponse({"message": "Not Found"}, status_code=404)
            return JSONResponse({"id": 1, "token": "…"})

        async def gh_user(request: Request) -> Response:
            failed = await gate(request)
            info = _bearer(request)
            if failed or info is None:
                return failed or JSONResponse({"message": "Bad credentials"}, status_code=401)
            return JSONResponse({"id": int(info["sub"]), "login": info.get("login", "octo"),
                                 "name": info.get("name"), "email": None,
                                 "avatar_url": "https://avatars.example/1"})

        async def gh_emails(request: Request) -> Response:
            failed = await gate(request)
            auth = request.headers.get("authorization", "").removeprefix("Bearer ").strip()
            if failed or auth not in self.access_tokens:
                return failed or JSONResponse({"message": "Bad credentials"}, status_code=401)
            return JSONResponse(self.github_emails.get(auth, []))

        async def gh_authorize(request: Request) -> Response:
            q = request.query_params
            if q.get("client_id") != GITHUB_CLIENT_ID or q.get("code_challenge_method") != "S256":
                return JSONResponse({"error": "invalid_request"}, status_code=400)
            code = secrets.token_urlsafe(16)
            self.codes[code] = {"redirect_uri": q["redirect_uri"], "github": True,
                                "challenge": q["code_challenge"], "user": self.user}
            return RedirectResponse(q["redirect_uri"] + "?" + urlencode(
                {"code": code, "state": q.get("state", "")}), status_code=302)

        async def gh_token(request: Request) -> Response:
            from urllib.parse import parse_qsl

            form = dict(parse_qsl((await request.body()).decode()))
            self.token_requests.append(form)
            grant = self.codes.pop(form.get("code", ""), None)
            if (form.get("client_id"), form.get("client_secret")) != (GITHUB_CLIENT_ID,
                                                                      GITHUB_SECRET):
                return JSONResponse({"error": "incorrect_client_credentials"})
            if (grant is None or not grant.get("github")
                    or grant["redirect_uri"] != form.get("redirect_uri")
                    or create_s256_code_challenge(form.get("code_verifier", ""))
                    != grant["challenge"]):
                return JSONResponse({"error": "bad_verification_code"})  # GitHub says 200
            u: IdpUser = grant["user"]
            token = self.access_token(sub="31337", name=u.name)
            self.github_emails[token] = [{"email": u.email, "primary": True,
                                          "verified": u.email_verified}]
            return JSONResponse({"access_token": token, "token_type": "bearer",
                                 "scope": "read:user,user:email"})

        # Facebook ----------------------------------------------------------------------
        async def fb_debug(request: Request) -> Response:
            failed = await gate(request)
            q = request.query_params
            if failed:
                return failed
            if q.get("access_token") != f"{FB_APP_ID}|{FB_SECRET}":
                return JSONResponse({"error": {"message": "bad app token"}}, status_code=400)
            info = self.access_tokens.get(q.get("input_token", ""))
            if info is None:
                return JSONResponse({"data": {"is_valid": False}})
            return JSONResponse({"data": {"is_valid": True, "app_id": info.get("app", FB_APP_ID),
                                          "user_id": info["sub"]}})

        async def fb_me(request: Request) -> Response:
            import hashlib
            import hmac

            failed = await gate(request)
            q = request.query_params
            token = q.get("access_token", "")
            info = self.access_tokens.get(token)
            proof = hmac.new(FB_SECRET.encode(), token.encode(), hashlib.sha256).hexdigest()
            if failed or info is None or q.get("appsecret_proof") != proof:
                return failed or JSONResponse({"error": {"message": "invalid"}}, status_code=400)
            return JSONResponse({"id": info["sub"], "name": info.get("name"),
                                 "email": info.get("email"), "first_name": "Alice",
                                 "last_name": "Example"})

        return Starlette(routes=[
            Route("/.well-known/openid-configuration", discovery),
            Route("/jwks", jwks),
            Route("/authorize", authorize),
            Route("/token", token, methods=["POST"]),
            Route("/userinfo", userinfo),
            Route("/google/tokeninfo", tokeninfo),
            Route("/github/applications/{cid}/token", gh_check, methods=["POST"]),
            Route("/github/user", gh_user),
            Route("/github/user/emails", gh_emails),
            Route("/github/login/oauth/authorize", gh_authorize),
            Route("/github/login/oauth/access_token", gh_token, methods=["POST"]),
            Route("/facebook/debug_token", fb_debug),
            Route("/facebook/me", fb_me),
        ])

    def start(self) -> Idp:
        self.port = free_port()
        self.reset()
        config = uvicorn.Config(self.app(), host=HOST, port=self.port, log_level="warning",
                                lifespan="off", loop="asyncio", http="h11")
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("local identity provider did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(5)

    def social_settings(self, **extra: Any) -> dict[str, Any]:
        """``social`` settings pointing every provider at this server."""
        return {
            "google": {"issuer": self.issuer, "client_id": CLIENT_ID,
                       "client_secret": CLIENT_SECRET},
            "apple": {"issuer": self.issuer, "client_id": CLIENT_ID},
            "github": {"client_id": GITHUB_CLIENT_ID, "client_secret": GITHUB_SECRET,
                       "api_url": f"{self.issuer}/github",
                       "authorize_url": f"{self.issuer}/github/login/oauth/authorize",
                       "token_url": f"{self.issuer}/github/login/oauth/access_token"},
            "facebook": {"app_id": FB_APP_ID, "app_secret": FB_SECRET,
                         "graph_url": f"{self.issuer}/facebook"},
            "google_tokeninfo_url": f"{self.issuer}/google/tokeninfo",
            "oidc": {"corp": self.settings()},
            "timeout": 2,
            **extra,
        }


@pytest.fixture(scope="session")
def _idp_server() -> Iterator[Idp]:
    server = Idp().start()
    yield server
    server.stop()


@pytest.fixture
def idp(_idp_server: Idp) -> Idp:
    return _idp_server.reset()
