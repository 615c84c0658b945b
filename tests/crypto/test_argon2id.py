"""Which argon2id implementation computes a hash, and that every hash verifies everywhere."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from argon2 import PasswordHasher as Argon2Cffi
from argon2 import Type
from nacl import pwhash

from authgate.crypto import argon2id
from authgate.crypto.passwords import PasswordHasher

PASSWORD = "correct horse battery staple"
# Made by nest-auth 2.11.1's hasher (@node-rs/argon2, the options nest-auth passes:
# memoryCost 65536, timeCost 3, parallelism 4) for PASSWORD.
NEST_AUTH_HASH = ("$argon2id$v=19$m=65536,t=3,p=4$v2Ys6q1hGcWhoqavb26aew"
                  "$mSqqzJ2NbMGBd788sGsi9Fx9mJKTl+RuSY7J8/rWCOs")
# @node-rs/argon2's own defaults (m=19456, t=2, p=1): a single-lane hash libsodium verifies.
NODE_RS_P1_HASH = ("$argon2id$v=19$m=19456,t=2,p=1$MEO10PdqsnZc3NUfA7GWBA"
                   "$Ju6eVCuAcFic4oRcgH+MG7P2fk7WxNewCSO8erLLVzY")
CHEAP_P1 = (1, 8, 1)
CHEAP_P2 = (1, 16, 2)
PEER = Path(os.environ.get("AUTHGATE_NEST_AUTH_PEER", "/work/shared/peers/nest-auth-2.11.1"))


def test_single_lane_hashes_go_to_libsodium_and_the_rest_to_argon2_cffi() -> None:
    assert argon2id.implementation((3, 65536, 1)) == "libsodium"
    assert argon2id.implementation((3, 65536, 4)) == "argon2-cffi"
    # libsodium verifies every lane count (one thread, lane after lane)
    assert argon2id.verifier((3, 65536, 1)) == argon2id.verifier((3, 65536, 4)) == "libsodium"
    assert argon2id.verifier((1, 16, 4)) == "argon2-cffi"  # < 8 KiB per lane: not argon2
    assert argon2id.verifier((1, 65536, 65)) == "argon2-cffi"
    one_lane = argon2id.hash_password(CHEAP_P1, PASSWORD)
    assert one_lane.startswith("$argon2id$v=19$m=8,t=1,p=1$")
    assert argon2id.hash_password(CHEAP_P2, PASSWORD).startswith("$argon2id$v=19$m=16,t=1,p=2$")


def test_libsodium_hashes_verify_in_argon2_cffi_and_back() -> None:
    ours = argon2id.hash_password(CHEAP_P1, PASSWORD)
    assert Argon2Cffi(time_cost=1, memory_cost=8, parallelism=1, type=Type.ID).verify(ours, PASSWORD)
    theirs = Argon2Cffi(time_cost=1, memory_cost=8, parallelism=1, type=Type.ID).hash(PASSWORD)
    assert argon2id._sodium_verifies(theirs)
    assert pwhash.verify(theirs.encode(), PASSWORD.encode())
    assert argon2id.verify_password(CHEAP_P1, theirs, PASSWORD)
    assert not argon2id.verify_password(CHEAP_P1, theirs, PASSWORD + "!")
    assert not argon2id.verify_password(CHEAP_P1, ours, "Correct horse battery staple")


@pytest.mark.parametrize("params", [CHEAP_P2, (1, 32, 4), (2, 64, 8)])
def test_multi_lane_hashes_made_by_argon2_cffi_verify_in_libsodium(
        params: tuple[int, int, int]) -> None:
    t, m, p = params
    cffi = Argon2Cffi(time_cost=t, memory_cost=m, parallelism=p, type=Type.ID)
    for password in (PASSWORD, "", "é" * 40, "x" * 300):
        stored = cffi.hash(password)
        assert argon2id._sodium_verifies(stored)
        assert pwhash.verify(stored.encode(), password.encode())  # libsodium itself
        assert argon2id.verify_password(params, stored, password)
        assert not argon2id.verify_password(params, stored, password + "!")
        # the same hash with one lane more or less is another hash: never accepted
        other = stored.replace(f",p={p}$", f",p={p + 1}$")
        assert not argon2id.verify_password(params, other, password)
        # and ours (argon2-cffi for p>1) verifies in argon2-cffi
        assert cffi.verify(argon2id.hash_password(params, password), password)


def test_nest_auths_p4_hash_is_verified_by_libsodium() -> None:
    assert argon2id._sodium_verifies(NEST_AUTH_HASH)
    assert pwhash.verify(NEST_AUTH_HASH.encode(), PASSWORD.encode())
    assert argon2id.verify_password((3, 65536, 4), NEST_AUTH_HASH, PASSWORD)
    assert not argon2id.verify_password((3, 65536, 4), NEST_AUTH_HASH, PASSWORD[:-1])


@pytest.mark.parametrize("stored", [NEST_AUTH_HASH, NODE_RS_P1_HASH])
def test_hashes_made_by_nest_auth_verify_and_are_upgraded(stored: str) -> None:
    hasher = PasswordHasher(time_cost=1, memory_cost_kib=8, parallelism=1)
    try:
        assert hasher.verify_sync(stored, PASSWORD)
        assert not hasher.verify_sync(stored, "wrong")
        assert hasher.needs_rehash(stored)
        assert not hasher.needs_rehash(hasher.hash_sync(PASSWORD))
    finally:
        hasher.close()


@pytest.mark.parametrize("stored", [
    "", "plaintext", "$argon2id$v=19$m=8,t=1,p=1$short$short",
    "$argon2i$v=19$m=8,t=1,p=1$c2FsdHNhbHRzYWx0c2FsdA$" + "A" * 43,
    "$argon2id$v=19$m=99999999999,t=1,p=1$c2FsdHNhbHRzYWx0c2FsdA$" + "A" * 43,
    "$argon2id$v=19$m=4,t=1,p=1$c2FsdHNhbHRzYWx0c2FsdA$" + "A" * 43,
])
def test_a_malformed_or_foreign_hash_is_a_mismatch_never_an_error(stored: str) -> None:
    assert argon2id.verify_password(CHEAP_P1, stored, PASSWORD) is False
    assert argon2id.needs_rehash(CHEAP_P1, stored) is True


async def test_the_async_path_uses_the_same_implementations() -> None:
    hasher = PasswordHasher(time_cost=1, memory_cost_kib=8, parallelism=1)
    try:
        stored = await hasher.hash(PASSWORD)
        assert argon2id._sodium_verifies(stored)
        assert await hasher.verify(stored, PASSWORD)
        assert await hasher.verify(NEST_AUTH_HASH, PASSWORD)
        assert not await hasher.verify(None, PASSWORD)
    finally:
        hasher.close()


@pytest.mark.skipif(shutil.which("node") is None
                    or not (PEER / "node_modules/@node-rs/argon2").is_dir(),
                    reason="nest-auth's hasher is installed by ../shared/peers/nest-auth-2.11.1/start.sh")
def test_our_hashes_verify_in_nest_auths_hasher() -> None:
    hashes = [argon2id.hash_password(CHEAP_P1, PASSWORD), argon2id.hash_password(CHEAP_P2, PASSWORD)]
    script = ("const a=require('@node-rs/argon2');"
              "Promise.all(JSON.parse(process.argv[1]).map(h=>a.verify(h,process.argv[2])))"
              ".then(r=>console.log(JSON.stringify(r)))")
    out = subprocess.run(["node", "-e", script, json.dumps(hashes), PASSWORD], cwd=PEER,
                         capture_output=True, text=True, timeout=60, check=True)
    assert json.loads(out.stdout) == [True, True]


@pytest.mark.parametrize("params", [CHEAP_P1, CHEAP_P2, (3, 65536, 4)])
def test_the_decoy_is_a_well_formed_hash_of_no_password(params: tuple[int, int, int]) -> None:
    decoy = argon2id.decoy(params)
    made = argon2id.hash_password(params[:2] + (params[2],), PASSWORD) if params[1] < 1024 else None
    assert decoy != argon2id.decoy(params)  # random every time
    assert not argon2id.needs_rehash(params, decoy)  # the configured cost: a real verification
    assert argon2id._sodium_verifies(decoy)  # verified like a real hash of that cost
    if made is not None:
        assert len(decoy) == len(made) and decoy.split("$")[:4] == made.split("$")[:4]
        assert not argon2id.verify_password(params, decoy, PASSWORD)
