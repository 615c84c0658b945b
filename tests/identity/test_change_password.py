"""POST /auth/change-password: rules, policy codes, revocation, guard."""

from __future__ import annotations

import pytest

from tests.conftest import Harness, MakeHarness, bearer
from tests.mfa.helpers import enable_mfa, enroll, pending_login, signup_token

PW = "correct horse battery"
NEW = "a different staple 42"


async def _change(h: Harness, token: str, current: str, new: str) -> tuple[int, dict[str, object]]:
    r = await h.client.post("/auth/change-password", headers=bearer(token),
                            json={"currentPassword": current, "newPassword": new})
    return r.status_code, r.json()


async def test_change_password_succeeds_and_new_password_logs_in(h: Harness) -> None:
    token = await h.session_token()
    status, body = await _change(h, token, PW, NEW)
    assert (status, body) == (200, {"message": "Password changed successfully"})
    assert (await h.login(password=PW)).json()["code"] == "INVALID_CREDENTIALS"
    assert (await h.login(password=NEW)).status_code == 200


async def test_change_password_keeps_caller_and_revokes_other_sessions(h: Harness) -> None:
    token = await h.session_token()
    other = (await h.login()).json()["accessToken"]
    assert (await _change(h, token, PW, NEW))[0] == 200
    assert (await h.client.get("/auth/user", headers=bearer(token))).status_code == 200
    r = await h.client.get("/auth/user", headers=bearer(other))
    assert (r.status_code, r.json()["code"]) == (401, "SESSION_NOT_FOUND")


async def test_change_password_mode_all_revokes_the_caller_too(make_harness: MakeHarness) -> None:
    h = await make_harness(password={"revoke_sessions_on_change": "all"})
    token = await h.session_token()
    assert (await _change(h, token, PW, NEW))[0] == 200
    r = await h.client.get("/auth/user", headers=bearer(token))
    assert r.json()["code"] == "SESSION_NOT_FOUND"


@pytest.mark.parametrize(
    ("current", "new", "code"),
    [
        ("wrong password 1", NEW, "CURRENT_PASSWORD_INCORRECT"),
        (PW, PW, "NEW_PASSWORD_SAME_AS_CURRENT"),
        (PW, "short", "PASSWORD_TOO_SHORT"),
        (PW, "x" * 129, "PASSWORD_TOO_LONG"),
        (PW, "password1234", "PASSWORD_TOO_COMMON"),
        (PW, "qwertyuiop12", "PASSWORD_TOO_WEAK"),
        (PW, "alice-secret-2024", "PASSWORD_CONTAINS_IDENTIFIER"),
    ],
)
async def test_change_password_rule_failures_are_400_with_their_code(
    h: Harness, current: str, new: str, code: str
) -> None:
    token = await h.session_token()
    status, body = await _change(h, token, current, new)
    assert (status, body["code"]) == (400, code)
    assert set(body) == {"statusCode", "error", "message", "code"}
    assert (await h.login(password=PW)).status_code == 200  # nothing changed


@pytest.mark.parametrize("payload", [{}, {"currentPassword": PW}, {"currentPassword": 5,
                                                                      "newPassword": NEW}])
async def test_change_password_bad_body_is_invalid_input(h: Harness, payload: dict[str, object]) -> None:
    token = await h.session_token()
    r = await h.client.post("/auth/change-password", headers=bearer(token), json=payload)
    assert (r.status_code, r.json()["code"]) == (400, "INVALID_INPUT")


async def test_change_password_requires_auth(h: Harness) -> None:
    r = await h.client.post("/auth/change-password", json={"currentPassword": PW, "newPassword": NEW})
    assert (r.status_code, r.json()["code"]) == (401, "NO_AUTH_PROVIDED")


async def test_change_password_refused_while_mfa_pending(make_harness: MakeHarness) -> None:
    h = await make_harness(mfa={"required": True})
    r = await h.signup()
    token = r.json()["accessToken"]
    assert r.json()["isRequiresMfa"] is True
    status, body = await _change(h, token, PW, NEW)
    assert (status, body["code"]) == (401, "MFA_REQUIRED")
    assert (await h.login(password=PW)).status_code == 200


async def test_signup_applies_the_same_policy(h: Harness) -> None:
    r = await h.signup(password="password1234")
    assert (r.status_code, r.json()["code"]) == (400, "PASSWORD_TOO_COMMON")


async def test_wrong_current_passwords_lock_until_the_lock_ends(make_harness: MakeHarness) -> None:
    """Issue 12, item 6: a stolen access token cannot guess the current password without
    end. Failures count in the user's lockout (shared with logins); a success clears."""
    h = await make_harness(rate_limit={"lockout": {"max_failures": 3, "lock_duration": 600},
                                       "change_password": {"per_ip": None,
                                                           "per_account": None}})
    token = await h.user_token()
    for _ in range(2):
        assert (await _change(h, token, "wrong password", NEW))[1]["code"] == \
            "CURRENT_PASSWORD_INCORRECT"
    assert (await h.login()).status_code == 200  # a success clears the count
    for _ in range(3):
        status, body = await _change(h, token, "wrong password", NEW)
        assert (status, body["code"]) == (400, "CURRENT_PASSWORD_INCORRECT")
    r = await h.client.post("/auth/change-password", headers=bearer(token),
                            json={"currentPassword": PW, "newPassword": NEW})
    assert (r.status_code, r.json()["code"]) == (429, "ACCOUNT_LOCKED")
    assert r.headers["retry-after"] == "600"
    assert (await h.login()).json()["code"] == "ACCOUNT_LOCKED"  # the same lockout
    h.clock.advance(599)
    assert (await _change(h, token, PW, NEW))[1]["code"] == "ACCOUNT_LOCKED"
    h.clock.advance(1)
    assert await _change(h, token, PW, NEW) == (200, {"message": "Password changed successfully"})


async def test_change_password_is_rate_limited_per_user(make_harness: MakeHarness) -> None:
    h = await make_harness(security={"trusted_proxies": ["127.0.0.1"]}, rate_limit={
        "change_password": {"per_ip": None, "per_account": {"limit": 2, "window": 300}},
        "lockout": {"enabled": False}})
    token = await h.user_token()
    other = await h.user_token("bob@example.com")
    for n in range(2):
        r = await h.client.post("/auth/change-password",
                                headers={**bearer(token), "X-Forwarded-For": f"203.0.113.{n}"},
                                json={"currentPassword": "wrong password", "newPassword": NEW})
        assert r.json()["code"] == "CURRENT_PASSWORD_INCORRECT"
    r = await h.client.post("/auth/change-password",
                            headers={**bearer(token), "X-Forwarded-For": "198.51.100.9"},
                            json={"currentPassword": PW, "newPassword": NEW})
    assert (r.status_code, r.json()["code"]) == (429, "RATE_LIMITED")
    assert (await _change(h, other, PW, NEW))[0] == 200


async def test_an_mfa_pending_session_cannot_spend_the_owners_budget(
        make_harness: MakeHarness) -> None:
    """The per-user row is counted after the guard: someone with the password but not the
    second factor cannot keep the owner from changing it."""
    h = await make_harness(rate_limit={
        "change_password": {"per_ip": None, "per_account": {"limit": 2, "window": 300}}})
    owner = await signup_token(h)
    await enroll(h, owner)
    await enable_mfa(h, owner)
    pending = (await pending_login(h))["accessToken"]
    for _ in range(5):
        status, body = await _change(h, pending, "wrong password", NEW)
        assert (status, body["code"]) == (401, "MFA_REQUIRED")
    assert await _change(h, owner, PW, NEW) == (200, {"message": "Password changed successfully"})
