"""Blocked e-mail domains: the five admin operations and the signup check
(``email_auth.disposable``), subdomains included (W21), on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from authgate.events import DISPOSABLE_EMAIL_DETECTED, Event
from authgate.identity import blocked_domains
from tests.admin.api import ADMIN_SETTINGS, Admin, sign_in
from tests.conftest import Harness, MakeHarness
from tests.helpers import assert_error, count_users

BLOCK: dict[str, Any] = {"email_auth": {"disposable": {"enabled": True}}}
PATH = "/blocked-email-domains"


@pytest.fixture
async def h(make_harness: MakeHarness) -> Harness:
    return await make_harness(**ADMIN_SETTINGS, **BLOCK)


@pytest.fixture
async def admin(h: Harness) -> Admin:
    return await sign_in(h)


def test_the_default_list_is_the_packages() -> None:
    from disposable_email_domains import blocklist

    defaults = blocked_domains.default_domains()
    assert len(defaults) > 1000 and "mailinator.com" in defaults
    assert defaults <= {d.lower() for d in blocklist}
    assert "gmail.com" not in defaults


def test_suffixes() -> None:
    assert blocked_domains.suffixes("a.b.example.com") == [
        "a.b.example.com", "b.example.com", "example.com", "com"]
    assert blocked_domains.domain_of("X@Sub.Example.COM.") == "sub.example.com"
    assert blocked_domains.domain_of("no-at-sign") is None


async def test_add_list_search_and_remove(h: Harness, admin: Admin) -> None:
    r = await admin.post(PATH, json={"domains": ["Spam.example", "@junk.test", " spam.example ",
                                                 "junk.test"]})
    assert r.status_code == 201 and r.json() == {"added": 2, "skipped": 0}, r.text
    r = await admin.post(PATH, json={"domains": ["junk.test", "new.test"]})
    assert r.json() == {"added": 1, "skipped": 1}
    r = await admin.get(PATH)
    body = r.json()
    assert [d["domain"] for d in body["data"]] == ["junk.test", "new.test", "spam.example"]
    assert body["total"] == 3 and body["page"] == 1 and body["pageSize"] == 50
    assert set(body["data"][0]) == {"id", "domain", "source", "createdAt"}
    assert body["data"][0]["source"] == "manual"
    r = await admin.get(PATH, params={"search": "TEST", "pageSize": "1", "page": "2"})
    assert [d["domain"] for d in r.json()["data"]] == ["new.test"] and r.json()["total"] == 2
    assert (await admin.get(PATH, params={"search": "%"})).json()["total"] == 0
    assert (await admin.get(PATH, params={"pageSize": "999"})).json()["pageSize"] == 200
    # remove by domain, then by id; an unknown one is not an error
    assert (await admin.delete(f"{PATH}/SPAM.example")).json() == {"message": "Removed"}
    junk_id = body["data"][0]["id"]
    assert (await admin.delete(f"{PATH}/{junk_id}")).status_code == 200
    assert (await admin.delete(f"{PATH}/nothing.here")).json() == {"message": "Removed"}
    assert [d["domain"] for d in (await admin.get(PATH)).json()["data"]] == ["new.test"]
    actions = [e["action"] for e in admin.actions()]
    assert actions.count("blocked_domain.add") == 2 and actions.count(
        "blocked_domain.remove") == 3


async def test_add_validation(h: Harness, admin: Admin) -> None:
    assert_error(await admin.post(PATH, json={"domains": []}), 400, "INVALID_INPUT")
    assert_error(await admin.post(PATH, json={}), 400, "INVALID_INPUT")
    assert_error(await admin.post(PATH, json={"domains": "x.test"}), 400, "INVALID_INPUT")
    assert_error(await admin.post(PATH, json={"domains": [1]}), 400, "INVALID_INPUT")
    assert_error(await admin.post(PATH, json={"domains": ["a" * 254]}), 400, "INVALID_INPUT")
    assert_error(await admin.post(PATH, json={"domains": ["x.test"] * 1001}), 400,
                 "INVALID_INPUT")
    assert (await admin.post(PATH, json={"domains": ["", "@"]})).json() == {"added": 0,
                                                                           "skipped": 0}


async def test_stats_and_import_defaults(h: Harness, admin: Admin) -> None:
    default_count = len(blocked_domains.default_domains())
    assert (await admin.get(f"{PATH}/stats")).json() == {"count": 0,
                                                        "defaultCount": default_count}
    await admin.post(PATH, json={"domains": ["mailinator.com", "mine.test"]})
    r = await admin.post(f"{PATH}/import-defaults")
    assert r.status_code == 201, r.text
    assert r.json() == {"imported": default_count - 1, "total": default_count + 1}
    r = await admin.post(f"{PATH}/import-defaults")
    assert r.json() == {"imported": 0, "total": default_count + 1}
    assert (await admin.get(f"{PATH}/stats")).json()["count"] == default_count + 1
    r = await admin.get(PATH, params={"search": "mailinator.com"})
    [row] = [d for d in r.json()["data"] if d["domain"] == "mailinator.com"]
    assert row["source"] == "manual"  # an imported default does not replace a manual entry


async def test_concurrent_adds_of_one_domain(h: Harness, admin: Admin) -> None:
    results = await asyncio.gather(*(admin.post(PATH, json={"domains": ["race.test"]})
                                     for _ in range(4)))
    assert all(r.status_code == 201 for r in results), [r.text for r in results]
    assert sum(r.json()["added"] for r in results) == 1
    assert (await admin.get(f"{PATH}/stats")).json()["count"] == 1


async def test_every_route_needs_an_admin(h: Harness) -> None:
    for method, path in (("GET", PATH), ("POST", PATH), ("GET", f"{PATH}/stats"),
                         ("POST", f"{PATH}/import-defaults"), ("DELETE", f"{PATH}/x.test")):
        r = await h.client.request(method, "/auth/admin/api" + path,
                                   json={"domains": ["x.test"]} if method == "POST" else None)
        assert r.status_code == 401, (method, path)
    assert await blocked_domains.count(h.res) == 0


# the signup check -------------------------------------------------------------------------------
async def test_signup_with_a_blocked_domain_or_subdomain(h: Harness, admin: Admin) -> None:
    await admin.post(PATH, json={"domains": ["corp-spam.test"]})
    for email in ("a@corp-spam.test", "b@mail.corp-spam.test", "c@x.y.CORP-SPAM.test"):
        assert_error(await h.signup(email), 403, "EMAIL_DOMAIN_NOT_ALLOWED",
                     "This email domain is not allowed for sign-up")
    assert await count_users(h.res) == 0
    # a domain that merely ends with the same letters is not a subdomain
    assert (await h.signup("d@notcorp-spam.test")).status_code == 200
    # unblocking takes effect at once
    await admin.delete(f"{PATH}/corp-spam.test")
    assert (await h.signup("a@corp-spam.test")).status_code == 200


async def test_the_shipped_list_blocks_without_an_import(h: Harness) -> None:
    assert_error(await h.signup("x@mailinator.com"), 403, "EMAIL_DOMAIN_NOT_ALLOWED")
    assert_error(await h.signup("x@eu.mailinator.com"), 403, "EMAIL_DOMAIN_NOT_ALLOWED")
    assert (await h.signup("x@example.com")).status_code == 200


async def test_without_the_default_list_only_the_table_blocks(
        make_harness: MakeHarness) -> None:
    h = await make_harness(**ADMIN_SETTINGS, email_auth={"disposable": {
        "enabled": True, "use_default_list": False}})
    assert (await h.signup("x@mailinator.com")).status_code == 200
    admin = await sign_in(h)
    await admin.post(f"{PATH}/import-defaults")
    assert_error(await h.signup("y@mailinator.com"), 403, "EMAIL_DOMAIN_NOT_ALLOWED")


async def test_allowlist_wins(make_harness: MakeHarness) -> None:
    h = await make_harness(email_auth={"disposable": {"enabled": True,
                                                      "allowlist": ["Mailinator.com"]}})
    assert (await h.signup("x@mailinator.com")).status_code == 200
    assert (await h.signup("x@sub.mailinator.com")).status_code == 200
    assert_error(await h.signup("x@guerrillamail.com"), 403, "EMAIL_DOMAIN_NOT_ALLOWED")


async def test_flag_mode_lets_the_signup_through(make_harness: MakeHarness) -> None:
    h = await make_harness(email_auth={"disposable": {"enabled": True, "mode": "flag"}})
    seen: list[Event] = []

    async def _keep(ev: Event) -> None:
        seen.append(ev)

    h.res.events.subscribe(DISPOSABLE_EMAIL_DETECTED, _keep)
    assert (await h.signup("x@mailinator.com")).status_code == 200
    assert [e.data for e in seen] == [{"email": "x@mailinator.com", "domain": "mailinator.com"}]
    assert (await h.signup("y@example.com")).status_code == 200
    assert len(seen) == 1


async def test_off_by_default(make_harness: MakeHarness) -> None:
    h = await make_harness()
    assert (await h.signup("x@mailinator.com")).status_code == 200


async def test_passwordless_sign_up_with_a_blocked_domain_creates_nothing(
        make_harness: MakeHarness) -> None:
    from authgate import background

    h = await make_harness(**BLOCK, passwordless={"enabled": True, "allow_sign_up": True})
    for email in ("x@mailinator.com", "ok@example.com"):
        r = await h.client.post("/auth/passwordless/send", json={"identifier": email, "channel": "email"})
        assert r.status_code == 200, r.text
    await background.drain(h.res)
    assert await count_users(h.res, "x@mailinator.com") == 0
    assert await count_users(h.res, "ok@example.com") == 1
