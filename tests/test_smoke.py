from tests.conftest import Harness, bearer


async def test_signup_login_user_toggle(h: Harness) -> None:
    r = await h.signup()
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["isRequiresMfa"] is False and body["message"] == "Signup successful"
    r = await h.login()
    assert r.status_code == 200, r.text
    tok = r.json()["accessToken"]
    r = await h.client.get("/auth/user", headers=bearer(tok))
    assert r.status_code == 200, r.text
    assert r.json()["email"] == "alice@example.com"
    r = await h.client.post("/auth/mfa/toggle", json={"enabled": True}, headers=bearer(tok))
    # The email channel exists (development outbox), so an email address is a usable method.
    assert r.status_code == 200, r.text
    assert r.json() == {"message": "MFA enabled successfully"}
