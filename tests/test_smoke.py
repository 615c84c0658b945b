from tests.conftest import Harness, bearer
from tests.helpers import claims, set_user


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
    await set_user(h.res, claims(tok)["sub"], email_verified_at=h.clock.now())
    r = await h.client.post("/auth/mfa/toggle", json={"enabled": True}, headers=bearer(tok))
    # The email channel exists (development outbox), so a verified address is a usable method.
    assert r.status_code == 200, r.text
    assert r.json() == {"message": "MFA enabled successfully"}


async def test_server_process_freezes_startup_heap(database_url: str, tmp_path: object) -> None:
    """``authgate serve`` workers (the process the CLI owns) move the start-up heap out of
    the collector's sight; ``create_app`` itself, even for a server process, and an app
    mounted in someone else's process leave their collector alone."""
    import gc
    import sys
    from pathlib import Path

    from authgate.app import create_app
    from authgate.cli.main import owned
    from tests.conftest import base_settings

    assert isinstance(tmp_path, Path)
    before, switch = gc.get_threshold(), sys.getswitchinterval()
    try:
        for cli_owned in (False, True):
            gc.unfreeze()
            app = create_app(base_settings(database_url, data_dir=tmp_path),
                             server_process=True)
            if cli_owned:
                app = owned(app)
            async with app.router.lifespan_context(app):
                frozen, threshold = gc.get_freeze_count(), gc.get_threshold()
                interval = sys.getswitchinterval()
            if cli_owned:
                assert frozen > 10_000 and threshold[0] > before[0] and interval < switch
            else:
                assert frozen == 0 and threshold == before and interval == switch
    finally:
        gc.unfreeze()
        gc.set_threshold(*before)
        sys.setswitchinterval(switch)
