"""Verify authgate access tokens in another Python service, offline, with authgate's JWKS.

It needs PyJWT with its ``crypto`` extra and the standard library, nothing of the server
(no FastAPI, SQLAlchemy or pydantic): a service installs authgate, or copies this file::

    from authgate.verifier import TokenVerifier

    verifier = TokenVerifier("https://auth.example.com/.well-known/jwks.json",
                             issuer="authgate", audience="authgate")
    claims = verifier.verify(token)   # jwt.InvalidTokenError → 401, JwksUnavailable → 503
    user_id, session_id = claims["sub"], claims["sessionId"]

What it checks: the signature, with the key the token's ``kid`` names (a token without one:
the first key of the set, authgate's current key) and *that key's* algorithm, which must be
one of ``algorithms`` (never the algorithm the token's header asks for, never HS* or
``none``); ``iss``, ``aud``, ``exp`` and ``nbf`` (``leeway`` seconds of skew, default 0),
``iat`` (at most a minute ahead of this host's clock, as authgate allows), and that it is an
access token (``type``, ``sub``, ``sessionId``).

What it cannot see: revocation. A token stays valid here until it expires (at most
``jwt.access_token_expires_in``, 15 minutes by default) after a logout, a password change
or an administrator ending the session; only a service that asks authgate
(``GET /auth/verify-session`` with the token) sees that at once. Verify offline where a
few minutes of a revoked session are acceptable, ask authgate where they are not.

The key set is fetched with PyJWT's ``PyJWKClient`` (http(s) only, no redirects, a
timeout), kept ``cache_seconds``, refetched when a token names a ``kid`` it does not hold —
at most once every ``refetch_interval`` seconds, so tokens with made-up ids cannot make it
flood authgate — and, when authgate cannot be reached, a set fetched less than
``cache_seconds + stale_if_error`` ago stays in use (retried every ``refetch_interval``).
``verify`` blocks while it fetches (at most ``timeout``); thread-safe. In an async service
call it as ``await asyncio.to_thread(verifier.verify, token)``, or directly where an
occasional fetch may block the loop.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable, Iterable
from ssl import SSLContext
from typing import Any

import jwt

__all__ = ["JwksUnavailable", "TokenVerifier", "UnknownKey"]

log = logging.getLogger("authgate.verifier")
ASYMMETRIC = frozenset({"RS256", "ES256", "EdDSA"})
"""The algorithms authgate signs access tokens with when it publishes keys."""
MAX_TOKEN_BYTES = 8192
ISSUED_AT_SKEW = 60
"""Seconds a token's ``iat`` may lie ahead of this host's clock (as authgate allows): a
host whose clock lags authgate's must not refuse tokens in their first seconds."""


class JwksUnavailable(jwt.PyJWKClientConnectionError):
    """The key set could not be fetched (or held no usable key) and no recent copy is held:
    authgate is unreachable or misconfigured, the token may be fine (answer 503, not 401)."""


class UnknownKey(jwt.InvalidTokenError):
    """The token names a key that is not in the key set, even after a refetch."""


