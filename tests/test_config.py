"""Settings: durations, config files (TOML/JSON/YAML, camelCase keys), the environment
overriding the file, and failures that name the setting."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest
from pydantic import ValidationError

from authgate.config import Settings, load_settings, read_config_file, sqlite_path
from authgate.durations import parse_duration

SECRET = "a-perfectly-fine-secret-of-forty-characters"


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests start from no AUTHGATE_* environment at all."""
    import os

    for name in list(os.environ):
        if name.startswith("AUTHGATE_"):
            monkeypatch.delenv(name)


@pytest.mark.parametrize(("value", "seconds"), [
    ("15m", 900), ("7d", 604800), ("1h30m", 5400), (900, 900), ("900", 900), ("30s", 30),
    ("1w", 604800), ("500ms", 0.5), (" 2h ", 7200), ("1h 15m", 4500), (1.5, 1.5),
    (timedelta(minutes=2), 120), ("1D", 86400),
])
def test_durations_accepted(value: object, seconds: float) -> None:
    assert parse_duration(value).total_seconds() == seconds


@pytest.mark.parametrize("value", ["abc", "-5m", 0, "0", "0s", -1, "", "15x", "m15", "1h-5m",
                                   True, None, [], "nan", float("nan"), "999999999d"])
def test_durations_rejected(value: object) -> None:
    with pytest.raises(ValueError):
        parse_duration(value)


def test_duration_errors_name_the_setting() -> None:
    with pytest.raises(ValidationError) as info:
        load_settings(jwt={"secret": SECRET, "access_token_expires_in": "-5m"})
    assert "jwt.access_token_expires_in" in str(info.value)
    with pytest.raises(ValidationError) as info:
        load_settings(session={"touch_interval": 0})
    assert "session.touch_interval" in str(info.value)


TOML = """
appName = "from-toml"
databaseUrl = "sqlite+aiosqlite:///./x.db"
[jwt]
secret = "a-perfectly-fine-secret-of-forty-characters"
accessTokenExpiresIn = "30m"
refreshTokenExpiresIn = "14d"
[session]
maxSessionsPerUser = 3
slidingExpiration = true
[mfa]
allowUserToggle = false
methods = ["email", "totp", "email"]
[security.csrf]
allowedOrigins = ["https://app.example.com"]
"""

YAML = """
appName: from-yaml
jwt:
  secret: a-perfectly-fine-secret-of-forty-characters
  accessTokenExpiresIn: 30m
  refreshTokenExpiresIn: 14d
session:
  maxSessionsPerUser: 3
  slidingExpiration: true
mfa:
  allowUserToggle: false
  methods: [email, totp, email]
security:
  csrf:
    allowedOrigins: ["https://app.example.com"]
"""

JSON_DOC = {
    "appName": "from-json",
    "jwt": {"secret": SECRET, "accessTokenExpiresIn": 1800, "refreshTokenExpiresIn": "14d"},
    "session": {"maxSessionsPerUser": 3, "slidingExpiration": True},
    "mfa": {"allowUserToggle": False, "methods": ["email", "totp", "email"]},
    "security": {"csrf": {"allowedOrigins": ["https://app.example.com"]}},
}


def _write(tmp_path: Path, kind: str) -> Path:
    path = tmp_path / f"authgate.{kind}"
    if kind == "toml":
        path.write_text(TOML)
    elif kind == "json":
        path.write_text(json.dumps(JSON_DOC))
    else:
        path.write_text(YAML)
    return path


def _check_loaded(s: Settings) -> None:
    assert s.jwt.secret is not None and s.jwt.secret.get_secret_value() == SECRET
    assert s.jwt.access_token_expires_in == timedelta(minutes=30)
    assert s.jwt.refresh_token_expires_in == timedelta(days=14)
    assert s.session.max_sessions_per_user == 3 and s.session.sliding_expiration is True
    assert s.mfa.allow_user_toggle is False
    assert s.mfa.methods == ("email", "totp")  # de-duplicated, order kept
    assert s.security.csrf.allowed_origins == ("https://app.example.com",)


