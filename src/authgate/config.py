"""The one typed settings object.

Built once at start-up (``load_settings``) from, in priority order: explicit keyword
arguments, ``AUTHGATE_*`` environment variables (nested with ``__``, e.g.
``AUTHGATE_JWT__SECRET``), then an optional TOML/JSON/YAML file named by
``AUTHGATE_CONFIG``. File keys may be written in the contract's camelCase
(``accessTokenExpiresIn``) or in snake_case. Invalid values fail at start-up with the
setting's dotted name in the message.
"""

from __future__ import annotations

import contextvars
import json
import os
import re
import tomllib
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from authgate import registry
from authgate.durations import Duration
from authgate.vocabulary import SecurityNotice

if TYPE_CHECKING:
    from authgate.crypto.passwords import Pepper

_WEAK_SECRETS = {"secret", "changeme", "change-me", "password", "jwt-secret", "your-secret-key"}


class _Section(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class JwtSettings(_Section):
    secret: SecretStr | None = None
    """HMAC secret for HS* algorithms; also the root of derived keys (HKDF) for refresh
    tokens, code hashes and TOTP encryption when no dedicated key is configured. Set it with
    the asymmetric algorithms too: without it the root is derived from
    ``private_key_file``, and the signing key could not be rotated without losing them."""
    private_key_file: Path | None = None
    """PEM private key (unencrypted) for RS256 (RSA, 2048 bits or more), ES256 (P-256) or
    EdDSA (Ed25519, Ed448); ``authgate keys generate`` makes one. Its public half is
    published by ``GET /.well-known/jwks.json`` under its RFC 7638 thumbprint, which every
    access token names in its ``kid`` header."""
    public_key_file: Path | None = None
    """Optional: the private key's public half (checked to match at start-up); it is derived
    from the private key otherwise."""
    previous_public_key_files: list[Path] = []
    """Public keys (PEM) of signing keys being rotated: still published by the JWKS route
    and accepted for verification (authgate picks the key by the token's ``kid``). Keep a
    retired key here for at least ``access_token_expires_in`` after it stopped signing,
    then remove it; a key listed before it becomes current is pre-published
    (docs/DEPLOYING.md, "Rotating the signing key"). Needs ``secret``: without it the
    other keys are derived from the private key file and would change with it."""
    jwks_max_age: Duration | None = None
    """``Cache-Control: max-age`` of the JWKS route; unset: ``access_token_expires_in`` (a
    cached copy is never older than one token lifetime, the rotation overlap)."""
    algorithm: Literal["HS256", "HS384", "HS512", "RS256", "ES256", "EdDSA"] = "HS256"
    access_token_expires_in: Duration = timedelta(minutes=15)
    refresh_token_expires_in: Duration = timedelta(days=7)
    issuer: str = "authgate"
    audience: str = "authgate"
    personal_data_in_tokens: bool = False
    """Put ``email``, ``phone``, ``emailVerifiedAt`` and ``phoneVerifiedAt`` in access
    tokens, as upstream does. Off by default: a token is readable by whoever holds it (logs,
    browser storage, every service it is forwarded to), and the official SDK reads only
    ``sub``, ``sessionId``, ``tenantId`` and ``exp`` from it; clients get the user's data
    from ``GET /auth/me``. Turn it on only for a host service that reads them from the
    token."""
    refresh_reuse_grace: Duration = timedelta(seconds=10)
    """A rotated refresh token presented again within this window gets the same
    successor back (tab races, network retries); after it, the session is revoked."""

    @field_validator("secret")
    @classmethod
    def _strong(cls, v: SecretStr | None) -> SecretStr | None:
        if v is None:
            return v
        raw = v.get_secret_value()
        if raw.lower() in _WEAK_SECRETS or len(raw) < 32:
            raise ValueError("must be at least 32 characters and not a well-known placeholder")
        return v

    @model_validator(mode="after")
    def _keys_match_algorithm(self) -> JwtSettings:
        if not self.algorithm.startswith("HS") and self.private_key_file is None:
            raise ValueError(f"algorithm {self.algorithm} needs jwt.private_key_file")
        if self.algorithm.startswith("HS") and self.previous_public_key_files:
            raise ValueError("previous_public_key_files needs an asymmetric algorithm (RS256, "
                             "ES256, EdDSA): HS* tokens are verified with the secret")
        if self.previous_public_key_files and self.secret is None:
            # Without a secret every derived key (refresh tokens, codes, recovery codes, TOTP
            # encryption, API keys) comes from the private key file: a new key loses them.
            raise ValueError("rotating the signing key (previous_public_key_files) needs "
                             "jwt.secret: without it the other keys are derived from the "
                             "private key and would change with it")
        return self

    @property
    def jwks_cache_seconds(self) -> int:
        """The JWKS route's ``max-age``."""
        return int((self.jwks_max_age or self.access_token_expires_in).total_seconds())


class CookieSettings(_Section):
    secure: bool = True
    """Cookies travel over HTTPS only. Left unset, ``authgate serve`` turns it off when it
    binds a loopback address in development mode with no ``security.trusted_proxies``
    (plain-HTTP localhost; said in the start-up log); nothing else does."""
    same_site: Literal["lax", "strict", "none"] = "lax"
    domain: str | None = None
    path: str = "/"
    host_prefix: bool | Literal["auto"] = "auto"
    """Name every cookie ``__Host-<name>`` (``__Host-accessToken``, ``__Host-nest_auth_csrf``):
    browsers then keep it only if Secure, ``Path=/`` and without ``Domain``, so a sibling
    subdomain or a plain-HTTP page cannot plant or shadow it (ASVS 3.4.4). ``auto`` (the
    default): whenever those three hold. Clients that read a cookie by name (the CSRF
    cookie; ``GET /auth/csrf`` answers the name in use as ``cookieName``) must use the
    prefixed names; ``false`` keeps upstream's plain names."""

    @property
    def prefixed(self) -> bool:
        """Whether cookie names carry ``__Host-``."""
        if self.host_prefix == "auto":
            return self.secure and self.path == "/" and not self.domain
        return bool(self.host_prefix)

    def named(self, name: str) -> str:
        """The name a cookie is set and read under."""
        return "__Host-" + name if self.prefixed else name

    @model_validator(mode="after")
    def _host_prefix_rules(self) -> CookieSettings:
        if self.host_prefix is True and (not self.secure or self.path != "/" or self.domain):
            raise ValueError("host_prefix needs secure=true, path='/' and no domain")
        return self


class SessionSettings(_Section):
    storage: Literal["database", "redis", "memory"] = "database"
    max_sessions_per_user: int = Field(10, ge=1, le=10_000)
    on_max_sessions: Literal["evict_oldest", "reject"] = "evict_oldest"
    """Applies to sessions past the MFA step (or without one); MFA-pending sessions neither
    count toward it nor evict: a password alone must not sign the owner out."""
    max_pending_sessions_per_user: int = Field(5, ge=1, le=1000)
    """MFA-pending sessions have their own cap; the least recently active pending one makes
    room for a new one (never refused, or a password holder could block the owner's login)."""
    mfa_pending_lifetime: Duration = timedelta(minutes=10)
    """How long a session may stay MFA-pending, counted from the password step. Refreshing
    does not extend it: its refresh tokens expire at that deadline."""
    absolute_lifetime: Duration | None = timedelta(days=30)
    """A session ends this long after its sign-in, however often it is refreshed or used
    (ASVS 3.3.2; the L2 profile is 12 hours). ``null``: no limit (upstream: every refresh
    pushes the end by the refresh-token lifetime, forever)."""
    idle_timeout: Duration | None = None
    """A session unused for this long ends (ASVS 3.3.2; the L2 profile is 30 minutes).
    ``null``: the refresh-token lifetime is the only idle limit. Activity is recorded at most
    every ``touch_interval``, so it must be longer than that."""
    sliding_expiration: bool = False
    touch_interval: Duration = timedelta(minutes=5)
    access_token_type: Literal["header", "cookie"] | None = None
    allow_multiple_accounts: bool = False
    """Multi-account cookie mode (contract §1.4/§1.5/§3.16): cookie-mode token writes set
    ``accessToken_<userId>``/``refreshToken_<userId>`` and point ``nest_auth_active_account``
    at that user, so one browser holds several signed-in accounts and switches between them
    by rewriting that cookie; ``GET /auth/accounts`` lists them."""
    cookie: CookieSettings = CookieSettings()
    user_cache_ttl: Duration = timedelta(minutes=5)
    """Redis/memory stores keep a user snapshot beside the session so the hot path is one
    round trip; writes to the user invalidate it, the TTL bounds any missed invalidation."""

    @model_validator(mode="after")
    def _idle_longer_than_touch(self) -> SessionSettings:
        if self.idle_timeout is not None and self.idle_timeout <= self.touch_interval:
            raise ValueError("idle_timeout must be longer than touch_interval")
        return self


class TotpSettings(_Section):
    issuer: str | None = None
    period: int = Field(30, ge=15, le=120)
    digits: int = Field(6, ge=6, le=8)
    algorithm: Literal["SHA1", "SHA256", "SHA512"] = "SHA1"
    setup_expires_in: Duration = timedelta(minutes=15)


def _registered_method(name: str) -> str:
    """Validated against the registry when the settings are built, so a method registered
    before (a plug-in, a test) is accepted."""
    if name not in registry.mfa_methods:
        known = ", ".join(registry.mfa_methods.names())
        raise ValueError(f"unknown MFA method {name!r} (registered: {known})")
    return name


class MfaSettings(_Section):
    enabled: bool = True
    required: bool = False
    methods: tuple[str, ...] = ("totp", "email")
    """Names of registered MFA methods (``authgate.registry.mfa_methods``)."""
    default_method: str | None = None
    allow_user_toggle: bool = True
    allow_method_selection: bool = True
    allow_weak_methods_with_strong: bool = False
    """Offer the methods that only prove access to an inbox or a phone (email, SMS: the
    password-reset channels too) at the MFA step of a user who has enrolled a strong one
    (an authenticator). Off: mailbox access alone never gets past an enrolled TOTP."""
    otp_length: int = Field(6, ge=4, le=10)
    otp_expires_in: Duration = timedelta(minutes=10)
    resend_interval: Duration = timedelta(seconds=30)
    max_attempts: int = Field(5, ge=1, le=100)
    attempt_window: Duration = timedelta(minutes=15)
    session_max_attempts: int = Field(3, ge=1, le=100)
    """Second-factor attempts one MFA-pending session gets in its whole life; beyond them
    429 MFA_TOO_MANY_ATTEMPTS without spending the account's budgets
    (``authgate.mfa.attempt_budget``)."""
    client_max_attempts: int = Field(10, ge=1, le=10_000)
    client_attempt_window: Duration = timedelta(days=1)
    """The same per account and client address (IPv6 by /64), across its pending sessions;
    a success from that address clears it."""
    failure_alert_threshold: int | None = Field(5, ge=1, le=10_000)
    failure_alert_window: Duration = timedelta(days=1)
    """The owner is told (event ``mfa.failures_repeated`` and the ``mfa_failures`` email)
    when this many wrong second factors pile up in the window; at most once per window.
    ``null`` turns it off."""
    recovery_code_count: int = Field(10, ge=1, le=50)
    trusted_device_duration: Duration | None = timedelta(days=30)
    trust_device_storage_name: str = "nest_auth_device_trust"
    reauth_window: Duration | None = timedelta(minutes=10)
    """Step-up (ASVS 3.7.1): turning MFA off, setting up or removing an authenticator,
    generating recovery codes, resetting TOTP and signing out everywhere need a sign-in (or
    a completed MFA step) this recent, else 403 ``REAUTH_REQUIRED``. ``null``: no step-up,
    as upstream."""
    encryption_keys: tuple[SecretStr, ...] = ()
    imported_recovery_code_secret: SecretStr | None = None
    """The secret nest-auth keyed its recovery codes with (its ``mfa.trustedDeviceSecret``,
    else ``session.jwt.secret``): recovery codes brought over by ``authgate import nest-auth``
    verify only while it is set. Unset: they are kept but refused."""
    """``"<kid>:<base64 32-byte key>"`` entries; the first encrypts, all decrypt.
    Empty: one key derived from the JWT secret (kid ``d0``)."""
    totp: TotpSettings = TotpSettings()

    @field_validator("methods")
    @classmethod
    def _dedupe(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        for name in v:
            _registered_method(name)
        return tuple(dict.fromkeys(v))

    @field_validator("default_method")
    @classmethod
    def _known_default(cls, v: str | None) -> str | None:
        return v if v is None else _registered_method(v)


class WebauthnSettings(_Section):
    """Passkeys (WebAuthn): an MFA method when ``mfa.methods`` includes ``webauthn``, and
    passwordless sign-in (``providerName: "passkey"``) when ``passwordless`` is on."""

    rp_id: str | None = None
    """The relying party id: the site's registrable domain (``example.com``), or
    ``localhost``. Required once passkeys are used."""
    rp_name: str | None = None
    """Shown by the authenticator; default: ``app_name``."""
    origins: tuple[str, ...] = ()
    """The exact origins the browser reports (``https://app.example.com``,
    ``http://localhost:3000``). Required once passkeys are used."""
    user_verification: Literal["required", "preferred", "discouraged"] = "preferred"
    """Asked of the authenticator at registration and at the MFA step; ``required`` also
    refuses an assertion without the UV flag. Passwordless sign-in always requires it."""
    resident_key: Literal["required", "preferred", "discouraged"] = "preferred"
    """Discoverable credentials (passkeys that sign in without a typed identifier)."""
    passwordless: bool = False
    """Sign in with a discoverable credential alone (``POST /auth/passkeys/login-options``
    then ``POST /auth/login`` with ``providerName: "passkey"``)."""
    challenge_expires_in: Duration = timedelta(minutes=5)
    max_credentials: int = Field(20, ge=1, le=100)
    """Passkeys one account may register."""

    @field_validator("origins")
    @classmethod
    def _origins(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        for origin in v:
            m = re.fullmatch(r"(https?)://([^/\s:]+|\[[0-9a-f:]+\])(:\d+)?", origin)
            if not m:
                raise ValueError(f"{origin!r} is not an origin (scheme://host[:port])")
            if m.group(1) == "http" and m.group(2) not in ("localhost", "127.0.0.1", "[::1]"):
                raise ValueError(f"{origin!r}: browsers use passkeys only over https "
                                 "(or http://localhost)")
        return v

    @field_validator("rp_id")
    @classmethod
    def _rp_id(cls, v: str | None) -> str | None:
        if v is not None and not re.fullmatch(r"[a-z0-9.-]+", v):
            raise ValueError("must be a domain name (no scheme, port or path)")
        return v


class RegistrationSettings(_Section):
    enabled: bool = True
    auto_login_after_signup: bool = True
    require_verified_email: bool = False
    require_invitation: bool = False
    """Only invited people get an account: signup (and passwordless auto sign-up) answer
    403 ``REGISTRATION_DISABLED`` "Registration is by invitation only"; ``POST /auth/invite``
    and accepting the invitation still work. Upstream advertises it and never enforces it
    (contract W16)."""
    invitation_expires_in: Duration = timedelta(days=3)
    """How long an invitation token (``POST /auth/invite``) stays redeemable."""
    invitation_url: str | None = None
    """Where the invitation email links to: ``{token}`` is replaced by the URL-encoded token
    (``https://app.example/accept-invite?token={token}``). Unset: the email carries the token
    for the client to paste (the SDK's ``resetPassword`` redeems it)."""
    hide_existing_accounts: bool = False
    """Signup with an email/phone that already has an account answers like a successful
    signup without auto-login (no tokens for anyone) and tells the owner by email/SMS,
    instead of 400 ``EMAIL_ALREADY_EXISTS``/``PHONE_ALREADY_EXISTS`` (the contract's answer,
    kept by default). Hiding implies no auto-login for any signup: tokens for a new address
    but none for a taken one would tell them apart."""

    def signs_in_after_signup(self) -> bool:
        """A successful signup answers with tokens (``auto_login_after_signup``), never while
        existing accounts are hidden."""
        return self.auto_login_after_signup and not self.hide_existing_accounts


class TenantSettings(_Section):
    """Multi-tenancy (contract §3.15, §6). ``off``: no tenants, a ``tenantId`` in a request is
    refused with ``TENANT_NOT_ENABLED`` (today's behaviour). ``shared``: one account per
    person, members of several tenants (memberships with per-tenant roles and a default
    tenant); ``POST /auth/switch-tenant`` moves a session between them. ``isolated``: every
    tenant has its own accounts (the same email may exist once per tenant), ``tenantId`` is
    required on signup and login, and nothing crosses a tenant's boundary."""

    mode: Literal["off", "shared", "isolated"] = "off"

    @property
    def enabled(self) -> bool:
        return self.mode != "off"


class AuthzSettings(_Section):
    """Roles and permissions (contract §1.9 step 11, §5.1)."""

    role_guards: tuple[str, ...] = ("web",)
    """The guards roles and permissions may belong to (``GUARD_NOT_ALLOWED`` otherwise);
    echoed as ``roleGuards`` by ``GET /auth/client-config``."""
    role_changes: Literal["immediate", "refresh"] = "immediate"
    """When a change to someone's roles or permissions reaches their live sessions:
    ``immediate`` (default) rewrites the sessions' snapshot as the change commits, so a
    withdrawn permission stops working on the next request (the guard reads the snapshot
    it loads anyway: no extra round trip); the access token's ``roles`` claim catches up at
    the next refresh. ``refresh``: at the next refresh or tenant switch, as upstream."""

    @field_validator("role_guards")
    @classmethod
    def _guards(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        if not v or any(not g or len(g) > 64 for g in v):
            raise ValueError("needs at least one guard name of 1-64 characters")
        return tuple(dict.fromkeys(v))


class DisposableEmailSettings(_Section):
    """Blocked e-mail domains at signup (upstream's ``emailAuth.disposable``). The blocked
    domains are the ``authgate_blocked_email_domains`` rows (managed in the admin console)
    plus, with ``use_default_list``, the disposable-domain list shipped as data (the
    ``disposable-email-domains`` package). A subdomain of a blocked domain is blocked too."""

    enabled: bool = False
    mode: Literal["block", "flag"] = "block"
    """``block``: 403 ``EMAIL_DOMAIN_NOT_ALLOWED``; ``flag``: the signup goes through and
    the event ``email.disposable_detected`` is emitted."""
    use_default_list: bool = True
    """Also block the shipped default list without importing it into the table first
    (upstream blocks only imported rows)."""
    allowlist: tuple[str, ...] = ()
    """Domains never blocked (and their subdomains), whatever the lists say."""

    @field_validator("allowlist")
    @classmethod
    def _domains(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(d.strip().lower().lstrip("@") for d in v if d.strip())


class EmailAuthSettings(_Section):
    disposable: DisposableEmailSettings = DisposableEmailSettings()


class PasswordlessSettings(_Section):
    """Sign-in with a code sent by email or SMS (``/auth/passwordless/send`` + login with
    ``providerName: "passwordless"``)."""

    enabled: bool = False
    allow_sign_up: bool = False
    """Create a password-less account for an unknown identifier (only while
    ``registration.enabled``)."""
    code_expires_in: Duration = timedelta(minutes=10)


class PasswordHashSettings(_Section):
    """argon2id cost: 64 MiB and 3 passes, RFC 9106's second recommendation and well above
    every OWASP configuration (e.g. 19 MiB, t=2, p=1). ``authgate calibrate-hash`` prints the
    values that hit a target latency on a given machine."""

    model_config = ConfigDict(frozen=True, extra="forbid", hide_input_in_errors=True)
    """A malformed pepper must not be echoed into a start-up log."""

    time_cost: int = Field(3, ge=1, le=20)
    memory_cost_kib: int = Field(65536, ge=8, le=4 * 1024 * 1024)
    parallelism: int = Field(1, ge=1, le=64)
    """Lanes. 1 (one lane, computed by libsodium's CPU-specific code: half the CPU of the
    portable code argon2-cffi runs) gives an attacker the same memory x time per guess as
    RFC 9106's p=4 and a server more logins per core; >1 hashes with argon2-cffi (signup,
    password changes). Logins verify every hash with libsodium whatever its lanes (one
    thread, lane after lane: the CPU of one lane), so a p=4 deployment or nest-auth's p=4
    hashes log in at libsodium's speed. Hashes made with other values verify and are
    upgraded at the next login."""
    pepper_keys: tuple[SecretStr, ...] = ()
    """Optional pepper (ASVS 2.4.5): ``"<kid>:<base64 key>"`` entries (keys of 16+ bytes).
    argon2 then hashes an HMAC of the password under the first key, so a copy of the
    database alone cannot be cracked offline; every listed key verifies. Rotation: put a
    new key first; each hash moves to it at its owner's next login; drop the old key once
    it is unused (its holders then need a password reset). Keep it out of the database
    and its backups: environment (``AUTHGATE_PASSWORD_HASH__PEPPER_KEYS='["p2:…","p1:…"]'``)
    or ``pepper_file``."""
    pepper_file: Path | None = None
    """A file of pepper entries, one per line (``#`` comments), read at start-up; its keys
    come after ``pepper_keys``."""

    @field_validator("pepper_keys")
    @classmethod
    def _pepper_format(cls, v: tuple[SecretStr, ...]) -> tuple[SecretStr, ...]:
        from authgate.crypto.passwords import parse_peppers

        parse_peppers([k.get_secret_value() for k in v])  # ValueError names the entry
        return v

    def peppers(self) -> tuple[Pepper, ...]:
        """The configured peppers, the one of new hashes first (reads ``pepper_file``)."""
        from authgate.crypto.passwords import parse_peppers

        entries = [k.get_secret_value() for k in self.pepper_keys]
        if self.pepper_file is not None:
            for line in self.pepper_file.read_text(encoding="utf-8").splitlines():
                if line.strip() and not line.lstrip().startswith("#"):
                    entries.append(line.strip())
        return parse_peppers(entries)


class PasswordPolicySettings(_Section):
    min_length: int = Field(12, ge=6, le=128)
    """Counted in characters of the NFKC-normalised password. 12 by default (ASVS 2.1.1;
    upstream 8, which stays possible)."""
    max_length: int = Field(128, ge=8, le=1024)
    reject_common: bool = True
    """Refuse passwords found in the common-password list zxcvbn ships."""
    min_score: int = Field(2, ge=0, le=4)
    """Minimum zxcvbn strength score (0-4)."""
    reject_identifier: bool = True
    """Refuse passwords built around the account's own email or phone."""
    revoke_sessions_on_change: Literal["others", "all", "none"] = "others"
    reset_code_expires_in: Duration = timedelta(minutes=10)
    """ASVS 2.7.2: an out-of-band code lives at most 10 minutes (upstream 15)."""
    reset_token_expires_in: Duration = timedelta(minutes=15)


class CsrfSettings(_Section):
    enabled: bool = True
    """Applies only to requests authenticated by the access-token cookie."""
    cookie_name: str = "nest_auth_csrf"
    header_name: str = "x-csrf-token"
    allowed_origins: tuple[str, ...] = ()
    """Other origins (``https://app.example.com``) whose pages may make cookie-authenticated
    writes; the server's own origin always may."""
    check_origin: bool = True
    """Refuse cookie-authenticated writes that the browser says come from another site
    (``Sec-Fetch-Site``), or whose ``Origin``/``Referer`` is neither this server nor listed
    in ``allowed_origins`` (403 ``CSRF_ORIGIN_REJECTED``), besides the token check.
    ``false``: upstream's rule (the origin is checked only against a non-empty
    ``allowed_origins``)."""


class SecuritySettings(_Section):
    csrf: CsrfSettings = CsrfSettings()
    max_body_bytes: int = Field(64 * 1024, ge=1024)
    trusted_proxies: tuple[str, ...] = ()
    """Addresses or networks (``10.0.0.0/8``) of the proxies in front: only a request from
    one of them has its ``X-Forwarded-For`` (the client IP of rate limits, events and the
    request log) and ``X-Request-ID`` believed."""


def _origin(value: str) -> str:
    """``scheme://host[:port]`` exactly as a browser writes an origin (no path, no slash)."""
    if not re.fullmatch(r"https?://[A-Za-z0-9.\-\[\]:]+", value):
        raise ValueError(f"{value!r} is not an origin such as https://app.example.com")
    return value.lower()


def _http_url(value: str) -> str:
    if not value.startswith(("https://", "http://")):
        raise ValueError(f"{value!r} must be an http(s) URL")
    return value.rstrip("/")


class OidcProviderSettings(_Section):
    """One OpenID Connect provider found by issuer discovery
    (``<issuer>/.well-known/openid-configuration``): Keycloak, Okta, Azure AD, Auth0,
    GitLab, Google... Its ID tokens are verified against the issuer's JWKS; with
    ``client_secret`` it also signs users in by the authorization-code flow."""

    issuer: str
    client_id: str
    client_secret: SecretStr | None = None
    """Needed for the server-side code flow (``/auth/oauth/<name>/start``); ID-token logins
    work without it."""
    label: str | None = None
    """Shown by clients (``GET /auth/client-config`` ``sso``); default: the name."""
    scopes: tuple[str, ...] = ("openid", "email", "profile")
    extra_audiences: tuple[str, ...] = ()
    """Other client ids whose ID tokens are accepted (a mobile app's own client id)."""
    extra_issuers: tuple[str, ...] = ()
    """Other spellings of ``iss`` the provider uses (Google: ``accounts.google.com``)."""
    algorithms: tuple[Literal["RS256", "RS384", "RS512", "PS256", "PS384", "PS512",
                              "ES256", "ES384", "ES512", "EdDSA"], ...] = ("RS256", "ES256")
    """Signature algorithms accepted for ID tokens (pinned: never ``none`` or HMAC)."""
    trust_email_verified: bool = True
    """Believe the token's ``email_verified`` claim (for linking to an existing account by
    email). Turn off for a provider where users can set unverified addresses."""

    @field_validator("issuer")
    @classmethod
    def _issuer_url(cls, v: str) -> str:
        _http_url(v)
        return v  # kept as written: ``iss`` must match it exactly (Auth0's ends with "/")


class GithubSettings(_Section):
    client_id: str | None = None
    """Set to enable ``providerName: "github"`` (access tokens of this OAuth app)."""
    client_secret: SecretStr | None = None
    """With it, each access token is checked to belong to this OAuth app
    (``POST /applications/{client_id}/token``) and the code flow is available."""
    api_url: str = "https://api.github.com"
    authorize_url: str = "https://github.com/login/oauth/authorize"
    token_url: str = "https://github.com/login/oauth/access_token"

    @field_validator("api_url", "authorize_url", "token_url")
    @classmethod
    def _url(cls, v: str) -> str:
        return _http_url(v)


class FacebookSettings(_Section):
    app_id: str | None = None
    """Set (with ``app_secret``) to enable ``providerName: "facebook"``."""
    app_secret: SecretStr | None = None
    """Checks each access token was issued to this app (``debug_token``) and signs the
    profile request (``appsecret_proof``)."""
    graph_url: str = "https://graph.facebook.com/v19.0"

    @field_validator("graph_url")
    @classmethod
    def _url(cls, v: str) -> str:
        return _http_url(v)


class SocialSettings(_Section):
    """Sign-in with Google, Apple, GitHub, Facebook and any OpenID Connect provider."""

    google: OidcProviderSettings | None = None
    """Google by discovery: ``{"client_id": "…apps.googleusercontent.com"}`` is enough
    (issuer defaults to ``https://accounts.google.com``)."""
    apple: OidcProviderSettings | None = None
    """Sign in with Apple ID tokens: ``{"client_id": "<services id or bundle id>"}``."""
    github: GithubSettings = GithubSettings()
    facebook: FacebookSettings = FacebookSettings()
    google_tokeninfo_url: str = "https://oauth2.googleapis.com/tokeninfo"
    """Where a Google *access* token's audience is checked before its user-info is read."""
    oidc: dict[str, OidcProviderSettings] = {}
    """Generic providers by name (the login's ``providerName``):
    ``AUTHGATE_SOCIAL__OIDC__KEYCLOAK__ISSUER``, ``…__CLIENT_ID``, ``…__CLIENT_SECRET``."""
    require_verified_email_for_linking: bool = True
    """A provider identity joins an existing account with the same email only when the
    provider verified that email; otherwise 401 SOCIAL_EMAIL_NOT_VERIFIED (the owner can
    still link it while signed in: ``POST /auth/identities``)."""
    timeout: Duration = timedelta(seconds=5)
    """Bound on each request to a provider (one retry after a connection failure)."""
    jwks_cache_ttl: Duration = timedelta(hours=1)
    jwks_refresh_interval: Duration = timedelta(seconds=30)
    """An unknown ``kid`` refetches the keys at most this often (key rotation is picked up,
    a flood of made-up ``kid``s does not become a flood of requests to the provider)."""
    callback_origins: tuple[str, ...] = ()
    """Origins the callback page may ``postMessage`` to (the opener's origin); empty: it
    posts to none, so only the cookie-mode code flow completes there."""
    flow_lifetime: Duration = timedelta(minutes=10)
    """How long a started code flow (``state``) and its one-time result stay usable."""
    redirect_base_url: str | None = None
    """Public URL of the ``/auth`` routes (``https://api.example.com/auth``) used to build
    ``redirect_uri``; unset: from the request."""

    @field_validator("callback_origins")
    @classmethod
    def _origins(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(_origin(o) for o in v)

    @field_validator("google_tokeninfo_url", "redirect_base_url")
    @classmethod
    def _url(cls, v: str | None) -> str | None:
        return None if v is None else _http_url(v)

    @field_validator("google", "apple", mode="before")
    @classmethod
    def _default_issuer(cls, v: Any, info: Any) -> Any:
        issuer = {"google": "https://accounts.google.com",
                  "apple": "https://appleid.apple.com"}[info.field_name]
        if isinstance(v, dict) and "issuer" not in v:
            extra = {"extra_issuers": ["accounts.google.com"]} if info.field_name == "google" else {}
            return {"issuer": issuer, **extra, **v}
        return v

    @field_validator("oidc")
    @classmethod
    def _names(cls, v: dict[str, OidcProviderSettings]) -> dict[str, OidcProviderSettings]:
        for name in v:
            if not re.fullmatch(r"[a-z][a-z0-9_-]{0,31}", name):
                raise ValueError(f"provider name {name!r}: lower-case letters, digits, - and _")
        return v


class SmtpSettings(_Section):
    """Outgoing mail relay. No ``host``: messages go to the development outbox instead."""

    host: str | None = None
    port: int = Field(587, ge=1, le=65535)
    security: Literal["starttls", "tls", "none"] = "starttls"
    """``starttls`` upgrades a plain connection (refuses a server without STARTTLS),
    ``tls`` is implicit TLS (usually port 465), ``none`` only for a relay on localhost."""
    username: str | None = None
    password: SecretStr | None = None
    ca_file: Path | None = None
    """Extra CA bundle to trust (a private relay's certificate); the system store otherwise."""
    timeout: Duration = timedelta(seconds=10)

    @model_validator(mode="after")
    def _credentials_pair(self) -> SmtpSettings:
        if (self.username is None) != (self.password is None):
            raise ValueError("delivery.smtp.username and password go together")
        return self


class SmsSettings(_Section):
    """A Twilio-style REST endpoint (form POST of To/From/Body, HTTP basic auth). The SMS
    channel exists only when ``url`` is set."""

    url: str | None = None
    """``{account_sid}`` in the URL is replaced by the account sid."""
    account_sid: str | None = None
    auth_token: SecretStr | None = None
    from_number: str | None = None
    timeout: Duration = timedelta(seconds=10)

    @model_validator(mode="after")
    def _complete(self) -> SmsSettings:
        if self.url is None:
            return self
        if not self.url.startswith(("https://", "http://")):
            raise ValueError("delivery.sms.url must be an http(s) URL")
        if not (self.account_sid and self.auth_token and self.from_number):
            raise ValueError("delivery.sms needs account_sid, auth_token and from_number")
        return self


class DeliverySettings(_Section):
    email_from: str = "no-reply@localhost"
    """Bare address for the From header; the display name is ``app_name``."""
    templates_dir: Path | None = None
    """Overrides: ``email/<kind>.txt|.html`` and ``sms/<kind>.txt`` found here replace the
    packaged templates one file at a time."""
    smtp: SmtpSettings = SmtpSettings()
    sms: SmsSettings = SmsSettings()

    @field_validator("email_from")
    @classmethod
    def _bare_address(cls, v: str) -> str:
        if not re.fullmatch(r"[^@\s<>\x00-\x1f]+@[^@\s<>\x00-\x1f]+", v):
            raise ValueError("must be a bare address like no-reply@example.com")
        return v


class NotificationSettings(_Section):
    """The default subscribers of the event bus (``authgate.notifications``)."""

    security_emails: bool = True
    """Email the owner when a password is changed or reset, MFA is turned on or off, an
    authenticator is added or removed, recovery codes are generated or used, the account
    signs in from a new device, a replaced refresh token comes back, or an authenticator
    code is replayed (templates ``email/<kind>.*``, overridable)."""
    skip: tuple[SecurityNotice, ...] = ()
    """Notices not to send (e.g. ``["new_sign_in"]``)."""
    new_device_window: Duration = timedelta(days=180)
    """How long a (user agent, network) pair stays a known device of an account."""
    security_log: bool = True
    """One structured line per security event on the ``authgate.security`` logger."""


class DocsSettings(_Section):
    enabled: bool | None = None
    """``/docs``, ``/redoc`` and ``/openapi.json`` of the standalone app. Unset: on in
    development mode only (see ``Settings.dev_mode``)."""


class RateRule(_Section):
    """At most ``limit`` requests per fixed ``window`` (the window opens at the first one)."""

    limit: int = Field(..., ge=1, le=1_000_000)
    window: Duration


def _rule(limit: int, seconds: int) -> RateRule:
    return RateRule(limit=limit, window=timedelta(seconds=seconds))


class RateBucket(_Section):
    """One row of the rate-limit table: a limit per client IP and one per account (the
    caller's user id, or the email/phone in the body, or the refresh token's session).
    ``null`` switches that key off."""

    per_ip: RateRule | None = None
    per_account: RateRule | None = None
    per_account_long: RateRule | None = None
    """A second, long window per account (e.g. 50 a day): what a patient attacker gets by
    waiting out the short windows over and over."""


class LockoutSettings(_Section):
    """Lockout after repeated wrong passwords (and passwordless codes), counted per
    (account, client) and per account; locks expire and grow (see
    ``authgate.throttling.rate``)."""

    enabled: bool = True
    max_failures: int = Field(10, ge=1, le=1000)
    """Failures of one client (IP, IPv6 /64) on one account within ``window`` that lock
    that client out of that account."""
    account_max_failures: int = Field(30, ge=1, le=100_000)
    """Failures on one account from all clients within ``window`` that lock the account for
    every client except a device holding a valid trust token for it."""
    window: Duration = timedelta(minutes=15)
    lock_duration: Duration = timedelta(minutes=15)
    """The first lock; each further lock of the same client (or account) within
    ``backoff_window`` lasts twice as long as the one before, up to ``max_lock_duration``."""
    max_lock_duration: Duration = timedelta(hours=24)
    backoff_window: Duration = timedelta(days=1)
    """How long the number of locks is remembered (from the first of them)."""


class ApiKeySettings(_Section):
    """Personal API keys (``Authorization: ApiKey <publicKey>.<secret>``)."""

    enabled: bool = True
    """Off: the key routes answer 404 and every ``ApiKey`` header is refused."""
    max_per_user: int = Field(25, ge=1, le=10_000)
    """Active (not revoked, not expired) keys one user may hold."""
    max_lifetime: Duration | None = None
    """The longest expiry a new key may ask for; set, a key without ``expiresAt`` gets it.
    Unset: keys may be created without an expiry."""
    last_used_interval: Duration = timedelta(minutes=1)
    """``lastUsedAt`` is written at most once per key per interval, after the response (a
    key used in a loop does not write on every request)."""


class RateLimitSettings(_Section):
    """The declarative rate-limit table (see ``authgate.throttling.rate``). Counters live in
    Redis when ``redis_url`` is set, else in the database, so every process shares them."""

    enabled: bool = True
    """Master switch: ``false`` turns off the table *and* the lockout."""
    login: RateBucket = RateBucket(per_ip=_rule(30, 60), per_account=_rule(10, 60))
    signup: RateBucket = RateBucket(per_ip=_rule(10, 60), per_account=_rule(3, 60))
    refresh: RateBucket = RateBucket(per_ip=_rule(300, 60), per_account=_rule(60, 60))
    """Generous: refresh tokens are signed (nothing to guess), clients behind one NAT refresh
    often, and tabs racing one token get the same successor (per account = per session)."""
    mfa_verify: RateBucket = RateBucket(per_ip=_rule(20, 60), per_account=_rule(10, 300),
                                        per_account_long=_rule(50, 86400))
    """TOTP, email/SMS MFA codes and recovery codes (per-code attempt limits come on top).
    The daily cap keeps a 6-digit code's odds below 1 in 6,000 a day (NIST SP 800-63B asks
    for at most 100 consecutive failures)."""
    otp_verify: RateBucket = RateBucket(per_ip=_rule(20, 60), per_account=_rule(10, 300),
                                        per_account_long=_rule(25, 21600))
    """Every other one-time-code check: email/phone verification (keyed on the caller),
    password-reset and passwordless codes (keyed on the account *and* the client, so a
    stranger cannot spend the owner's budget; ``issued_codes`` bounds all clients together).
    """
    forgot_password: RateBucket = RateBucket(per_ip=_rule(10, 60), per_account=_rule(3, 300))
    send_code: RateBucket = RateBucket(per_ip=_rule(10, 60), per_account=_rule(10, 600))
    """MFA challenges, verification sends and passwordless sends (each costs a message)."""
    change_password: RateBucket = RateBucket(per_ip=_rule(10, 60), per_account=_rule(5, 300))
    """Keyed on the caller's access token: each request checks the current password."""
    admin_login: RateBucket = RateBucket(per_ip=_rule(5, 60), per_account=_rule(5, 60))
    """``POST /auth/admin/login`` (upstream's ``adminLogin``, 60 s/5), counted after the
    body is valid; the lockout (per admin account and client) applies on top."""
    admin_reset: RateBucket = RateBucket(per_ip=_rule(5, 900), per_account=_rule(5, 900))
    """``POST /auth/admin/signup`` and ``/auth/admin/reset-password``, which check the
    console's secret key (upstream's ``adminReset``, 15 min/5), counted after the body is
    valid (a malformed request spends nothing, W21)."""
    passkey_options: RateBucket = RateBucket(per_ip=_rule(30, 60), per_account=_rule(20, 600))
    """Passkey ceremony options (each stores a challenge): registration options keyed on
    the caller, passwordless sign-in options per IP only (nobody is named yet)."""
    account_export: RateBucket = RateBucket(per_ip=_rule(30, 3600),
                                            per_account=_rule(10, 3600))
    """``GET /auth/account/export``: one read of every table the account owns, the
    heaviest read a signed-in caller can ask for; a stolen session must not turn it into a
    load generator."""
    issued_codes: RateRule | None = _rule(20, 86400)
    """One-time codes issued per account and purpose (reset, passwordless, verification,
    MFA challenge): with ``mfa.max_attempts`` tries per code this bounds the guesses at any
    account's codes to limit × max_attempts per window (100 a day by default), however
    many clients guess. ``null`` switches it off."""
    lockout: LockoutSettings = LockoutSettings()

    @model_validator(mode="before")
    @classmethod
    def _merge_into_defaults(cls, data: Any) -> Any:
        """An override names only what it changes: ``rate_limit.mfa_verify.per_ip.limit=5``
        keeps that rule's window and the bucket's other rules (the daily MFA cap among
        them). Only an explicit ``null`` switches a rule off. Applies to every source
        (keywords, environment, file): they arrive here already merged into one dict."""
        if not isinstance(data, dict):
            return data
        merged = dict(data)
        for name, value in data.items():
            field = cls.model_fields.get(name)
            default = field.default if field is not None else None
            if isinstance(default, RateBucket) and isinstance(value, dict):
                base = {k: getattr(default, k) for k in RateBucket.model_fields}
                bucket: dict[str, Any] = dict(base)
                for key, rule in value.items():
                    current = base.get(key)
                    if isinstance(rule, dict) and isinstance(current, RateRule):
                        bucket[key] = {"limit": current.limit, "window": current.window, **rule}
                    else:
                        bucket[key] = rule
                merged[name] = bucket
        return merged


class ServerSettings(_Section):
    """Health checks and graceful shutdown of ``authgate serve`` (seconds)."""

    health_timeout: float = Field(2.0, gt=0, le=60)
    """``GET /health/ready`` waits at most this long for the database and for Redis."""
    drain_delay: float = Field(5.0, ge=0, le=300)
    """After SIGTERM: readiness fails and responses carry ``Connection: close`` for this
    long while requests are still served, so a load balancer takes the process out of
    rotation before its listener closes."""
    drain_timeout: float = Field(30.0, gt=0, le=3600)
    """Then the listener closes and in-flight requests get this long to finish before they
    are cancelled and the process exits."""


class MetricsSettings(_Section):
    """``GET /metrics`` (Prometheus). Off by default; without a ``token`` anyone who can
    reach the port can read it: bind to a private interface, or set the token."""

    enabled: bool = False
    token: SecretStr | None = None
    """Scrapers send ``Authorization: Bearer <token>``."""


class HousekeepingSettings(_Section):
    """Purging rows that have served their purpose (``authgate.housekeeping``): expired
    sessions, one-time codes and reset/invitation tokens, counters, trusted devices,
    abandoned authenticator set-ups, passkey challenges, OAuth grants, admin sessions and
    audit-trail rows past ``audit.retention``. The server runs it on a schedule (one process at
    a time across every machine: a Redis lock when ``redis_url`` is set, else a PostgreSQL
    advisory lock, else a lock file beside the SQLite database); ``authgate purge`` runs it
    by hand."""

    enabled: bool = True
    """Run the purge inside the server every ``interval`` (``authgate purge`` works either
    way: turn this off where a cron job runs the command instead)."""
    interval: Duration = timedelta(minutes=10)
    jitter: Duration = timedelta(minutes=1)
    """A random extra wait of up to this long before each run, so workers started together
    do not all reach for the lock at the same moment."""
    batch_size: int = Field(1000, ge=1, le=100_000)
    """Rows deleted per statement; each batch is its own short transaction, so a large
    backlog never holds a long lock."""
    grace: Duration | None = timedelta(hours=1)
    """Rows are purged only once they have been expired this long (an expired code still
    answers "expired" rather than "invalid" for a while); ``null``: as soon as they expire."""


class WebhookEndpoint(_Section):
    """One receiver of audit events (``audit.webhooks.<name>``): a JSON POST signed with
    HMAC-SHA256 (``X-Authgate-Signature: t=<unix seconds>,v1=<hex>`` over
    ``"<t>.<body>"``; see docs/DEPLOYING.md for the check)."""

    url: str
    secret: SecretStr
    """At least 32 characters; the receiver holds the same one."""
    events: tuple[str, ...] = ("*",)
    """Event names to send (``user.logged_in``), ``prefix.*`` (``mfa.*``) or ``*``."""

    @field_validator("url")
    @classmethod
    def _url(cls, v: str) -> str:
        return _http_url(v)

    @field_validator("secret")
    @classmethod
    def _strong(cls, v: SecretStr) -> SecretStr:
        raw = v.get_secret_value()
        if len(raw) < 32 or raw.lower() in _WEAK_SECRETS or len(set(raw)) < 8:
            raise ValueError("must be at least 32 characters and not a placeholder")
        return v

    def wants(self, event: str) -> bool:
        return any(p == "*" or p == event or (p.endswith(".*") and event.startswith(p[:-1]))
                   for p in self.events)


class AuditSettings(_Section):
    """The persisted audit trail (``authgate.audit``): sign-ins, MFA and password changes,
    sessions ended, API keys, identities, invitations and admin actions, one row each."""

    enabled: bool = True
    """Off: nothing is written from the event bus (admin actions are still stored: the
    console's audit page reads them) and no webhook is sent."""
    retention: Duration | None = timedelta(days=365)
    """Rows older than this are deleted by the housekeeping (``authgate purge`` and the
    server's schedule; ``authgate.audit.trail.purge``); ``null`` keeps them forever."""
    skip: tuple[str, ...] = ("access.denied",)
    """Events not stored: every refused request (an expired access token among them) is
    an ``access.denied``; the security log has them."""
    batch_size: int = Field(200, ge=1, le=10_000)
    """Events written per statement by the background writer."""
    flush_delay: float = Field(0.05, ge=0, le=10)
    """Seconds the writer waits after the first queued event so the events of concurrent
    requests share its statement (``0``: write at once). Shutdown writes without waiting."""
    queue_limit: int = Field(10_000, ge=100, le=1_000_000)
    """Events waiting for the writer (a database outage); past it the oldest are dropped,
    with a warning."""
    webhooks: dict[str, WebhookEndpoint] = {}
    """Receivers by name (``audit.webhooks.siem.url``...); none by default."""
    webhook_timeout: Duration = timedelta(seconds=5)
    """One delivery attempt's bound; a slower receiver counts as a failure."""
    webhook_max_attempts: int = Field(8, ge=1, le=50)
    """Attempts before a delivery is given up (marked ``failed``)."""
    webhook_backoff: Duration = timedelta(seconds=30)
    """Wait after the first failure; each further one doubles it, up to 6 hours."""
    webhook_poll_interval: Duration = timedelta(seconds=5)
    """How often a server process looks for due deliveries (retries, rows another process
    or a previous run left) besides the events it writes itself."""

    @field_validator("webhooks")
    @classmethod
    def _names(cls, v: dict[str, WebhookEndpoint]) -> dict[str, WebhookEndpoint]:
        for name in v:
            if not re.fullmatch(r"[a-z][a-z0-9_-]{0,63}", name):
                raise ValueError(f"webhook name {name!r}: lower-case letters, digits, - and _")
        return v


class LoggingSettings(_Section):
    """The request log: one line per HTTP request on the ``authgate.requests`` logger
    (INFO), written by the app's one ASGI layer (``http/edge.py``): time, request id,
    method, route template, status, latency, user id when known, client IP, error code.
    Never a path, query string, header or body (those can hold tokens and codes).
    ``authgate serve`` prints it to stdout in place of the server's access log; a host app
    routes the logger like any other."""

    requests: bool = True
    """``false``: no line is built at all (the logger is never asked)."""
    format: Literal["json", "text"] | None = None
    """``json``: one JSON object per line; ``text``: ``GET /auth/user 200 1.2ms user=…
    ip=… id=…`` for people. Unset: ``text`` in development mode, ``json`` otherwise."""

    def resolved_format(self, development: bool) -> Literal["json", "text"]:
        if self.format is not None:
            return self.format
        return "text" if development else "json"


class AdminConsoleSettings(_Section):
    """The admin console (``/auth/admin``): off unless ``enabled`` *and* a ``secret_key`` is
    set. A key shorter than 32 characters or a well-known placeholder stops start-up."""

    enabled: bool = False
    secret_key: SecretStr | None = None
    """Bootstraps the first admin (``POST /auth/admin/signup``) and resets admin passwords
    (``POST /auth/admin/reset-password``); the admin session key is derived from it unless
    ``session_secret`` is set."""
    session_secret: SecretStr | None = None
    """Signs the admin session cookie; unset: derived from ``secret_key`` (HKDF)."""
    session_duration: Duration = timedelta(hours=2)
    cookie_name: str = Field("nest_auth_admin", pattern=r"^[A-Za-z0-9_.-]{1,64}$")
    csrf_cookie_name: str = Field("nest_auth_admin_csrf", pattern=r"^[A-Za-z0-9_.-]{1,64}$")
    csrf_header_name: str = Field("x-csrf-token", pattern=r"^[A-Za-z0-9-]{1,64}$")
    allow_admin_management: bool = True
    """Admins may list, create, edit and delete admins (``/auth/admin/admins``)."""
    allow_public_signup_after_first_admin: bool = False
    """``POST /auth/admin/signup`` stays open (with the secret key) after the first admin."""

    @field_validator("secret_key", "session_secret")
    @classmethod
    def _strong(cls, v: SecretStr | None) -> SecretStr | None:
        if v is None:
            return v
        raw = v.get_secret_value()
        weak = raw.lower() in _WEAK_SECRETS or raw.lower() in _WEAK_ADMIN_KEYS
        if weak or len(raw) < 32 or len(set(raw)) < 8:
            raise ValueError("must be at least 32 characters and not a well-known placeholder")
        return v

    def active(self) -> bool:
        """The console answers: enabled and a secret key configured (contract §2.7: a
        missing key force-disables it)."""
        return self.enabled and self.secret_key is not None


_WEAK_ADMIN_KEYS = {
    "admin", "admin123", "changeme123", "secret-key", "your-admin-secret-key",
    "your-secret-key-here", "change-this-secret-key", "replace-me", "default",
    "0" * 32, "a" * 32, "1234567890" * 4, "12345678901234567890123456789012",
    "abcdefghijklmnopqrstuvwxyz123456", "your-super-secret-admin-key-change-me",
    "change-me-to-a-long-random-string", "please-change-this-admin-secret-key",
}


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="AUTHGATE_", env_nested_delimiter="__", frozen=True, extra="forbid",
        hide_input_in_errors=True,  # a rejected secret or pepper is never echoed
    )

    app_name: str = "authgate"
    dev_mode: bool | None = None
    """Development mode allows a generated JWT secret and the file outbox, and turns the API
    docs on. Unset: development exactly when the database is SQLite and no ``redis_url`` is
    set (the embedded default); anything else is production mode, which refuses to start
    without ``jwt.secret`` (or ``jwt.private_key_file``) and ``delivery.smtp.host``."""
    database_url: str = "sqlite+aiosqlite:///./authgate.db"
    database_pool_size: int = Field(10, ge=1, le=500)
    """PostgreSQL connections per engine and process (a worker holds up to about three times
    this); keep workers × that under the server's max_connections."""
    database_replica_url: str | None = None
    """A PostgreSQL streaming replica (``postgresql+asyncpg://…``) for the reads that tolerate
    replication lag: the admin console's lists, statistics and audit log, role, permission
    and tenant listings (``Resources.stale_readmaker``). Sessions, counters, codes, MFA state
    and every read in or after a write stay on ``database_url``. While the replica cannot
    be reached those reads go to the primary (logged). docs/DEPLOYING.md lists the reads."""
    database_replica_retry: Duration = timedelta(seconds=30)
    """After the replica failed (or lagged too far), how long lag-tolerant reads stay on the
    primary before the replica is tried again."""
    database_replica_max_lag: Duration | None = timedelta(seconds=30)
    """A replica whose replay is further behind than this is treated as unavailable (checked
    with each connection checkout); None: any lag is tolerated."""
    redis_url: str | None = None
    """Sessions (``session.storage=redis``), the shared counters and rate limits. One server
    (``redis://``, ``rediss://``, ``unix://``), a cluster
    (``redis+cluster://[:password@]h1:7000,h2:7001/``) or a Sentinel-managed master
    (``redis+sentinel://[:password@]h1:26379,h2:26379/<service>[/<db>]``); ``rediss+…``
    for TLS. Forms and options: ``authgate.redisconn``, docs/DEPLOYING.md."""
    redis_prefix: str = "authgate:"
    data_dir: Path | None = None
    """Where the development secret and the outbox live; default: beside the SQLite file
    (or the working directory)."""
    auto_migrate: bool = True
    enforce_must_change_password: bool = False
    email_auth_enabled: bool = True
    phone_auth_enabled: bool = False
    phone_default_region: str | None = None
    """ISO 3166 region (``"US"``, ``"GB"``) for numbers written without ``+`` and a country
    code. Unset: every phone number must start with ``+``. Numbers are stored in E.164."""
    jwt: JwtSettings = JwtSettings()
    session: SessionSettings = SessionSettings()
    mfa: MfaSettings = MfaSettings()
    registration: RegistrationSettings = RegistrationSettings()
    email_auth: EmailAuthSettings = EmailAuthSettings()
    passwordless: PasswordlessSettings = PasswordlessSettings()
    tenant: TenantSettings = TenantSettings()
    authz: AuthzSettings = AuthzSettings()
    password_hash: PasswordHashSettings = PasswordHashSettings()
    password: PasswordPolicySettings = PasswordPolicySettings()
    security: SecuritySettings = SecuritySettings()
    rate_limit: RateLimitSettings = RateLimitSettings()
    api_keys: ApiKeySettings = ApiKeySettings()
    delivery: DeliverySettings = DeliverySettings()
    social: SocialSettings = SocialSettings()
    docs: DocsSettings = DocsSettings()
    notifications: NotificationSettings = NotificationSettings()
    admin_console: AdminConsoleSettings = AdminConsoleSettings()
    webauthn: WebauthnSettings = WebauthnSettings()
    server: ServerSettings = ServerSettings()
    metrics: MetricsSettings = MetricsSettings()
    housekeeping: HousekeepingSettings = HousekeepingSettings()
    audit: AuditSettings = AuditSettings()
    logging: LoggingSettings = LoggingSettings()

    @field_validator("redis_url")
    @classmethod
    def _redis_url(cls, v: str | None) -> str | None:
        if v:
            from authgate.redisconn import parse

            parse(v)  # a malformed URL fails at start-up, not at the first request
        return v

    @field_validator("phone_default_region")
    @classmethod
    def _region(cls, v: str | None) -> str | None:
        if v is None:
            return v
        import phonenumbers  # only when a region is configured

        if v.upper() not in phonenumbers.SUPPORTED_REGIONS:
            raise ValueError("must be an ISO 3166 region code such as US or GB")
        return v.upper()

    @model_validator(mode="after")
    def _cross_checks(self) -> Settings:
        if self.session.storage == "redis" and not self.redis_url:
            raise ValueError("session.storage is 'redis' but redis_url is not set")
        if self.database_replica_url and not (
                self.database_url.startswith("postgresql+asyncpg://")
                and self.database_replica_url.startswith("postgresql+asyncpg://")):
            raise ValueError("database_replica_url: a read replica needs PostgreSQL "
                             "(postgresql+asyncpg:// for database_url and the replica)")
        if self.passkeys_used() and not (self.webauthn.rp_id and self.webauthn.origins):
            raise ValueError("webauthn.rp_id and webauthn.origins must be set when passkeys "
                             "are used (mfa.methods has 'webauthn' or webauthn.passwordless)")
        return self

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings, env_settings, _ConfigFileSource(settings_cls))

    def passkeys_used(self) -> bool:
        """Passkeys are on: as an MFA method or for passwordless sign-in."""
        return self.webauthn.passwordless or (
            self.mfa.enabled and "webauthn" in self.mfa.methods)

    def embedded(self) -> bool:
        """The embedded default: a SQLite database and no Redis (one machine, one process
        group sharing one data directory)."""
        return self.database_url.startswith("sqlite") and not self.redis_url

    def development(self) -> bool:
        """Development mode: ``dev_mode`` when set, else the embedded default."""
        return self.dev_mode if self.dev_mode is not None else self.embedded()

    def docs_enabled(self) -> bool:
        return self.docs.enabled if self.docs.enabled is not None else self.development()

    def resolved_data_dir(self) -> Path:
        if self.data_dir is not None:
            return self.data_dir
        sqlite = sqlite_path(self.database_url)
        return sqlite.parent if sqlite is not None else Path.cwd()


def sqlite_path(url: str) -> Path | None:
    """The file behind a SQLite URL, or None for other databases and in-memory SQLite."""
    m = re.match(r"^sqlite(?:\+\w+)?:///(.+)$", url)
    if not m or m.group(1).startswith(":memory:"):
        return None
    return Path(m.group(1)).resolve()


class DeploymentError(ValueError):
    """The settings are valid but unsafe to run in production mode; names the setting."""

    def __init__(self, setting: str, message: str) -> None:
        super().__init__(f"{setting}: {message}")
        self.setting = setting
        self.reason = message


def check_deployment(settings: Settings, *, mail: bool = True) -> None:
    """Refuse development stand-ins in production mode (see ``Settings.dev_mode``): a
    generated secret differs per data directory, so replicas would sign and encrypt TOTP
    secrets under different keys (and a lost file loses every TOTP secret); the outbox
    writes codes to a local file nobody reads. ``mail=False``: for commands that send none."""
    if settings.development():
        return
    if settings.dev_mode is False:
        why = "dev_mode=false"
    elif not settings.database_url.startswith("sqlite"):
        why = "the database is not the embedded SQLite"
    else:
        why = "redis_url is set"
    if settings.jwt.secret is None and settings.jwt.private_key_file is None:
        raise DeploymentError(
            "jwt.secret", f"not set, and production mode ({why}) refuses a generated "
            "development secret: set AUTHGATE_JWT__SECRET (or jwt.private_key_file), or "
            "dev_mode=true for development")
    if mail and settings.delivery.smtp.host is None:
        raise DeploymentError(
            "delivery.smtp.host", f"not set, and production mode ({why}) refuses the file "
            "outbox: configure an SMTP relay, or dev_mode=true for development")


_config_file: contextvars.ContextVar[Path | None] = contextvars.ContextVar(
    "authgate_config_file", default=None
)


def _snake(key: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", key).lower()


def _snake_keys(value: Any) -> Any:
    if isinstance(value, dict):
        return {_snake(str(k)): _snake_keys(v) for k, v in value.items()}
    return value


def read_config_file(path: Path) -> dict[str, Any]:
    text = path.read_text(encoding="utf-8")
    suffix = path.suffix.lower()
    if suffix == ".toml":
        data: Any = tomllib.loads(text)
    elif suffix == ".json":
        data = json.loads(text)
    elif suffix in (".yaml", ".yml"):
        import yaml  # type: ignore[import-untyped]  # only for YAML files

        try:
            data = yaml.safe_load(text) or {}
        except yaml.YAMLError as exc:  # not a ValueError: keep the CLI's one-line message
            raise ValueError(f"config file {path}: {exc}") from None
    else:
        raise ValueError(f"config file {path}: use .toml, .json, .yaml or .yml")
    if not isinstance(data, dict):
        raise ValueError(f"config file {path}: the top level must be a mapping")
    return dict(_snake_keys(data))


class _ConfigFileSource(PydanticBaseSettingsSource):
    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        path = _config_file.get()
        if path is None:
            env = os.environ.get("AUTHGATE_CONFIG")
            path = Path(env) if env else None
        return read_config_file(path) if path is not None else {}


def load_settings(config_file: Path | None = None, **overrides: Any) -> Settings:
    """Build settings; raises pydantic.ValidationError naming the failing setting."""
    token = _config_file.set(config_file)
    try:
        return Settings(**overrides)
    finally:
        _config_file.reset(token)