class TokenVerifier:
    def __init__(
        self,
        jwks_url: str,
        *,
        issuer: str,
        audience: str,
        algorithms: Iterable[str] = ("RS256", "ES256", "EdDSA"),
        cache_seconds: float = 300,
        refetch_interval: float = 30,
        stale_if_error: float = 3600,
        timeout: float = 5,
        leeway: float = 0,
        headers: dict[str, str] | None = None,
        ssl_context: SSLContext | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """``issuer``/``audience``: authgate's ``jwt.issuer``/``jwt.audience``.
        ``algorithms``: the ones accepted (a subset of RS256, ES256, EdDSA; pin the one your
        authgate uses). ``leeway``: seconds of clock skew allowed on ``exp``/``iat``/``nbf``.
        ``clock``: monotonic seconds, for the cache (tests)."""
        self.algorithms = frozenset(algorithms)
        if not self.algorithms or not self.algorithms <= ASYMMETRIC:
            raise ValueError(f"algorithms must be among {sorted(ASYMMETRIC)}: a JWKS holds "
                             "public keys only")
        for name, value in (("cache_seconds", cache_seconds),
                            ("refetch_interval", refetch_interval),
                            ("stale_if_error", stale_if_error), ("leeway", leeway)):
            if not math.isfinite(value) or value < 0:
                raise ValueError(f"{name} must be a finite number >= 0")
        self.issuer = issuer
        self.audience = audience
        self.cache_seconds = cache_seconds
        self.refetch_interval = refetch_interval
        self.stale_if_error = stale_if_error
        self.leeway = leeway
        self._client = jwt.PyJWKClient(jwks_url, cache_jwk_set=False, timeout=timeout,
                                       headers=dict(headers or {}), ssl_context=ssl_context)
        self._clock = clock
        self._lock = threading.Lock()
        self._keys: dict[str, jwt.PyJWK] = {}
        self._first: jwt.PyJWK | None = None
        self._fetched_at = -math.inf
        self._failed_at = -math.inf
        self._forced_at = -math.inf

    def verify(self, token: str) -> dict[str, Any]:
        """The verified claims of an authgate access token.

        Raises ``jwt.InvalidTokenError`` (a subclass: ``ExpiredSignatureError``,
        ``InvalidAudienceError``, ``InvalidIssuerError``, ``InvalidSignatureError``,
        ``UnknownKey``, …) for a token to refuse, ``JwksUnavailable`` when the keys cannot
        be had."""
        if not isinstance(token, str) or not token or len(token) > MAX_TOKEN_BYTES:
            raise jwt.DecodeError("not a token of a plausible size")
        kid = jwt.get_unverified_header(token).get("kid")
        if kid is not None and not isinstance(kid, str):
            raise jwt.InvalidTokenError("kid is not a string")
        key = self._key(kid)
        claims: dict[str, Any] = jwt.decode(
            token, key.key, algorithms=[key.algorithm_name], audience=self.audience,
            issuer=self.issuer, leeway=self.leeway,
            options={"require": ["exp", "iat", "iss", "aud", "sub", "sessionId", "type"],
                     "verify_iat": False},  # below, with authgate's allowance for skew
        )
        iat = claims["iat"]
        if not isinstance(iat, int) or isinstance(iat, bool):
            raise jwt.InvalidIssuedAtError("iat must be an integer")
        if iat > time.time() + ISSUED_AT_SKEW + self.leeway:
            raise jwt.ImmatureSignatureError("iat is in the future")
        if claims.get("type") != "access" or not isinstance(claims.get("sessionId"), str) \
                or not isinstance(claims.get("sub"), str):
            raise jwt.InvalidTokenError("not an authgate access token")
        return claims

    def _key(self, kid: str | None) -> jwt.PyJWK:
        with self._lock:
            now = self._clock()
            if now - self._fetched_at >= self.cache_seconds:
                self._fetch(now)
            key = self._find(kid)
            if key is None and now - self._forced_at >= self.refetch_interval:
                self._forced_at = now  # a rotation shows up here; made-up ids cost one fetch
                self._fetch(now)
                key = self._find(kid)
        if key is None:
            raise UnknownKey("the token's key is not among authgate's published keys")
        return key

    def _find(self, kid: str | None) -> jwt.PyJWK | None:
        return self._first if kid is None else self._keys.get(kid)

    def _held(self, now: float) -> bool:
        """A set recent enough to keep using while authgate cannot be reached."""
        return bool(self._keys) and now - self._fetched_at < self.cache_seconds + \
            self.stale_if_error

    def _fetch(self, now: float) -> None:
        if now - self._failed_at < self.refetch_interval:  # failed just now: do not hammer
            if self._held(now):
                return
            raise JwksUnavailable("authgate's key set could not be fetched (retrying soon)")
        try:
            fetched = self._client.get_jwk_set()
            keys = [k for k in fetched.keys
                    if k.public_key_use in ("sig", None) and isinstance(k.key_id, str)
                    and k.algorithm_name in self.algorithms]
            if not keys:
                raise jwt.PyJWKSetError("no key for the accepted algorithms")
        except (jwt.PyJWTError, ValueError) as exc:  # ValueError: a body that is not JSON
            self._failed_at = now
            if self._held(now):
                log.warning("authgate's key set could not be fetched (%s); using the copy "
                            "fetched %.0f s ago", type(exc).__name__, now - self._fetched_at)
                return
            raise JwksUnavailable(f"authgate's key set could not be fetched: "
                                  f"{type(exc).__name__}") from exc
        self._keys = {k.key_id: k for k in keys if k.key_id is not None}
        self._first = keys[0]
        self._fetched_at = now