@pytest.mark.parametrize("kind", ["toml", "json", "yaml", "yml"])
def test_config_file_formats(tmp_path: Path, kind: str) -> None:
    path = _write(tmp_path, kind)
    s = load_settings(path)
    _check_loaded(s)
    assert s.app_name.startswith("from-")


def test_config_file_from_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AUTHGATE_CONFIG", str(_write(tmp_path, "yaml")))
    s = load_settings()
    _check_loaded(s)
    assert s.app_name == "from-yaml"


def test_environment_overrides_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = _write(tmp_path, "toml")
    monkeypatch.setenv("AUTHGATE_JWT__ACCESS_TOKEN_EXPIRES_IN", "1h")
    monkeypatch.setenv("AUTHGATE_APP_NAME", "from-env")
    monkeypatch.setenv("AUTHGATE_SESSION__MAX_SESSIONS_PER_USER", "5")
    s = load_settings(path)
    assert s.app_name == "from-env"
    assert s.jwt.access_token_expires_in == timedelta(hours=1)
    assert s.session.max_sessions_per_user == 5
    # the rest of the file's sections survive the merge
    assert s.jwt.refresh_token_expires_in == timedelta(days=14)
    assert s.session.sliding_expiration is True and s.mfa.allow_user_toggle is False
    # and explicit arguments beat both
    assert load_settings(path, app_name="explicit").app_name == "explicit"


@pytest.mark.parametrize("secret", ["changeme", "secret", "password", "jwt-secret", "short",
                                    "your-secret-key", "x" * 31])
def test_weak_jwt_secrets_are_refused(secret: str) -> None:
    with pytest.raises(ValidationError) as info:
        load_settings(jwt={"secret": secret})
    assert "jwt.secret" in str(info.value)


def test_weak_secret_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AUTHGATE_JWT__SECRET", "changeme")
    with pytest.raises(ValidationError) as info:
        load_settings()
    assert "jwt.secret" in str(info.value)


