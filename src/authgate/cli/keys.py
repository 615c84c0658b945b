"""``authgate keys generate`` and ``authgate keys list``: the access-token signing keys.

``generate`` makes a key pair for ``jwt.private_key_file`` (and, after a rotation,
``jwt.previous_public_key_files``) with the private half readable by its owner only;
``list`` shows the keys a configuration publishes, with the ``kid`` tokens carry (and
validates them, as ``check-config`` and start-up do). The rotation procedure is in
docs/DEPLOYING.md."""

from __future__ import annotations

import json
import os
from enum import Enum
from pathlib import Path
from typing import Annotated, Any

import typer

from authgate.cli.options import ConfigOpt, settings_from
from authgate.config import Settings

keys_app = typer.Typer(no_args_is_help=True, help="Signing keys of the access tokens (JWKS).")


class Alg(str, Enum):
    ES256 = "ES256"
    EdDSA = "EdDSA"
    RS256 = "RS256"


def _private_key(alg: Alg, rsa_bits: int) -> Any:
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

    if alg is Alg.RS256:
        return rsa.generate_private_key(public_exponent=65537, key_size=rsa_bits)
    if alg is Alg.ES256:
        return ec.generate_private_key(ec.SECP256R1())
    return ed25519.Ed25519PrivateKey.generate()


def _write_new(path: Path, data: bytes, mode: int) -> None:
    """Create ``path`` with ``mode`` from the start (no moment with wider permissions) and
    never over an existing file."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        os.fchmod(fd, mode)  # the umask may have narrowed it; the public half is meant to be read
        os.write(fd, data)
    finally:
        os.close(fd)


@keys_app.command("generate")
def generate(
    alg: Annotated[Alg, typer.Option("--alg", help="Signing algorithm")] = Alg.ES256,
    out: Annotated[Path, typer.Option("--out", help="Directory for the two files "
                                      "(created with mode 0700 if missing)")] = Path("."),
    rsa_bits: Annotated[int, typer.Option(help="RSA modulus size (RS256 only)")] = 3072,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON")] = False,
) -> None:
    """Make a key pair: OUT/jwt-<alg>-<kid>.pem (private, mode 0600) and
    OUT/jwt-<alg>-<kid>.pub.pem (public); print the kid and the settings that use it."""
    from cryptography.hazmat.primitives import serialization

    from authgate.crypto.jwks import VerifyKey

    if alg is Alg.RS256 and not 2048 <= rsa_bits <= 8192:
        typer.echo("authgate: --rsa-bits must be 2048..8192", err=True)
        raise typer.Exit(2)
    try:
        out.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError as exc:
        typer.echo(f"authgate: --out {out}: {exc.strerror or exc}", err=True)
        raise typer.Exit(2) from None
    key = _private_key(alg, rsa_bits)
    public = key.public_key()
    kid = VerifyKey.of(public).kid
    stem = f"jwt-{alg.value.lower()}-{kid[:16]}"
    private_path, public_path = out / f"{stem}.pem", out / f"{stem}.pub.pem"
    private_pem = key.private_bytes(serialization.Encoding.PEM,
                                    serialization.PrivateFormat.PKCS8,
                                    serialization.NoEncryption())
    public_pem = public.public_bytes(serialization.Encoding.PEM,
                                     serialization.PublicFormat.SubjectPublicKeyInfo)
    try:
        _write_new(private_path, private_pem, 0o600)
        try:
            _write_new(public_path, public_pem, 0o644)
        except OSError:
            private_path.unlink()  # nothing half-written
            raise
    except OSError as exc:
        typer.echo(f"authgate: cannot write {exc.filename}: {exc.strerror or exc}", err=True)
        raise typer.Exit(1) from None
    env = {"AUTHGATE_JWT__ALGORITHM": alg.value,
           "AUTHGATE_JWT__PRIVATE_KEY_FILE": str(private_path.resolve())}
    if as_json:
        typer.echo(json.dumps({"kid": kid, "alg": alg.value,
                               "privateKeyFile": str(private_path.resolve()),
                               "publicKeyFile": str(public_path.resolve()), "env": env}))
        return
    typer.echo(f"kid {kid} ({alg.value})")
    typer.echo(f"private key: {private_path} (mode 0600: keep it secret, back it up)")
    typer.echo(f"public key:  {public_path}")
    for name, value in env.items():
        typer.echo(f"{name}={value}")
    typer.echo("# and AUTHGATE_JWT__SECRET: the root of authgate's other keys, which must not "
               "change with the signing key (docs/DEPLOYING.md)")


def published(settings: Settings) -> list[tuple[str, str, str, Path | None]]:
    """(role, kid, alg, file) of every key the JWKS route would publish; ValueError naming
    the setting of a key file that cannot be used."""
    from authgate.resources import signing_material

    _, _, ring = signing_material(settings, b"")
    if ring is None:
        return []
    jwt_s = settings.jwt
    files = {ring.current.kid: jwt_s.public_key_file or jwt_s.private_key_file}
    for path, key in zip(jwt_s.previous_public_key_files, ring.previous, strict=True):
        files.setdefault(key.kid, path)
    return [("current" if k.kid == ring.current.kid else "previous", k.kid, k.alg,
             files.get(k.kid)) for k in ring.by_kid.values()]


def check_keys(settings: Settings) -> list[tuple[str, str, str, Path | None]]:
    """``published``, or exit 2 with the setting named (``check-config``, ``keys list``)."""
    try:
        return published(settings)
    except ValueError as exc:
        typer.echo(f"authgate: invalid setting {exc}", err=True)
        raise typer.Exit(2) from None


@keys_app.command("list")
def list_keys(config: ConfigOpt = None,
              as_json: Annotated[bool, typer.Option("--json", help="Print JSON")] = False
              ) -> None:
    """The keys GET /.well-known/jwks.json publishes (the current one first) and their kid;
    exits 2 when a key file cannot be used."""
    settings = settings_from(config)
    rows = check_keys(settings)
    if as_json:
        typer.echo(json.dumps([{"role": role, "kid": kid, "alg": alg,
                                "file": str(path) if path else None}
                               for role, kid, alg, path in rows]))
        return
    if not rows:
        typer.echo(f"jwt.algorithm {settings.jwt.algorithm}: a shared secret, no public keys "
                   "(GET /.well-known/jwks.json answers 404 JWKS_NOT_AVAILABLE)")
        return
    for role, kid, alg, path in rows:
        typer.echo(f"{role:<9} {kid}  {alg:<6} {path}")
