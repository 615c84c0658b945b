"""How passwords are read and stored (issue #19 items 11-14; ASVS 2.1.1, 2.1.4, 2.4.5, 2.7.2):
Unicode NFKC before the policy, hashing and verification (old raw hashes verified and
upgraded), 12 characters by default, an optional rotatable pepper, reset codes that live
10 minutes. Over HTTP on both databases."""

from __future__ import annotations

import base64
import unicodedata
from datetime import timedelta
from pathlib import Path

import pytest
from argon2 import PasswordHasher as Argon2
from pydantic import ValidationError

from authgate import background
from authgate.config import PasswordHashSettings
from authgate.crypto.passwords import PasswordHasher, parse_peppers
from tests.conftest import CHEAP_HASH, Harness, MakeHarness, base_settings, bearer
from tests.helpers import assert_error, set_user, stored_user, user_id_of
from tests.servers import SmtpSink

NFC = unicodedata.normalize("NFC", "Crème-brûlée à Zürich 7")
NFD = unicodedata.normalize("NFD", NFC)
FULLWIDTH = "Ｃｏｒｒｅｃｔ　Ｈｏｒｓｅ　４２"  # NFKC: "Correct Horse 42"
P1 = "p1:" + base64.b64encode(b"1" * 32).decode()
P2 = "p2:" + base64.b64encode(b"2" * 32).decode()


def _login_body(email: str, password: str) -> dict[str, object]:
    return {"providerName": "email", "credentials": {"email": email, "password": password}}


async def _hash_of(h: Harness, email: str = "alice@example.com") -> str:
    user = await stored_user(h.res, await user_id_of(h.res, email))
    assert user.password_hash is not None
    return user.password_hash


# 2.1.4: one password however it is typed ----------------------------------------------------
async def test_nfc_and_nfd_forms_are_one_password(h: Harness) -> None:
    assert NFC != NFD
    assert (await h.signup(password=NFC)).status_code == 200
    assert (await h.login(password=NFD)).status_code == 200
    assert (await h.login(password=NFC)).status_code == 200
    assert (await h.signup("bob@example.com", password=NFD)).status_code == 200
    assert (await h.login("bob@example.com", password=NFC)).status_code == 200
    assert (await h.signup("carol@example.com", password=FULLWIDTH)).status_code == 200
    assert (await h.login("carol@example.com", password="Correct Horse 42")).status_code == 200
    # a different password is still different
    assert_error(await h.login(password=NFC.replace("7", "8")), 401, "INVALID_CREDENTIALS")


async def test_a_hash_from_before_normalisation_verifies_and_is_upgraded(h: Harness) -> None:
    """A hash made of the raw (NFD) string, as stored before this change: the owner's raw
    input still logs in; the hash is then replaced by the NFKC one, so the other forms work."""
    u = await h.make_user(password="placeholder password 1")
    legacy = Argon2(time_cost=1, memory_cost=8, parallelism=1).hash(NFD)
    await set_user(h.res, u.id, password_hash=legacy)
    assert_error(await h.login(password=NFC), 401, "INVALID_CREDENTIALS")  # never NFC-hashed
    assert (await h.login(password=NFD)).status_code == 200
    upgraded = await _hash_of(h)
    assert upgraded != legacy
    assert Argon2().verify(upgraded, unicodedata.normalize("NFKC", NFD))
    assert (await h.login(password=NFC)).status_code == 200
    assert (await h.login(password=NFD)).status_code == 200
    assert await _hash_of(h) == upgraded  # upgraded once, not at every login


async def test_policy_reads_the_normalised_password(h: Harness) -> None:
    # 12 full-width characters are 12 after NFKC; "ﬀ" ligatures expand (6 -> 12 characters)
    assert (await h.signup(password="ﬀﬀﬀﬀﬀﬀ")).status_code == 400
    r = await h.signup(password="ﬀﬀﬀﬀﬀﬀ")
    assert r.json()["code"] != "PASSWORD_TOO_SHORT"  # counted as the 12 letters it stands for


