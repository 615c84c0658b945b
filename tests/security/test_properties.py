"""Property tests (hypothesis) for the parsers authgate owns: durations, token decoding, the
validation-message builder and the config file's key conversion. Each says what must hold
for *every* input, not just the ones someone thought of."""

from __future__ import annotations

import json
import math
import string
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import jwt
import pytest
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, ValidationError

from authgate.config import Settings, _snake, _snake_keys, read_config_file
from authgate.crypto.keys import derive
from authgate.crypto.tokens import TokenCodec
from authgate.durations import _UNITS, parse_duration
from authgate.errors import AuthError, Code
from authgate.http.errors import validation_message
from authgate.http.schemas import LoginIn, RefreshIn, SignupIn, ToggleMfaIn

PROPS = settings(max_examples=100, deadline=None, database=None,
                 suppress_health_check=[HealthCheck.too_slow])
ROOT = b"property-test-root-secret-0123456789abcdef"
NOW = datetime(2030, 6, 1, 12, 0, 0, tzinfo=UTC)
CENTURY = 100 * 365 * 86400


# durations ------------------------------------------------------------------------------
@PROPS
@given(st.one_of(st.text(), st.integers(), st.floats(), st.booleans(), st.none(),
                 st.lists(st.integers(), max_size=2)))
@example(10**400)  # float(int) overflows
@example("9" * 400)
@example("1e3")
@example("٣m")  # a non-ASCII digit
@example(float("nan"))
@example("-5s")
def test_duration_parser_accepts_or_says_why(value: Any) -> None:
    try:
        got = parse_duration(value)
    except ValueError as exc:
        assert str(exc)
        return
    assert timedelta(0) < got <= timedelta(seconds=CENTURY)


@PROPS
@given(st.lists(st.tuples(st.integers(0, 10_000), st.sampled_from(sorted(_UNITS))),
                min_size=1, max_size=4), st.sampled_from(["", " "]))
def test_unit_strings_add_up(parts: list[tuple[int, str]], sep: str) -> None:
    text = sep.join(f"{n}{u}" for n, u in parts)
    seconds = sum(n * _UNITS[u] for n, u in parts)
    if not 0 < seconds <= CENTURY:
        with pytest.raises(ValueError):
            parse_duration(text)
        return
    assert parse_duration(text).total_seconds() == pytest.approx(seconds)
    assert parse_duration(text.upper()) == parse_duration(text)


@PROPS
@given(st.floats(min_value=0.001, max_value=CENTURY))
def test_seconds_round_trip_through_the_serialised_form(seconds: float) -> None:
    once = parse_duration(seconds)
    assert parse_duration(once.total_seconds()) == once
    assert parse_duration(str(int(seconds)) if seconds >= 1 else "1") > timedelta(0)


# tokens ---------------------------------------------------------------------------------
CODEC = TokenCodec(root_secret=ROOT, algorithm="HS256", signing_key=ROOT, verify_key=ROOT,
                   issuer="authgate", audience="authgate", access_ttl=timedelta(minutes=15),
                   refresh_ttl=timedelta(days=7))
TOKENISH = st.one_of(
    st.text(max_size=300),
    st.text(alphabet=string.ascii_letters + string.digits + "-_.=", max_size=600),
    st.lists(st.text(alphabet=string.ascii_letters + string.digits + "-_", max_size=120),
             min_size=1, max_size=5).map(".".join),
)


@PROPS
@given(TOKENISH)
@example("")
@example("..")
@example("a" * 9000)
@example("eyJhbGciOiJub25lIn0.e30.")
def test_arbitrary_strings_only_ever_raise_auth_errors(token: str) -> None:
    for decode in (CODEC.decode_access, CODEC.decode_refresh):
        try:
            decode(token, NOW)
        except AuthError as exc:
            assert exc.code in (Code.INVALID_TOKEN, Code.TOKEN_EXPIRED,
                                Code.REFRESH_TOKEN_INVALID, Code.REFRESH_TOKEN_EXPIRED)
    assert CODEC.decode_purpose("password-reset", token, NOW) is None


TEXT = st.text(st.characters(blacklist_categories=("Cs",)), max_size=20)  # no lone surrogates
JSON_LEAF = st.one_of(st.none(), st.booleans(), st.integers(-2**63, 2**63),
                      st.floats(allow_nan=False, allow_infinity=False), TEXT)
