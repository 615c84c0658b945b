"""The MFA step's first charge: a session's and a client's own allowance (issue #12).

    @router.post("/mfa/verify", dependencies=[mfa_allowance(), rate_limit("mfa_verify")])

Listed before ``rate_limit`` (FastAPI solves a route's dependencies in order), so an attempt
from a session whose second factor is still owed is charged to that session and to this
client's allowance on the account first, and one refused there (429
``MFA_TOO_MANY_ATTEMPTS``) never reaches the account's budgets
(``authgate.mfa.attempt_budget``). It reads only the access token's signed claims (no store
trip); a missing or invalid token is left for the route's guard to refuse.
"""

from __future__ import annotations

from typing import Any

from fastapi import Depends, Request

from authgate.errors import AuthError
from authgate.http.csrf import check_request
from authgate.http.deps import client_ip, extract_token, get_resources
from authgate.mfa import attempt_budget


async def _mfa_allowance(request: Request) -> None:
    res = get_resources(request)
    try:
        found = extract_token(res, request)
        if found is None:
            return
        if found[1] == "cookie":
            check_request(res, request)  # a forged request must not spend the session's tries
        claims = res.tokens.decode_access(found[0], res.clock.now())
    except AuthError:
        return
    # A pending session's tokens always say MFA on and not verified (so may a session opened
    # before the owner turned MFA on: charging it too costs nothing). Past the step, or
    # without MFA, only the account's budgets apply.
    if claims.get("isMfaVerified") is True or claims.get("isMfaEnabled") is not True:
        return
    await attempt_budget.reserve_pending(res, session_id=str(claims["sessionId"]),
                                         user_id=str(claims["sub"]),
                                         ip=client_ip(res, request))


def mfa_allowance() -> Any:
    """``Depends(...)`` charging the session's and the client's allowance (see above)."""
    return Depends(_mfa_allowance)