async def test_change_password_to_the_same_password_typed_otherwise(h: Harness) -> None:
    token = await h.session_token(password=NFC)
    r = await h.client.post("/auth/change-password", headers=bearer(token),
                            json={"currentPassword": NFD, "newPassword": NFD})
    assert_error(r, 400, "NEW_PASSWORD_SAME_AS_CURRENT")
    r = await h.client.post("/auth/change-password", headers=bearer(token),
                            json={"currentPassword": NFD, "newPassword": NFC})
    assert_error(r, 400, "NEW_PASSWORD_SAME_AS_CURRENT")


# 2.1.2, 2.1.3, 2.4.2: long passphrases whole, a salt per hash ------------------------------
async def test_long_passphrases_are_accepted_and_never_truncated(h: Harness) -> None:
    long = "correct horse battery staple " * 4 + "tail 9"  # 122 characters
    assert (await h.signup(password=long)).status_code == 200
    assert (await h.login(password=long)).status_code == 200
    for cut in (72, 64, len(long) - 1):  # bcrypt-style truncation would accept these
        assert_error(await h.login(password=long[:cut]), 401, "INVALID_CREDENTIALS")
    assert_error(await h.signup("bob@example.com", password="x" + long + "x" * 6), 400,
                 "PASSWORD_TOO_LONG")  # 129: the cap is 128


async def test_every_hash_has_its_own_salt(h: Harness) -> None:
    one, two = await h.res.hasher.hash(NFC), await h.res.hasher.hash(NFC)
    assert one != two
    salts = {s.split("$")[4] for s in (one, two)}  # $argon2id$v=19$m=..,t=..,p=..$salt$hash
    assert len(salts) == 2
    assert all(len(base64.b64decode(s + "==")) >= 16 for s in salts)  # 128 bits


# 2.1.1: 12 characters by default ------------------------------------------------------------
async def test_minimum_length_is_12_by_default(h: Harness) -> None:
    assert_error(await h.signup(password="Qz7-wombat!"), 400, "PASSWORD_TOO_SHORT",  # 11
                 "Password must be at least 12 characters")
    assert (await h.signup(password="Qz7-wombat!x")).status_code == 200                # 12


async def test_minimum_length_8_stays_possible(make_harness: MakeHarness) -> None:
    h = await make_harness(password={"min_length": 8})
    assert (await h.signup(password="Qz7-wmb!")).status_code == 200


# 2.4.5: an optional, rotatable pepper -------------------------------------------------------
async def test_peppered_hashes_name_their_pepper_and_need_it(make_harness: MakeHarness) -> None:
    h = await make_harness(password_hash={"pepper_keys": [P1]})
    assert (await h.signup()).status_code == 200
    stored = await _hash_of(h)
    assert stored.startswith("pepper:p1:$argon2id$")
    digest = stored.removeprefix("pepper:p1:")
    with pytest.raises(Exception):  # the database alone does not verify the password  # noqa: B017
        Argon2().verify(digest, "correct horse battery")
    assert (await h.login()).status_code == 200
    # the same database read by an app without the pepper: no password verifies
    plain = await make_harness()
    assert_error(await plain.login(), 401, "INVALID_CREDENTIALS")


async def test_pepper_rotation_upgrades_hashes_at_login(make_harness: MakeHarness) -> None:
    plain = await make_harness()
    assert (await plain.signup()).status_code == 200
    unpeppered = await _hash_of(plain)
    assert unpeppered.startswith("$argon2id$")
    one = await make_harness(password_hash={"pepper_keys": [P1]})
    assert (await one.login()).status_code == 200  # the unpeppered hash still verifies...
    assert (await _hash_of(one)).startswith("pepper:p1:")  # ...and moves to the pepper
    two = await make_harness(password_hash={"pepper_keys": [P2, P1]})
    assert (await two.login()).status_code == 200
    assert (await _hash_of(two)).startswith("pepper:p2:")  # rotated to the first key
    only_two = await make_harness(password_hash={"pepper_keys": [P2]})
    assert (await only_two.login()).status_code == 200
    assert_error(await only_two.login(password="incorrect horse battery"), 401,
                 "INVALID_CREDENTIALS")
    # a hash under a pepper no longer configured verifies nothing (a reset is needed)
    gone = await make_harness(password_hash={"pepper_keys": [P1]})
    assert_error(await gone.login(), 401, "INVALID_CREDENTIALS")


