"""Users written straight into the database, for tests that are not about signup or login.

``await make_user(h, verified=True, totp=True, mfa=True, tokens=True)`` costs one password hash
and a few inserts instead of the HTTP requests of signup, set-up and verify (real rows, the
app's own key ring and session service; nothing is mocked). Tests about signup, login or
enrolment keep using the routes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from authgate.accounts.login import start_session
from authgate.crypto import totp as rfc6238
from authgate.db import new_id
from authgate.identity import store as users
from authgate.identity.models import User
from authgate.mfa import totp as totp_flows
from authgate.mfa.models import TotpDevice
from authgate.sessions.service import ClientMeta

if TYPE_CHECKING:
    from tests.conftest import Harness

PASSWORD = "correct horse battery"


@dataclass
class TestUser:
    """What a test needs of a user made by ``make_user``."""

    __test__ = False  # not a test class, despite the name

    id: str
    email: str | None
    password: str
    phone: str | None = None
    totp_secret: str | None = None
    """The base32 seed of the verified authenticator (``totp=True``)."""
    device_id: str | None = None
    access_token: str | None = None
    """``tokens=True``: a session opened as a password login would open it (pending MFA
    when the user has MFA on)."""
    refresh_token: str | None = None
    requires_mfa: bool = False


async def make_user(
    h: Harness,
    email: str | None = "alice@example.com",
    *,
    password: str = PASSWORD,
    phone: str | None = None,
    verified: bool = False,
    phone_verified: bool = False,
    totp: bool = False,
    mfa: bool = False,
    tokens: bool = False,
    must_change_password: bool = False,
) -> TestUser:
    """A user row as signup writes it (normalised email/phone, a real argon2 hash), then
    optionally: email/phone verified, a verified TOTP device (``totp``; the clock's current
    step is left unused), MFA switched on (``mfa``) and a session (``tokens``)."""
    res = h.res
    now = res.clock.now()
    user = User(
        id=new_id(),
        email=users.normalise_email(email) if email else None,
        phone=users.normalise_phone(phone) if phone else None,
        password_hash=await res.hasher.hash(password),
        status="active",
        email_verified_at=now if verified else None,
        phone_verified_at=now if phone_verified else None,
        is_mfa_enabled=mfa,
        must_change_password=must_change_password,
        meta={},
        tenant_scope="",
        password_changed_at=now,
        created_at=now,
        updated_at=now,
    )
    made = TestUser(id=user.id, email=user.email, password=password, phone=user.phone)
    async with res.sessionmaker() as s:
        s.add(user)
        if totp:
            secret = rfc6238.generate_secret()
            made.totp_secret, made.device_id = secret, new_id()
            s.add(TotpDevice(
                id=made.device_id, user_id=user.id,
                secret_enc=res.secretbox.encrypt(secret, aad=totp_flows._aad(user.id)),
                secret_lookup=totp_flows._lookup(res, secret), device_name="Phone",
                verified=True, last_used_step=None, last_used_at=None, expires_at=None,
                created_at=now,
            ))
        await s.commit()
        snap = users.snapshot(user)
    if tokens:
        # the client meta a request of h.client carries (ASGITransport's peer address)
        client = ClientMeta(ip="127.0.0.1", user_agent=h.client.headers.get("user-agent"))
        outcome = await start_session(res, snap, client=client, amr=("pwd",),
                                      mfa_satisfied=False)
        made.access_token = outcome.tokens.access_token
        made.refresh_token = outcome.tokens.refresh_token
        made.requires_mfa = outcome.requires_mfa
    return made
