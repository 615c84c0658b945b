"""``authgate keys generate`` / ``keys list`` and the key-file checks of ``check-config``, run
as real subprocesses."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization

from authgate.cli.keys import _write_new
from authgate.crypto.jwks import VerifyKey, load_public
from tests.signing_keys import key_pair

BIN = Path(sys.executable).with_name("authgate")


def _run(args: list[str], cwd: Path, umask: int = 0o022, **env: str
         ) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("AUTHGATE_")}
    return subprocess.run([str(BIN), *args], cwd=cwd, env={**clean, **env}, umask=umask,
                          capture_output=True, text=True, timeout=60, check=False)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.mark.parametrize("alg", ["ES256", "EdDSA", "RS256"])
def test_generate_writes_a_private_key_only_its_owner_reads(tmp_path: Path, alg: str) -> None:
    out = tmp_path / "keys" / "jwt"
    r = _run(["keys", "generate", "--alg", alg, "--out", str(out), "--json"], tmp_path,
             umask=0)  # a permissive umask changes nothing
    assert r.returncode == 0, r.stderr
    made = json.loads(r.stdout)
    private, public = Path(made["privateKeyFile"]), Path(made["publicKeyFile"])
    assert _mode(out) == 0o700 and _mode(private) == 0o600 and _mode(public) == 0o644
    assert sorted(p.name for p in out.iterdir()) == sorted([private.name, public.name])
    key = serialization.load_pem_private_key(private.read_bytes(), password=None)
    assert VerifyKey.of(key.public_key()).kid == made["kid"]  # type: ignore[arg-type]
    assert VerifyKey.of(load_public(public.read_bytes())).kid == made["kid"]
    assert VerifyKey.of(load_public(public.read_bytes())).alg == alg == made["alg"]
    assert made["env"] == {"AUTHGATE_JWT__ALGORITHM": alg,
                           "AUTHGATE_JWT__PRIVATE_KEY_FILE": str(private)}
    if alg == "RS256":
        assert key.key_size == 3072  # type: ignore[union-attr]
    # the settings it prints start a server that publishes that kid
    listed = _run(["keys", "list", "--json"], tmp_path, **made["env"])
    assert listed.returncode == 0, listed.stderr
    assert json.loads(listed.stdout) == [{"role": "current", "kid": made["kid"], "alg": alg,
                                          "file": str(private)}]


def test_generate_refuses_bad_options(tmp_path: Path) -> None:
    r = _run(["keys", "generate", "--alg", "RS256", "--rsa-bits", "1024"], tmp_path)
    assert r.returncode == 2 and "--rsa-bits" in r.stderr
    r = _run(["keys", "generate", "--alg", "HS256"], tmp_path)
    assert r.returncode == 2 and "HS256" in r.stderr
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    r = _run(["keys", "generate", "--out", str(blocker)], tmp_path)
    assert r.returncode == 2 and "--out" in r.stderr
    assert not list(tmp_path.glob("jwt-*"))


def test_key_files_are_never_overwritten(tmp_path: Path) -> None:
    path = tmp_path / "k.pem"
    path.write_bytes(b"the key in use")
    with pytest.raises(FileExistsError):
        _write_new(path, b"another key", 0o600)
    assert path.read_bytes() == b"the key in use"


def test_list_shows_current_and_previous_keys(tmp_path: Path) -> None:
    new, old = key_pair(tmp_path, "EdDSA", "new"), key_pair(tmp_path, "RS256", "old")
    env = {"AUTHGATE_JWT__ALGORITHM": "EdDSA", "AUTHGATE_JWT__SECRET": "s" * 40,
           "AUTHGATE_JWT__PRIVATE_KEY_FILE": str(new.private_file),
           "AUTHGATE_JWT__PREVIOUS_PUBLIC_KEY_FILES": json.dumps([str(old.public_file)])}
    r = _run(["keys", "list"], tmp_path, **env)
    assert r.returncode == 0, r.stderr
    lines = [line.split() for line in r.stdout.splitlines()]
    assert lines == [["current", new.kid, "EdDSA", str(new.private_file)],
                     ["previous", old.kid, "RS256", str(old.public_file)]]
    r = _run(["keys", "list"], tmp_path, AUTHGATE_JWT__SECRET="s" * 40)
    assert r.returncode == 0 and "JWKS_NOT_AVAILABLE" in r.stdout


def test_unusable_key_files_are_named_by_list_and_check_config(tmp_path: Path) -> None:
    cur = key_pair(tmp_path, "ES256", "cur")
    base = {"AUTHGATE_JWT__ALGORITHM": "ES256", "AUTHGATE_JWT__SECRET": "s" * 40,
            "AUTHGATE_JWT__PRIVATE_KEY_FILE": str(cur.private_file)}
    cases = {
        "jwt.previous_public_key_files": {"AUTHGATE_JWT__PREVIOUS_PUBLIC_KEY_FILES": json.dumps(
            [str(cur.private_file)])},  # a private key where a public one belongs
        "jwt.private_key_file": {"AUTHGATE_JWT__ALGORITHM": "RS256"},
        "jwt.public_key_file": {"AUTHGATE_JWT__PUBLIC_KEY_FILE": str(tmp_path / "none.pem")},
    }
    for setting, env in cases.items():
        for command in (["keys", "list"], ["check-config"]):
            r = _run(command, tmp_path, **{**base, **env})
            assert r.returncode == 2, (command, setting, r.stdout)
            assert f"authgate: invalid setting {setting} " in r.stderr, (command, r.stderr)
    assert _run(["check-config"], tmp_path, **base).returncode == 0
    # serve refuses before it binds, with the same message (not a start-up traceback)
    r = _run(["serve", "--port", "0"], tmp_path,
             **{**base, "AUTHGATE_JWT__ALGORITHM": "EdDSA"})
    assert r.returncode == 2 and r.stderr.startswith(
        "authgate: invalid setting jwt.private_key_file "), r.stderr