async def test_pepper_from_a_key_file(make_harness: MakeHarness, tmp_path: Path) -> None:
    keyfile = tmp_path / "pepper"
    keyfile.write_text(f"# rotated 2026-12\n\n{P2}\n{P1}\n", encoding="utf-8")
    h = await make_harness(password_hash={"pepper_file": str(keyfile)})
    assert (await h.signup()).status_code == 200
    assert (await _hash_of(h)).startswith("pepper:p2:")
    assert (await h.login()).status_code == 200


@pytest.mark.parametrize("entry", ["p1", "p1:", "p1:not base64!", "p1:" + base64.b64encode(
    b"short").decode(), "bad kid!:" + P1[3:], "x" * 17 + ":" + P1[3:]])
def test_malformed_pepper_is_refused_without_echoing_it(entry: str) -> None:
    with pytest.raises(ValidationError) as err:
        PasswordHashSettings(pepper_keys=(entry,))  # type: ignore[arg-type]
    assert "pepper key #1" in str(err.value)
    assert entry not in str(err.value)
    with pytest.raises(ValidationError) as err:  # nested in the settings, from the env
        base_settings("sqlite+aiosqlite:////tmp/unused.db", password_hash={"pepper_keys": [entry]})
    assert "pepper key #1" in str(err.value) and entry not in str(err.value)


def test_duplicate_pepper_ids_are_refused() -> None:
    with pytest.raises(ValueError, match="listed twice"):
        parse_peppers([P1, P1])


async def test_hasher_pepper_and_fallback_units() -> None:
    (pepper,) = parse_peppers([P1])
    assert "1111" not in repr(pepper) and P1[3:] not in repr(pepper)
    hasher = PasswordHasher(**CHEAP_HASH, workers=1, peppers=(pepper,))
    try:
        stored = await hasher.hash(NFD)
        assert (await hasher.check(stored, NFC)).ok
        assert (await hasher.check(stored, NFD)) == (await hasher.check(stored, NFC))
        assert not (await hasher.check(stored, NFC)).rehash
        assert hasher.verify_sync(stored, NFD) and not hasher.verify_sync(stored, "x")
        assert not (await hasher.check(None, NFC)).ok
        assert not (await hasher.check("pepper:zz:" + stored.split(":", 2)[2], NFC)).ok
    finally:
        hasher.close()


def test_pepper_settings_reach_the_hasher() -> None:
    s = base_settings("sqlite+aiosqlite:////tmp/unused.db", password_hash={"pepper_keys": [P2, P1]})
    assert [p.kid for p in s.password_hash.peppers()] == ["p2", "p1"]


# 2.7.2: reset codes live 10 minutes ---------------------------------------------------------
async def test_reset_codes_live_10_minutes_by_default(make_harness: MakeHarness,
                                                      smtp_sink: SmtpSink) -> None:
    h = await make_harness(delivery={"smtp": smtp_sink.settings()},
                           rate_limit={"enabled": False})
    assert h.settings.password.reset_code_expires_in == timedelta(minutes=10)
    await h.make_user(verified=True)

    async def mailed() -> str:
        r = await h.client.post("/auth/forgot-password", json={"email": "alice@example.com"})
        assert r.status_code == 200
        await background.drain(h.res)
        return smtp_sink.last_code("alice@example.com")

    code = await mailed()
    assert "10 minutes" in smtp_sink.to("alice@example.com")[-1].text
    h.clock.advance(timedelta(minutes=10) - timedelta(milliseconds=1))
    r = await h.client.post("/auth/verify-forgot-password-otp",
                            json={"email": "alice@example.com", "code": code})
    assert r.status_code == 200, r.text
    code = await mailed()
    h.clock.advance(timedelta(minutes=10))
    r = await h.client.post("/auth/verify-forgot-password-otp",
                            json={"email": "alice@example.com", "code": code})
    assert_error(r, 400, "VERIFICATION_CODE_EXPIRED")
