"""The authorization-code flow as account flows: start, the callback (sign in with
cookies, or a one-time result for the opener) and the opener's exchange of that result.
Every sign-in ends in ``login.finish_login``: a user who owes the MFA step gets an
MFA-pending session, as with any other login (W4)."""

from __future__ import annotations

from dataclasses import dataclass

from authgate.accounts import login, social
from authgate.accounts.providers.social import AMR
from authgate.errors import AuthError, Code
from authgate.federation import codeflow
from authgate.federation.codeflow import Flow, Mode
from authgate.identity.snapshot import load_user_snapshot
from authgate.resources import Resources
from authgate.sessions.service import ClientMeta
from authgate.tenancy.resolve import requested_tenant


@dataclass(frozen=True)
class CallbackOutcome:
    flow: Flow
    login: login.LoginOutcome | None = None
    """``mode=cookie``: the session, whose tokens the edge sets as cookies."""
    result_code: str | None = None
    """``mode=message``: what the opener exchanges at ``POST /auth/oauth/exchange``."""
    error: AuthError | None = None
    """Why the sign-in failed after the flow was found (the page tells its opener)."""


async def start(res: Resources, provider: str, *, redirect_uri: str, mode: Mode,
                origin: str | None, return_to: str | None, create_user: bool,
                tenant_id: str | None) -> tuple[str, str]:
    """The provider's URL and the browser binding. The tenant is checked now (as a login
    checks it first) and carried by the flow."""
    tenant = await requested_tenant(res, tenant_id)
    return await codeflow.start(res, provider, redirect_uri=redirect_uri, mode=mode,
                                origin=origin, return_to=return_to, create_user=create_user,
                                tenant_id=tenant)


async def callback(res: Resources, provider: str, *, state: str, code: str | None,
                   error: str | None, binding: str | None,
                   client: ClientMeta) -> CallbackOutcome:
    """Raises OAUTH_STATE_INVALID when ``state`` names no flow of this browser; any later
    failure (the provider's refusal, the linking rules, an inactive account) comes back
    in ``error`` with the flow, so the opener hears of it. The flow is spent either way."""
    flow = await codeflow.take(res, provider, state=state, binding=binding)
    try:
        profile = await codeflow.exchange(res, flow, code=code, error=error)
        user = await social.sign_in(res, profile, create_user=flow.create_user,
                                    tenant_id=flow.tenant_id, client=client)
        if flow.mode == "cookie":
            outcome = await login.finish_login(res, user, client=client, amr=AMR,
                                               owes_mfa=True, tenant_id=flow.tenant_id)
            return CallbackOutcome(flow=flow, login=outcome)
        return CallbackOutcome(flow=flow,
                               result_code=await codeflow.issue_result(res, flow, user.id))
    except AuthError as exc:
        return CallbackOutcome(flow=flow, error=exc)


async def exchange(res: Resources, code: str, *, client: ClientMeta) -> login.LoginOutcome:
    """The opener's one-time result → a session (pending MFA when owed).
    OAUTH_STATE_INVALID for an unknown, used or expired code; ACCOUNT_INACTIVE."""
    user_id, tenant_id = await codeflow.take_result(res, code)
    user = await load_user_snapshot(res.db, user_id)
    if user is None:
        raise AuthError(Code.OAUTH_STATE_INVALID)
    if not user.is_active:
        raise AuthError(Code.ACCOUNT_INACTIVE)
    return await login.finish_login(res, user, client=client, amr=AMR, owes_mfa=True,
                                    tenant_id=tenant_id)
