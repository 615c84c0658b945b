"""POST /auth/change-password: rules, policy codes, revocation, guard."""

from __future__ import annotations

import pytest

from tests.conftest import Harness, MakeHarness, bearer

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
        (PW, "password", "PASSWORD_TOO_COMMON"),
        (PW, "qwertyuiop1", "PASSWORD_TOO_WEAK"),
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
    r = await h.signup(password="password")
    assert (r.status_code, r.json()["code"]) == (400, "PASSWORD_TOO_COMMON")
