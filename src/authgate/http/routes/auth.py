"""/auth: signup, login, tokens, logout, the current user, client config, CSRF."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Request
from starlette.responses import Response

from authgate.accounts import login as accounts
from authgate.accounts import logout as logout_flows
from authgate.accounts import switcher
from authgate.config import Settings
from authgate.errors import AuthError, Code
from authgate.http import cookies, serializers
from authgate.http import csrf as csrf_tokens
from authgate.http.deps import (
    Client,
    MfaCompleted,
    MfaCompletedNoForcedChange,
    PendingMfaAllowed,
    PendingMfaNoForcedChange,
    Res,
    logout_target,
)
from authgate.http.rate_limits import FromBody, rate_limit
from authgate.http.responses import auth_response
from authgate.http.schemas import (
    OPTIONAL_AUTH,
    SECURED,
    AccountOut,
    AccountsOut,
    AuthOut,
    ClientConfigOut,
    CsrfOut,
    LoginIn,
    LogoutIn,
    MeOut,
    MePendingOut,
    MessageOut,
    RefreshIn,
    SignupIn,
    UserOut,
    VerifySessionOut,
    errors,
    iso,
    respond,
)
from authgate.identity.contact import account_refs
from authgate.registry import login_providers
from authgate.vocabulary import Channel

router = APIRouter(tags=["Authentication"])


@router.get("/csrf", response_model=CsrfOut, summary="Get a CSRF token (cookie mode)")
async def csrf(res: Res, request: Request) -> Response:
    cfg = res.settings.security.csrf
    if not cfg.enabled:
        return respond(CsrfOut(enabled=False))
    token = csrf_tokens.mint(res, csrf_tokens.session_of_cookies(res, request))
    response = respond(CsrfOut(enabled=True, csrfToken=token,
                               headerName=cfg.header_name.lower(),
                               cookieName=cookies.cookie_name(res.settings, cfg.cookie_name)))
    cookies.write_csrf(res.settings, response, token)
    return response


def _no_auto_login() -> Response:
    """A signup answered without signing in (also a taken address under
    ``registration.hide_existing_accounts``): the same body either way."""
    return respond(AuthOut(accessToken="", refreshToken="", isRequiresMfa=False,
                           message="Signup successful"))


def _signup_accounts(body: SignupIn, settings: Settings) -> list[str]:
    """Both addresses the new account claims (the flow checks and stores both)."""
    addresses: list[tuple[Channel, str]] = []
    if body.email:
        addresses.append(("email", body.email))
    if body.phone:
        addresses.append(("sms", body.phone))
    return account_refs(addresses, settings.phone_default_region)


@router.post("/signup", response_model=AuthOut, responses=errors(400, 403),
             dependencies=[rate_limit("signup", by=FromBody(SignupIn, _signup_accounts))],
             summary="Create an account and sign in")
async def signup(body: SignupIn, request: Request, res: Res, client: Client) -> Response:
    user = await accounts.signup(res, email=body.email, phone=body.phone,
                                 password=body.password, tenant_id=body.tenantId)
    if user is None:  # registration.hide_existing_accounts: taken; no tokens for anyone
        return _no_auto_login()
    outcome = await accounts.start_session(res, user, client=client, amr=("pwd",),
                                           mfa_satisfied=False)
    if not res.settings.registration.signs_in_after_signup():
        return _no_auto_login()
    return auth_response(res, request, tokens=outcome.tokens, message="Signup successful",
                         requires_mfa=outcome.requires_mfa, user=user,
                         mfa_methods=outcome.mfa_methods, default_method=outcome.default_method)


def _login_accounts(body: LoginIn, settings: Settings) -> list[str]:
    """The account(s) this login looks up: what its provider says it reads from the
    credentials (``LoginProvider.rate_limit_accounts``), nothing else in the body."""
    provider = login_providers.find(body.providerName, settings) if body.providerName else None
    return (provider.rate_limit_accounts(body.credentials, settings)
            if provider is not None else [])


@router.post("/login", response_model=AuthOut, responses=errors(400, 401, 403, 503),
             dependencies=[rate_limit("login", by=FromBody(LoginIn, _login_accounts))],
             summary="Sign in (email/phone + password, a passwordless code, or a Google, "
                     "Apple, GitHub, Facebook or OpenID Connect token)")
async def login(body: LoginIn, request: Request, res: Res, client: Client) -> Response:
    outcome = await accounts.login(
        res, provider_name=body.providerName, credentials=body.credentials,
        tenant_id=body.tenantId, client=client, create_user=bool(body.createUserIfNotExists),
        guard=body.__dict__["guard"])  # read without pydantic's deprecation warning
    return auth_response(res, request, tokens=outcome.tokens, message="Login successful",
                         requires_mfa=outcome.requires_mfa, user=outcome.user,
                         mfa_methods=outcome.mfa_methods, default_method=outcome.default_method,
                         remember_me=body.rememberMe)


@router.post("/refresh-token", response_model=AuthOut, responses=errors(401),
             dependencies=[rate_limit("refresh")],
             summary="Rotate the refresh token and get a new access token")
async def refresh_token(request: Request, res: Res,
                        body: Annotated[RefreshIn | None, Body()] = None) -> Response:
    token = body.refreshToken if body else None
    if not token and cookies.cookie_mode(res.settings, request):
        token = cookies.refresh_cookie(res.settings, request)
    if not token:
        raise AuthError(Code.REFRESH_TOKEN_INVALID, "refreshToken is required")
    outcome = await accounts.refresh(res, token)
    return auth_response(res, request, tokens=outcome.tokens,
                         message="Token refreshed successfully",
                         requires_mfa=outcome.requires_mfa, user=outcome.user,
                         mfa_methods=outcome.mfa_methods, default_method=outcome.default_method)


@router.post("/logout", response_model=MessageOut, responses=errors(400, 403),
             summary="Sign out of this session", openapi_extra=OPTIONAL_AUTH)
async def logout(request: Request, res: Res,
                 body: Annotated[LogoutIn | None, Body()] = None) -> Response:
    # The session is named by the access token (even an expired one), else by the refresh
    # token: an expired access token must not leave the session alive (issue #19 item 1).
    target = await logout_target(res, request, body.refreshToken if body else None)
    await logout_flows.logout(res, target)
    response = respond(MessageOut(message="Logged out successfully"))
    cookies.clear_tokens(res.settings, request, response)
    csrf_tokens.follow_active_account(res, request, response)
    return response


@router.post("/logout-all", response_model=MessageOut, responses=errors(401, 403),
             summary="Sign out of every session", openapi_extra=SECURED)
async def logout_all(request: Request, res: Res,
                     principal: MfaCompletedNoForcedChange) -> Response:
    # Not open to an MFA-pending session (issue #12): a password alone must not end the
    # owner's verified sessions and trusted devices.
    await logout_flows.logout_all(res, principal)
    response = respond(MessageOut(message="Logged out from all devices successfully"))
    cookies.clear_tokens(res.settings, request, response)
    return response


@router.get("/me", response_model=MeOut | MePendingOut, responses=errors(401, 403),
            summary="Session user data (MFA pending: only id and isMfaEnabled)",
            openapi_extra=SECURED)
async def me(principal: PendingMfaNoForcedChange) -> Response:
    if principal.mfa_pending:
        # A password alone shows no personal data (issue #12): only what the MFA step
        # needs, the account id (also in the token) and whether MFA is on for the account.
        return respond(serializers.me_pending(principal.user))
    return respond(serializers.me(principal.user, principal.session))


@router.get("/user", response_model=UserOut, responses=errors(401, 403),
            summary="The current user", openapi_extra=SECURED)
async def user(principal: MfaCompleted) -> Response:
    return respond(serializers.user_row(principal.user))


@router.get("/verify-session", response_model=VerifySessionOut, responses=errors(401),
            summary="Check that the session is live", openapi_extra=SECURED)
async def verify_session(principal: PendingMfaAllowed) -> Response:
    return respond(VerifySessionOut(valid=True, userId=principal.user.id,
                                    expiresAt=iso(principal.session.expires_at)))


@router.get("/client-config", response_model=ClientConfigOut,
            summary="Public configuration for clients")
async def client_config(res: Res) -> Response:
    s = res.settings
    return respond(ClientConfigOut(
        tenants={"enabled": s.tenant.enabled,
                 "mode": s.tenant.mode if s.tenant.enabled else "isolated"},
        multipleAccounts={"enabled": s.session.allow_multiple_accounts},
        roleGuards=list(s.authz.role_guards),
        # the contract's providers always; one it lacks (a passkey) only when enabled, so
        # clients built for upstream see nothing new unless the app opts in
        **{p.config_key: p.client_config(s) for p in login_providers
           if p.config_key in ClientConfigOut.model_fields or p.enabled(s)},
        customProviders=[p.name for p in login_providers.configured(s)],
        registration={"enabled": s.registration.enabled,
                      "requireInvitation": s.registration.require_invitation},
        mfa={"enabled": s.mfa.enabled, "methods": list(s.mfa.methods),
             "allowUserToggle": s.mfa.allow_user_toggle,
             "allowMethodSelection": s.mfa.allow_method_selection},
        platformAccess={"enabled": False},
        accessTokenType=s.session.access_token_type or "header",
    ))


@router.get("/accounts", response_model=AccountsOut,
            summary="The accounts this browser is signed into (multi-account cookie mode)")
async def accounts_list(request: Request, res: Res) -> Response:
    found = await switcher.signed_in_accounts(
        res, cookies.account_refresh_cookies(res.settings, request),
        cookies.active_account(res.settings, request))
    return respond(AccountsOut(accounts=[
        AccountOut(accountId=a.account_id, email=a.email, phone=a.phone, tenantId=a.tenant_id,
                   isActive=a.is_active) for a in found]))
