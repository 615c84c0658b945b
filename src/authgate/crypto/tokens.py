"""JWT access and refresh tokens with pinned algorithms, issuer and audience.

Access tokens are signed with the configured secret (HS*) or private key (RS256, ES256,
EdDSA) so host services can verify them the way nest-auth clients expect; with a key the
header names it (``kid``, ``crypto/jwks.py``) and verification picks the key by it, so old
keys keep verifying through a rotation. Refresh tokens
are always HS256 with a key derived for that purpose only: they are verified by authgate
alone, and no access-token key can produce one. Their ``jti`` is derived from the session id
and rotation generation, so a retried refresh inside the grace window can be answered with
the very same successor token without storing any token.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import jwt

from authgate.crypto.keys import derive, equal
from authgate.errors import AuthError, Code

if TYPE_CHECKING:
    from authgate.crypto.jwks import KeyRing

MAX_TOKEN_BYTES = 8192
VERIFIED_CACHE_SIZE = 2048
"""Access tokens remembered as verified, per codec (an entry is about 1.5 KB)."""
SKEW_SECONDS = 60
# PyJWT checks exp/iat/nbf against the wall clock, so those checks are switched off in every
# decode below (verify_exp/iat/nbf False) and done here against the injected Clock instead: a
# clock that runs ahead (tests, a skewed host) never makes a just-minted token "not yet valid".


def _times_ok(claims: dict[str, Any], ts: float) -> bool:
    """iat (and nbf, if present) are integers and not beyond the allowed skew."""
    iat, nbf = claims.get("iat"), claims.get("nbf", 0)
    if not isinstance(iat, int) or isinstance(iat, bool) or not isinstance(nbf, int):
        return False
    return iat <= ts + SKEW_SECONDS and nbf <= ts + SKEW_SECONDS


def _kid(token: str) -> object:
    """The header's ``kid`` (None without one), read with a third of the work of
    ``jwt.get_unverified_header``: the header is parsed and checked again by ``jwt.decode``,
    whose signature covers it. AuthError INVALID_TOKEN for a header that is not JSON."""
    head = token.partition(".")[0]
    try:
        header = json.loads(base64.urlsafe_b64decode(head + "=" * (-len(head) % 4)))
    except ValueError:  # binascii.Error, JSONDecodeError, UnicodeDecodeError
        raise AuthError(Code.INVALID_TOKEN) from None
    return header.get("kid") if isinstance(header, dict) else None


@dataclass(frozen=True)
class RefreshClaims:
    user_id: str
    session_id: str
    generation: int


class TokenCodec:
    def __init__(
        self,
        *,
        root_secret: bytes,
        algorithm: str,
        signing_key: Any,
        verify_key: Any,
        issuer: str,
        audience: str,
        access_ttl: timedelta,
        refresh_ttl: timedelta,
        keyring: KeyRing | None = None,
    ) -> None:
        """``keyring`` (asymmetric algorithms): the current key's ``kid`` goes into every
        access token's header and tokens are verified with the key their ``kid`` names;
        without one (HS*) there is a single key and no ``kid``."""
        self.algorithm = algorithm
        self._sign = signing_key
        self._verify = verify_key
        self.keyring = keyring
        self._headers = {"kid": keyring.current.kid} if keyring is not None else None
        self.issuer = issuer
        self.audience = audience
        self.access_ttl = access_ttl
        self.refresh_ttl = refresh_ttl
        self._refresh_key = derive(root_secret, "refresh-jwt")
        self._jti_key = derive(root_secret, "refresh-jti")
        self._verified: dict[str, dict[str, Any]] = {}

    # access -------------------------------------------------------------------------
    def issue_access(self, claims: dict[str, Any], now: datetime) -> str:
        iat = int(now.timestamp())
        payload = {
            **claims,
            "type": "access",
            "iat": iat,
            "exp": iat + int(self.access_ttl.total_seconds()),
            "iss": self.issuer,
            "aud": self.audience,
        }
        return jwt.encode(payload, self._sign, algorithm=self.algorithm, headers=self._headers)

    def decode_access(self, token: str, now: datetime) -> dict[str, Any]:
        """Verified claims, or AuthError INVALID_TOKEN / TOKEN_EXPIRED.

        A token whose signature and claims verified once is remembered (a bounded map keyed
        by the whole token string): clients present the same access token on every request
        until it expires, and nothing but the clock can change the verdict on a given
        string. The time checks run on every call.
        """
        if not token or len(token) > MAX_TOKEN_BYTES:
            raise AuthError(Code.INVALID_TOKEN)
        claims = self._verified.get(token)
        if claims is None:
            claims = self._verify_access(token)
            if len(self._verified) >= VERIFIED_CACHE_SIZE:
                del self._verified[next(iter(self._verified))]  # the oldest entry
            self._verified[token] = claims
        ts = now.timestamp()
        if not _times_ok(claims, ts):
            raise AuthError(Code.INVALID_TOKEN)
        if ts >= claims["exp"]:
            raise AuthError(Code.TOKEN_EXPIRED)
        return dict(claims)

    def authentic_access(self, token: str, now: datetime) -> dict[str, Any]:
        """Claims of an access token that this server signed (signature, algorithm,
        issuer, audience, shapes, ``iat``), expired or not: enough to name the session a
        logout ends, never to authorise anything. AuthError INVALID_TOKEN otherwise."""
        if not token or len(token) > MAX_TOKEN_BYTES:
            raise AuthError(Code.INVALID_TOKEN)
        claims = self._verified.get(token) or self._verify_access(token)
        if not _times_ok(claims, now.timestamp()):
            raise AuthError(Code.INVALID_TOKEN)
        return dict(claims)

    def _verify_access(self, token: str) -> dict[str, Any]:
        """Signature, algorithm, audience, issuer and claim shapes (not the clock)."""
        key, algorithm = self._verify, self.algorithm
        try:
            if self.keyring is not None:
                # The kid only selects among our own keys; each key has its algorithm pinned.
                # No kid: a token minted before keys had ids, by the current key.
                kid = _kid(token)
                if kid is not None:
                    found = self.keyring.by_kid.get(kid) if isinstance(kid, str) else None
                    if found is None:
                        raise AuthError(Code.INVALID_TOKEN)
                    key, algorithm = found.key, found.alg
            claims: dict[str, Any] = jwt.decode(
                token,
                key,
                algorithms=[algorithm],
                audience=self.audience,
                issuer=self.issuer,
                leeway=0,
                options={"require": ["exp", "iat", "sub", "sessionId", "type"],
                         "verify_exp": False, "verify_iat": False, "verify_nbf": False},
            )
        except jwt.PyJWTError:
            raise AuthError(Code.INVALID_TOKEN) from None
        if claims.get("type") != "access" or not isinstance(claims.get("sessionId"), str):
            raise AuthError(Code.INVALID_TOKEN)
        exp = claims.get("exp")
        if not isinstance(exp, int) or isinstance(exp, bool):
            raise AuthError(Code.INVALID_TOKEN)
        return claims

    def public_keys(self) -> bytes:
        """The JWKS document (``crypto/jwks.KeyRing.document``); AuthError
        JWKS_NOT_AVAILABLE with a shared secret (HS*): nothing in it could be published."""
        if self.keyring is None:
            raise AuthError(Code.JWKS_NOT_AVAILABLE)
        return self.keyring.document

    # refresh ------------------------------------------------------------------------
    def _jti(self, session_id: str, generation: int) -> str:
        digest = hmac.new(
            self._jti_key, f"{session_id}:{generation}".encode(), hashlib.sha256
        ).digest()
        return str(uuid.UUID(bytes=digest[:16], version=4))

    def issue_refresh(
        self, *, user_id: str, session_id: str, generation: int, issued_at: datetime,
        expires_at: datetime | None = None,
    ) -> str:
        """Deterministic in its inputs: the same generation and time give the same token.
        ``expires_at`` caps the usual lifetime (an MFA-pending session's deadline)."""
        iat = int(issued_at.timestamp())
        exp = iat + int(self.refresh_ttl.total_seconds())
        if expires_at is not None:
            exp = min(exp, int(expires_at.timestamp()))
        payload = {
            "id": user_id,
            "sub": user_id,
            "sessionId": session_id,
            "type": "refresh",
            "gen": generation,
            "jti": self._jti(session_id, generation),
            "iat": iat,
            "exp": exp,
            "iss": self.issuer,
            "aud": self.audience,
        }
        return jwt.encode(payload, self._refresh_key, algorithm="HS256")

    def decode_refresh(self, token: str, now: datetime) -> RefreshClaims:
        if len(token) > MAX_TOKEN_BYTES:
            raise AuthError(Code.REFRESH_TOKEN_EXPIRED)
        try:
            claims = jwt.decode(
                token,
                self._refresh_key,
                algorithms=["HS256"],
                audience=self.audience,
                issuer=self.issuer,
                options={"require": ["exp", "iat", "sub", "jti"],
                         "verify_exp": False, "verify_iat": False, "verify_nbf": False},
            )
        except jwt.PyJWTError:
            raise AuthError(Code.REFRESH_TOKEN_EXPIRED) from None
        sid, gen, sub = claims.get("sessionId"), claims.get("gen"), claims.get("sub")
        if claims.get("type") != "refresh" or not isinstance(sid, str) or not isinstance(gen, int):
            raise AuthError(Code.REFRESH_TOKEN_INVALID, "Invalid refresh token payload")
        if not isinstance(sub, str) or not equal(str(claims.get("jti")), self._jti(sid, gen)):
            raise AuthError(Code.REFRESH_TOKEN_INVALID, "Invalid refresh token payload")
        exp = claims.get("exp")
        ts = now.timestamp()
        if not isinstance(exp, int) or not _times_ok(claims, ts) or ts >= exp:
            raise AuthError(Code.REFRESH_TOKEN_EXPIRED)
        return RefreshClaims(user_id=sub, session_id=sid, generation=gen)

    # purpose tokens (password reset and the like) -----------------------------------
    def issue_purpose(self, purpose: str, claims: dict[str, Any], now: datetime, ttl: timedelta) -> str:
        iat = int(now.timestamp())
        payload = {**claims, "type": purpose, "iat": iat, "exp": iat + int(ttl.total_seconds()),
                   "iss": self.issuer, "aud": f"{self.audience}:{purpose}"}
        return jwt.encode(payload, derive(self._refresh_key, purpose), algorithm="HS256")

    def decode_purpose(self, purpose: str, token: str, now: datetime) -> dict[str, Any] | None:
        """Claims of a valid, unexpired token of that purpose, else None."""
        if len(token) > MAX_TOKEN_BYTES:
            return None
        try:
            claims: dict[str, Any] = jwt.decode(
                token, derive(self._refresh_key, purpose), algorithms=["HS256"],
                audience=f"{self.audience}:{purpose}", issuer=self.issuer,
                options={"require": ["exp", "iat"],
                         "verify_exp": False, "verify_iat": False, "verify_nbf": False},
            )
        except jwt.PyJWTError:
            return None
        exp, ts = claims.get("exp"), now.timestamp()
        if (claims.get("type") != purpose or not isinstance(exp, int)
                or not _times_ok(claims, ts) or ts >= exp):
            return None
        return claims