JSON = st.recursive(JSON_LEAF, lambda inner: st.one_of(
    st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=8), inner, max_size=3)),
    max_leaves=8)
CLAIM_NAMES = ["sub", "sessionId", "type", "iat", "exp", "nbf", "iss", "aud", "jti", "gen", "id"]


@PROPS
@given(st.dictionaries(st.sampled_from(CLAIM_NAMES), JSON, max_size=11),
       st.dictionaries(st.sampled_from(["kid", "typ", "cty", "crit", "jku", "x5u"]), JSON,
                       max_size=3))
def test_correctly_signed_payloads_of_any_shape(payload: dict[str, Any],
                                                headers: dict[str, Any]) -> None:
    """Even with the right key, a payload of the wrong shape is refused with AuthError, and
    whatever is accepted has the types the session lookup relies on."""
    try:
        access = jwt.encode(payload, ROOT, algorithm="HS256", headers=headers)
        refresh = jwt.encode(payload, derive(ROOT, "refresh-jwt"), algorithm="HS256",
                             headers=headers)
    except (TypeError, ValueError, jwt.PyJWTError):
        assume(False)  # PyJWT itself refuses to build it (e.g. a non-string "typ")
    try:
        claims = CODEC.decode_access(access, NOW)
    except AuthError:
        pass
    else:
        assert isinstance(claims["sub"], str) and isinstance(claims["sessionId"], str)
        assert claims["type"] == "access"
    try:
        got = CODEC.decode_refresh(refresh, NOW)
    except AuthError:
        pass
    else:
        assert isinstance(got.user_id, str) and isinstance(got.session_id, str)
        assert isinstance(got.generation, int)


# validation messages --------------------------------------------------------------------
MODELS: list[type[BaseModel]] = [SignupIn, LoginIn, RefreshIn, ToggleMfaIn]


@PROPS
@given(st.sampled_from(MODELS), st.one_of(JSON, st.dictionaries(
    st.sampled_from(["email", "phone", "password", "tenantId", "providerName", "credentials",
                     "rememberMe", "refreshToken", "enabled", "guard"]), JSON, max_size=5)))
def test_every_real_validation_error_gets_a_sentence(model: type[BaseModel], body: Any) -> None:
    try:
        model.model_validate(body)
    except ValidationError as exc:
        msg = validation_message(list(exc.errors()))
        assert isinstance(msg, str) and msg and "\n" not in msg


SECRET = st.text(alphabet=string.ascii_letters + string.digits + "!#%&*", min_size=12,
                 max_size=40)


@PROPS
@given(SECRET, st.sampled_from(["short", "long", "type", "extra"]))
def test_validation_messages_never_echo_the_value(secret: str, how: str) -> None:
    """A rejected password (or anything) is never repeated back in the error body."""
    value: Any = {"short": "", "long": secret * 200, "type": [secret], "extra": secret}[how]
    body = {"email": f"{secret}@", "password": value, "tenantId": {"x": secret}}
    with pytest.raises(ValidationError) as info:
        SignupIn.model_validate(body)
    assert secret not in validation_message(list(info.value.errors()))


ERROR_DICT = st.fixed_dictionaries({}, optional={
    "type": st.one_of(st.sampled_from(["missing", "string_too_short", "string_too_long",
                                       "enum", "literal_error", "value_error", "json_invalid",
                                       "model_type", "bool_type", "other"]), st.text()),
    "loc": st.lists(st.one_of(st.text(max_size=10), st.integers()), max_size=4).map(tuple),
    "msg": st.text(max_size=30),
    "ctx": st.dictionaries(st.sampled_from(["min_length", "max_length", "expected"]),
                           st.one_of(st.integers(), st.text(max_size=10), st.none()),
                           max_size=3),
})


@PROPS
@given(st.lists(ERROR_DICT, max_size=3))
def test_validation_message_never_raises_on_odd_error_lists(errors: list[dict[str, Any]]) -> None:
    assert isinstance(validation_message(errors), str)


# config keys ----------------------------------------------------------------------------
WORD = st.text(alphabet=string.ascii_lowercase, min_size=1, max_size=8)
SNAKE = st.lists(WORD, min_size=1, max_size=4).map("_".join)