def test_invalid_values_name_the_setting(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    cases = {
        '[session]\nmaxSessionsPerUser = 0\n': "session.max_sessions_per_user",
        '[session]\nstorage = "mongo"\n': "session.storage",
        '[mfa]\nmethods = ["email", "pigeon"]\n': "mfa.methods",
        '[jwt]\nalgorithm = "none"\n': "jwt.algorithm",
        '[jwt]\nissuer = 5\n': "jwt.issuer",
        '[session]\nnotASetting = 1\n': "session.not_a_setting",
    }
    for text, name in cases.items():
        bad.write_text(text)
        with pytest.raises(ValidationError) as info:
            load_settings(bad)
        assert name in str(info.value), (text, str(info.value))


def test_cross_setting_checks() -> None:
    with pytest.raises(ValidationError) as info:
        load_settings(jwt={"algorithm": "RS256"})
    assert "jwt" in str(info.value) and "private_key_file" in str(info.value)
    with pytest.raises(ValidationError) as info:
        load_settings(session={"storage": "redis"})
    assert "redis_url" in str(info.value)
    s = load_settings(session={"storage": "redis"}, redis_url="redis://localhost:6379/0")
    assert s.session.storage == "redis"


def test_bad_config_files(tmp_path: Path) -> None:
    txt = tmp_path / "authgate.ini"
    txt.write_text("[jwt]\n")
    with pytest.raises(ValueError, match="use .toml, .json, .yaml or .yml"):
        read_config_file(txt)
    lst = tmp_path / "authgate.json"
    lst.write_text("[1, 2]")
    with pytest.raises(ValueError, match="must be a mapping"):
        read_config_file(lst)
    with pytest.raises(FileNotFoundError):
        load_settings(tmp_path / "missing.toml")


def test_settings_are_frozen() -> None:
    s = load_settings()
    with pytest.raises(ValidationError):
        s.app_name = "changed"  # type: ignore[misc]


def test_defaults() -> None:
    s = load_settings()
    assert s.jwt.access_token_expires_in == timedelta(minutes=15)
    assert s.jwt.refresh_token_expires_in == timedelta(days=7)
    assert s.jwt.refresh_reuse_grace == timedelta(seconds=10)
    assert s.session.storage == "database" and s.session.max_sessions_per_user == 10
    assert s.security.max_body_bytes == 64 * 1024
    assert s.jwt.secret is None  # a development secret is generated at start-up


def test_sqlite_path(tmp_path: Path) -> None:
    assert sqlite_path(f"sqlite+aiosqlite:///{tmp_path}/a.db") == tmp_path / "a.db"
    assert sqlite_path("sqlite+aiosqlite:///:memory:") is None
    assert sqlite_path("postgresql+asyncpg://u@h/db") is None
    s = load_settings(database_url=f"sqlite+aiosqlite:///{tmp_path}/data/a.db")
    assert s.resolved_data_dir() == tmp_path / "data"


async def test_database_pool_size_reaches_the_postgres_engines() -> None:
    from authgate.composition import build_resources

    settings = load_settings(database_url="postgresql+asyncpg://postgres@127.0.0.1:5432/test",
                             database_pool_size=3,
                             jwt={"secret": "pool-size-test-secret-0123456789abcdef"})
    res = build_resources(settings)
    try:
        assert res.db.writer.pool.size() == 3  # type: ignore[attr-defined]
        assert res.db.hot.pool.size() == 3  # type: ignore[attr-defined]
    finally:
        await res.close()


# rate-limit overrides merge into the defaults (issue 12 item 9) ---------------------------
def _mfa_verify_kept(s: Settings, *, per_ip_limit: int) -> None:
    b = s.rate_limit.mfa_verify
    assert b.per_ip is not None and b.per_ip.limit == per_ip_limit
    assert b.per_ip.window == timedelta(minutes=1)  # the default window survives
    assert b.per_account is not None and b.per_account.limit == 10
    assert b.per_account_long is not None  # the daily MFA cap survives
    assert (b.per_account_long.limit, b.per_account_long.window) == (50, timedelta(days=1))


def test_one_rate_limit_field_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AUTHGATE_RATE_LIMIT__MFA_VERIFY__PER_IP__LIMIT", "5")
    _mfa_verify_kept(load_settings(), per_ip_limit=5)


def test_one_rate_limit_rule_from_a_file(tmp_path: Path) -> None:
    path = tmp_path / "authgate.toml"
    path.write_text("[rate_limit.mfa_verify.per_ip]\nlimit = 7\nwindow = \"1m\"\n")
    _mfa_verify_kept(load_settings(path), per_ip_limit=7)
    path.write_text('[rateLimit.mfaVerify.perIp]\nlimit = 8\n')  # camelCase, limit only
    _mfa_verify_kept(load_settings(path), per_ip_limit=8)


def test_one_rate_limit_field_from_keywords() -> None:
    _mfa_verify_kept(load_settings(rate_limit={"mfa_verify": {"per_ip": {"limit": 9}}}),
                     per_ip_limit=9)


def test_rate_limit_sources_merge_and_null_switches_off(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "authgate.json"
    path.write_text(json.dumps({"rate_limit": {"mfa_verify": {"per_account": None},
                                               "login": {"per_ip": {"limit": 3}}}}))
    monkeypatch.setenv("AUTHGATE_RATE_LIMIT__MFA_VERIFY__PER_IP__LIMIT", "4")
    s = load_settings(path)
    b = s.rate_limit.mfa_verify
    assert b.per_account is None  # an explicit null still switches a rule off
    assert b.per_ip is not None and b.per_ip.limit == 4
    assert b.per_account_long is not None and b.per_account_long.limit == 50
    login = s.rate_limit.login
    assert login.per_ip is not None and login.per_ip.limit == 3
    assert login.per_account is not None and login.per_account.limit == 10
    # untouched buckets keep their defaults entirely
    assert s.rate_limit.otp_verify == Settings().rate_limit.otp_verify
