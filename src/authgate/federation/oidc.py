"""OpenID Connect: issuer discovery, the issuer's signing keys (cached, refreshed on
rotation) and ID-token verification with ``joserfc`` (Authlib's JOSE library): the
signature by a JWKS key under a pinned algorithm, ``iss``, ``aud`` (and ``azp``), ``exp``,
``nbf``/``iat``, and ``nonce``; a token carrying a nonce is accepted once."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from authgate.config import OidcProviderSettings
from authgate.errors import AuthError, Code
from authgate.federation import outbound
from authgate.federation.profile import Profile, text
from authgate.resources import Resources

if TYPE_CHECKING:
    from joserfc.jwk import KeySet

MAX_TOKEN = 16 * 1024
LEEWAY = 60
"""Seconds of clock skew tolerated on ``exp``/``nbf``/``iat``."""
NONCE_SCOPE = "oidc-nonce"


@dataclass
class _Cached:
    value: Any
    fetched_at: datetime


def _fresh(res: Resources, key: str) -> _Cached | None:
    entry = res.provider_cache.get(key)
    if entry is None or res.clock.now() - entry.fetched_at > res.settings.social.jwks_cache_ttl:
        return None
    assert isinstance(entry, _Cached)
    return entry


async def discovery(res: Resources, name: str, cfg: OidcProviderSettings) -> dict[str, Any]:
    """The issuer's ``.well-known/openid-configuration`` (cached ``social.jwks_cache_ttl``).
    Its ``issuer`` must be the configured one (OpenID Connect Discovery §4.3)."""
    key = "discovery:" + cfg.issuer
    cached = _fresh(res, key)
    if cached is not None:
        return dict(cached.value)
    url = cfg.issuer.rstrip("/") + "/.well-known/openid-configuration"
    status, doc = await outbound.call(res, "GET", url, provider=name)
    if (status != 200 or not isinstance(doc, dict) or doc.get("issuer") != cfg.issuer
            or not text(doc.get("jwks_uri"), 2048)):
        raise AuthError(Code.OAUTH_PROVIDER_ERROR,
                        "The sign-in provider's discovery document is not valid")
    res.provider_cache[key] = _Cached(doc, res.clock.now())
    return doc


async def _keys(res: Resources, name: str, url: str, *, refresh: bool) -> KeySet | None:
    """The JWKS at ``url``; ``refresh``: refetch unless fetched within
    ``social.jwks_refresh_interval`` (then None: nothing new to try)."""
    from joserfc.errors import JoseError
    from joserfc.jwk import KeySet

    key = "jwks:" + url
    entry = res.provider_cache.get(key)
    now = res.clock.now()
    if entry is not None:
        age = now - entry.fetched_at
        if not refresh and age <= res.settings.social.jwks_cache_ttl:
            return entry.value  # type: ignore[no-any-return]
        if refresh and age < res.settings.social.jwks_refresh_interval:
            return None
    status, doc = await outbound.call(res, "GET", url, provider=name)
    if status != 200 or not isinstance(doc, dict) or not isinstance(doc.get("keys"), list):
        raise AuthError(Code.OAUTH_PROVIDER_ERROR, "The sign-in provider's keys are not valid")
    usable = [k for k in doc["keys"] if isinstance(k, dict) and k.get("use", "sig") == "sig"
              and k.get("kty") in ("RSA", "EC", "OKP")]  # never a symmetric key
    try:
        keys = KeySet.import_key_set({"keys": usable})
    except (JoseError, ValueError, TypeError):
        raise AuthError(Code.OAUTH_PROVIDER_ERROR,
                        "The sign-in provider's keys are not valid") from None
    res.provider_cache[key] = _Cached(keys, now)
    return keys


def _invalid(why: str) -> AuthError:
    return AuthError(Code.OAUTH_PROVIDER_ERROR, f"Invalid ID token: {why}")


async def verify_id_token(res: Resources, name: str, cfg: OidcProviderSettings, token: str,
                          *, nonce: str | None) -> Profile:
    """The profile in a valid ID token of provider ``name``, or OAUTH_PROVIDER_ERROR (401);
    OAUTH_PROVIDER_UNAVAILABLE (503) when its keys cannot be fetched.

    An unknown ``kid`` refetches the keys once (rotation), then refuses. ``nonce`` (the
    client's, or the code flow's) must equal the token's; a token with a nonce is accepted
    once (a replay within its lifetime is refused).
    """
    from joserfc import jwt
    from joserfc.errors import InvalidKeyIdError, JoseError

    if len(token) > MAX_TOKEN or token.count(".") != 2:
        raise _invalid("not a signed JWT")
    doc = await discovery(res, name, cfg)
    jwks_uri = doc["jwks_uri"]
    algorithms = list(cfg.algorithms)
    keys = await _keys(res, name, jwks_uri, refresh=False)
    assert keys is not None
    try:
        try:
            decoded = jwt.decode(token, keys, algorithms=algorithms)
        except InvalidKeyIdError:
            keys = await _keys(res, name, jwks_uri, refresh=True)
            if keys is None:
                raise
            decoded = jwt.decode(token, keys, algorithms=algorithms)
    except InvalidKeyIdError:
        raise _invalid("signed by an unknown key") from None
    except (JoseError, ValueError, TypeError):
        raise _invalid("bad signature or format") from None
    claims = decoded.claims
    now = int(res.clock.now().timestamp())
    issuers = [doc["issuer"], *cfg.extra_issuers]
    audiences = [cfg.client_id, *cfg.extra_audiences]
    registry = jwt.JWTClaimsRegistry(
        now=now, leeway=LEEWAY,
        iss={"essential": True, "values": issuers},
        aud={"essential": True, "values": audiences},
        sub={"essential": True},
        exp={"essential": True},
        iat={"essential": True},
    )
    try:
        registry.validate(claims)
    except JoseError as exc:
        raise _invalid(getattr(exc, "claim", None) or "claims") from None
    aud = claims["aud"]
    if isinstance(aud, list) and len(aud) > 1 and claims.get("azp") not in audiences:
        raise _invalid("azp")  # OIDC Core 3.1.3.7: several audiences need our azp
    token_nonce = claims.get("nonce")
    if nonce is not None:
        from authgate.crypto.keys import equal

        if not isinstance(token_nonce, str) or not equal(token_nonce, nonce):
            raise _invalid("nonce")
    if isinstance(token_nonce, str):
        await _spend_nonce(res, doc["issuer"], token_nonce, claims["exp"], now)
    subject = text(claims["sub"], 255)
    if subject is None:
        raise _invalid("sub")
    email = text(claims.get("email"))
    verified = claims.get("email_verified") in (True, "true")  # Apple sends a string
    return Profile(
        provider=name, subject=subject,
        email=email.strip().lower() if email else None,
        email_verified=bool(email) and verified and cfg.trust_email_verified,
        details={k: v for k, v in (("name", text(claims.get("name"))),
                                   ("givenName", text(claims.get("given_name"))),
                                   ("familyName", text(claims.get("family_name"))),
                                   ("picture", text(claims.get("picture"), 2048)))
                 if v is not None},
    )


async def _spend_nonce(res: Resources, issuer: str, nonce: str, exp: Any, now: int) -> None:
    """Count the token's nonce; the second time within the token's lifetime is a replay."""
    from authgate.throttling import attempts

    left = max(int(exp) - now + LEEWAY, 1) if isinstance(exp, int | float) else 3600
    subject = hashlib.sha256(f"{issuer}\x00{nonce}".encode()).hexdigest()
    seen = await attempts.count(res, NONCE_SCOPE, subject, window=timedelta(seconds=left))
    if seen.count > 1:
        raise _invalid("already used (replayed nonce)")