def camel(snake: str) -> str:
    first, *rest = snake.split("_")
    return first + "".join(w.title() for w in rest)


@PROPS
@given(SNAKE)
def test_camel_case_keys_map_back_and_snake_keys_stay(key: str) -> None:
    assert _snake(camel(key)) == key
    assert _snake(key) == key
    assert _snake(_snake(camel(key))) == _snake(camel(key))


def _field_names(model: type[BaseModel], prefix: str = "") -> list[tuple[str, type[BaseModel]]]:
    out = []
    for name, field in model.model_fields.items():
        out.append((prefix + name, model))
        ann = field.annotation
        if isinstance(ann, type) and issubclass(ann, BaseModel):
            out.extend(_field_names(ann, prefix + name + "."))
    return out


def test_every_setting_can_be_written_in_camel_case() -> None:
    for dotted, _ in _field_names(Settings):
        for part in dotted.split("."):
            assert _snake(camel(part)) == part, dotted


NESTED = st.recursive(st.dictionaries(SNAKE, JSON_LEAF.filter(lambda v: v is not None),
                                      max_size=3),
                      lambda inner: st.dictionaries(SNAKE, inner, max_size=3), max_leaves=10)


def _camel_keys(v: Any) -> Any:
    return {camel(k): _camel_keys(x) for k, x in v.items()} if isinstance(v, dict) else v


@settings(PROPS, max_examples=60)
@given(NESTED, st.sampled_from([".json", ".yaml", ".toml"]))
def test_config_files_in_camel_case_read_as_snake(data: dict[str, Any], suffix: str) -> None:
    assume(all(not isinstance(v, float) or math.isfinite(v) for v in data.values()))
    camelled = _camel_keys(data)
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / f"authgate{suffix}"
        if suffix == ".json":
            path.write_text(json.dumps(camelled))
        elif suffix == ".yaml":
            import yaml

            path.write_text(yaml.safe_dump(camelled))
        else:
            assume(_toml_able(camelled))
            path.write_text(_to_toml(camelled))
        got = read_config_file(path)
    # keys that collide after conversion (fooBar and foo_bar) are not generated: SNAKE keys
    # are unique per level, and their camel forms are unique too
    assert got == _snake_keys(camelled)
    assert _keys(got) == _keys(data)


def _keys(v: Any) -> Any:
    return {k: _keys(x) for k, x in v.items()} if isinstance(v, dict) else None


def _toml_able(v: Any) -> bool:
    if isinstance(v, dict):
        return all(_toml_able(x) for x in v.values())
    return isinstance(v, (bool, int, str)) and not (isinstance(v, int) and abs(v) >= 2**63)


def _toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return str(v).lower()
    if isinstance(v, str):  # JSON escapes, minus the surrogate pairs TOML refuses
        return json.dumps(v, ensure_ascii=False).replace("\x7f", "\\u007f")
    return json.dumps(v)


def _to_toml(data: dict[str, Any], prefix: str = "") -> str:
    scalars = {k: v for k, v in data.items() if not isinstance(v, dict)}
    tables = {k: v for k, v in data.items() if isinstance(v, dict)}
    lines = [f"[{prefix}]"] if prefix else []
    lines += [f"{k} = {_toml_value(v)}" for k, v in scalars.items()]
    out = "\n".join(lines) + "\n"
    for k, v in tables.items():
        out += _to_toml(v, f"{prefix}.{k}" if prefix else k)
    return out


@settings(PROPS, max_examples=80)
@given(st.binary(max_size=200), st.sampled_from([".json", ".yaml", ".yml", ".toml", ".ini"]))
@example(b"a: [1, 2\n", ".yaml")
@example(b"\xff\xfe", ".toml")
@example(b"- 1\n- 2\n", ".yaml")
@example(b"!!python/object:os.system ls", ".yaml")
def test_a_broken_config_file_is_a_value_error(content: bytes, suffix: str) -> None:
    """The CLI turns ValueError/OSError into a one-line message; nothing else may escape."""
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / f"authgate{suffix}"
        path.write_bytes(content)
        try:
            got = read_config_file(path)
        except ValueError:
            return
    assert isinstance(got, dict)
