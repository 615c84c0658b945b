"""The single place where errors become HTTP: status table and the error envelope.

Every error body is ``{"statusCode", "error", "message", "code"}``: ``error`` is the HTTP
reason phrase, ``code`` is stable. Unexpected faults are logged with their trace and answered
with a bare 500 envelope that reveals nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from http import HTTPStatus
from typing import Any, TypeVar

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as SATimeoutError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from authgate import events
from authgate.db import database_unavailable
from authgate.errors import AuthError, Code, ServiceUnavailable, backend_of
from authgate.http.no_store import NoStoreJSON

log = logging.getLogger("authgate.http")

ERROR_CODE_KEY = "authgate.error_code"
"""Where the error handlers leave a failed request's ``code`` in the ASGI scope (read by the
metrics observation and the request log, ``http/edge.py``)."""
STATUS: dict[Code, int] = {
    Code.INVALID_INPUT: 400,
    Code.PAYLOAD_TOO_LARGE: 413,
    Code.UNSUPPORTED_MEDIA_TYPE: 415,
    Code.NOT_FOUND: 404,
    Code.METHOD_NOT_ALLOWED: 405,
    Code.INTERNAL_ERROR: 500,
    Code.SERVICE_UNAVAILABLE: 503,
    Code.MISSING_REQUIRED_FIELD: 400,
    Code.MISSING_REQUIRED_FIELDS: 400,
    Code.EMAIL_OR_PHONE_REQUIRED: 400,
    Code.INVALID_PHONE_FORMAT: 400,
    Code.REGISTRATION_DISABLED: 403,
    Code.EMAIL_ALREADY_EXISTS: 400,
    Code.PHONE_ALREADY_EXISTS: 400,
    Code.INVALID_CREDENTIALS: 401,
    Code.INVALID_PROVIDER: 401,
    Code.PROVIDER_NOT_FOUND: 400,
    Code.USER_NOT_FOUND: 401,
    Code.ACCOUNT_INACTIVE: 401,
    Code.ACCOUNT_LOCKED: 429,
    Code.RATE_LIMITED: 429,
    Code.EMAIL_NOT_VERIFIED: 403,
    Code.TENANT_NOT_ENABLED: 400,
    Code.TENANT_NOT_FOUND: 400,
    Code.TENANT_ID_REQUIRED: 400,
    Code.TENANT_SWITCHING_DISABLED: 400,
    Code.TENANT_SWITCHING_NOT_SUPPORTED: 400,
    Code.NOT_A_MEMBER_OF_TENANT: 403,
    Code.TENANT_ALREADY_EXISTS: 409,
    Code.INVALID_SLUG_FORMAT: 400,
    Code.PASSWORDLESS_DISABLED: 403,
    Code.EMAIL_DOMAIN_NOT_ALLOWED: 403,
    Code.NO_AUTH_PROVIDED: 401,
    Code.INVALID_AUTH_FORMAT: 401,
    Code.INVALID_AUTH_TYPE: 401,
    Code.INVALID_API_KEY_FORMAT: 401,
    Code.INVALID_API_KEY: 401,
    Code.API_KEY_NOT_FOUND: 404,
    Code.API_KEY_LIMIT_REACHED: 403,
    Code.INVALID_TOKEN: 401,
    Code.TOKEN_EXPIRED: 401,
    Code.SESSION_NOT_FOUND: 401,
    Code.MAX_SESSIONS_REACHED: 403,
    Code.REFRESH_TOKEN_INVALID: 401,
    Code.REFRESH_TOKEN_EXPIRED: 401,
    Code.JWKS_NOT_AVAILABLE: 404,
    Code.CSRF_TOKEN_INVALID: 403,
    Code.CSRF_ORIGIN_REJECTED: 403,
    Code.ACCESS_DENIED: 403,
    Code.MISSING_REQUIRED_ROLES: 403,
    Code.MISSING_REQUIRED_PERMISSIONS: 403,
    Code.NO_ROLES_ASSIGNED: 403,
    Code.GUARD_MISMATCH: 403,
    Code.GUARD_NOT_ALLOWED: 400,
    Code.ROLE_ALREADY_EXISTS: 409,
    Code.ROLE_NOT_FOUND: 404,
    Code.PERMISSION_ALREADY_EXISTS: 409,
    Code.PERMISSION_NOT_FOUND: 404,
    Code.CURRENT_PASSWORD_INCORRECT: 400,
    Code.NEW_PASSWORD_SAME_AS_CURRENT: 400,
    Code.PASSWORD_TOO_SHORT: 400,
    Code.PASSWORD_TOO_LONG: 400,
    Code.PASSWORD_TOO_COMMON: 400,
    Code.PASSWORD_TOO_WEAK: 400,
    Code.PASSWORD_CONTAINS_IDENTIFIER: 400,
    Code.PASSWORD_RESET_INVALID_REQUEST: 400,
    Code.PASSWORD_RESET_TOKEN_INVALID: 400,
    Code.MUST_CHANGE_PASSWORD: 403,
    Code.VERIFICATION_CODE_INVALID: 400,
    Code.VERIFICATION_CODE_EXPIRED: 400,
    Code.TOO_MANY_ATTEMPTS: 429,
    Code.RESEND_TOO_SOON: 429,
    Code.DELIVERY_FAILED: 502,
    Code.EMAIL_ALREADY_VERIFIED: 400,
    Code.PHONE_ALREADY_VERIFIED: 400,
    Code.NO_EMAIL_ADDRESS: 400,
    Code.NO_PHONE_NUMBER: 400,
    Code.MFA_NOT_ENABLED: 403,
    Code.MFA_REQUIRED: 401,
    Code.MFA_CODE_INVALID: 401,
    Code.MFA_CODE_EXPIRED: 401,
    Code.MFA_METHOD_NOT_AVAILABLE: 400,
    Code.MFA_TOGGLING_NOT_ALLOWED: 403,
    Code.MFA_CANNOT_ENABLE_WITHOUT_METHOD: 403,
    Code.MFA_RECOVERY_CODE_INVALID: 401,
    Code.MFA_DEVICE_NOT_FOUND: 404,
    Code.MFA_ENROLLMENT_REQUIRED: 403,
    Code.MFA_TOO_MANY_ATTEMPTS: 429,
    Code.REAUTH_REQUIRED: 403,
    Code.ADMIN_CONSOLE_DISABLED: 404,
    Code.ADMIN_AUTH_REQUIRED: 401,
    Code.ADMIN_SESSION_INVALID: 401,
    Code.ADMIN_SESSION_REVOKED: 401,
    Code.ADMIN_BOOTSTRAP_CLOSED: 403,
    Code.ADMIN_CONSOLE_SECRET_NOT_CONFIGURED: 400,
    Code.ADMIN_MANAGEMENT_DISABLED: 403,
    Code.ADMIN_USER_EXISTS: 409,
    Code.ADMIN_USER_NOT_FOUND: 404,
    Code.ADMIN_LAST_REMAINING: 409,
    Code.ADMIN_PASSWORD_TOO_SHORT: 400,
    Code.ADMIN_TOTP_REQUIRED: 401,
    Code.INVALID_SECRET_KEY: 401,
    Code.SECRET_KEY_NOT_CONFIGURED: 401,
    Code.PASSKEYS_NOT_ENABLED: 403,
    Code.PASSKEY_CHALLENGE_INVALID: 400,
    Code.PASSKEY_REGISTRATION_FAILED: 400,
    Code.PASSKEY_ALREADY_REGISTERED: 409,
    Code.PASSKEY_LIMIT_REACHED: 400,
    Code.PASSKEY_INVALID: 401,
    Code.PASSKEY_CLONE_DETECTED: 401,
    Code.PASSKEY_NOT_FOUND: 404,
    Code.USER_ALREADY_EXISTS: 409,
    Code.PLATFORM_ACCESS_DISABLED: 400,
    Code.ROLE_NAME_REQUIRED: 400,
    Code.ROLE_PERMISSION_VALIDATION_FAILED: 400,
    Code.NOT_PLATFORM_USER: 400,
    Code.OAUTH_PROVIDER_ERROR: 401,
    Code.OAUTH_PROVIDER_UNAVAILABLE: 503,
    Code.OAUTH_EMAIL_NOT_PUBLIC: 401,
    Code.OAUTH_STATE_INVALID: 400,
    Code.SOCIAL_EMAIL_NOT_VERIFIED: 401,
    Code.IDENTITY_ALREADY_LINKED: 409,
    Code.IDENTITY_NOT_FOUND: 404,
    Code.LAST_SIGN_IN_METHOD: 409,
}


_OVERRIDES = "__authgate_statuses__"
_F = TypeVar("_F", bound=Callable[..., Any])


def route_statuses(overrides: Mapping[Code, int]) -> Callable[[_F], _F]:
    """Declare on a route's endpoint where it answers a code with another status than
    ``STATUS`` (contract quirks: the edge knows them, the flows do not). Put it under the
    ``@router.<method>(...)`` line; it costs the route nothing (read only on an error)."""
    def mark(endpoint: _F) -> _F:
        setattr(endpoint, _OVERRIDES, dict(overrides))
        return endpoint
    return mark


def status_of(err: AuthError, request: Request | None = None) -> int:
    """The table's status for ``err.code``, or the matched route's declared override."""
    if request is not None:
        declared: Mapping[Code, int] | None = getattr(
            request.scope.get("endpoint"), _OVERRIDES, None)
        if declared is not None and err.code in declared:
            return declared[err.code]
    return STATUS.get(err.code, 400)


def envelope(status: int, message: str, code: str, headers: dict[str, str] | None = None) -> Response:
    body = {
        "statusCode": status,
        "error": HTTPStatus(status).phrase,
        "message": message,
        "code": code,
    }
    return NoStoreJSON(orjson.dumps(body), status_code=status, headers=headers)


def auth_error_response(err: AuthError, request: Request | None = None) -> Response:
    headers = {"Retry-After": str(err.retry_after)} if err.retry_after is not None else None
    return envelope(status_of(err, request), err.message, err.code.value, headers)


_CONSTRAINTS = {
    "missing": "should not be null or undefined",
    "bool_type": "must be a boolean value",
    "bool_parsing": "must be a boolean value",
    "string_type": "must be a string",
    "int_type": "must be an integer number",
    "dict_type": "must be an object",
    "model_type": "must be an object",
    "model_attributes_type": "must be an object",
    "list_type": "must be an array",
    "enum": "must be one of the following values",
    "literal_error": "must be one of the following values",
}


def validation_message(errors: list[dict[str, Any]]) -> str:
    """class-validator style: '<property> <constraint>' for the first failing field."""
    if not errors:
        return "Invalid input"
    err = errors[0]
    loc = [str(p) for p in err.get("loc", ()) if p not in ("body", "query", "path", "header")]
    field = ".".join(loc) or "body"
    kind = err.get("type", "")
    if kind == "json_invalid":
        return "Malformed JSON body"
    if kind == "missing" and not loc:
        return "Request body is required"
    if kind in ("model_type", "model_attributes_type", "dict_type") and not loc:
        return "Request body must be a JSON object"
    ctx = err.get("ctx") or {}
    if kind in ("string_too_short",):
        n = ctx.get("min_length", 1)
        return (f"{field} should not be empty" if n == 1
                else f"{field} must be longer than or equal to {n} characters")
    if kind in ("string_too_long",):
        return f"{field} must be shorter than or equal to {ctx.get('max_length')} characters"
    if kind in ("enum", "literal_error"):
        expected = str(ctx.get("expected", ""))
        return f"{field} must be one of the following values: {expected.replace(chr(39), '')}"
    if kind == "value_error":
        msg = str(err.get("msg", "")).removeprefix("Value error, ")
        return f"{field} {msg}" if not msg.startswith(field) else msg
    constraint = _CONSTRAINTS.get(kind)
    return f"{field} {constraint}" if constraint else f"{field}: {err.get('msg', 'is invalid')}"


async def _denied(request: Request, exc: AuthError) -> None:
    """Every refused authentication or authorisation is an ``access.denied`` event (ASVS
    7.2.2): the security log writes it with the client. Costs nothing on a success."""
    from authgate.http.deps import request_origin

    res = getattr(request.app.state, "authgate", None)
    if res is None:
        return
    token = events.bind_origin(lambda: request_origin(request.scope))
    try:
        await res.events.emit(events.Event(events.ACCESS_DENIED, None, {
            "reason": exc.code.value, "path": request.url.path[:64],
            "httpMethod": request.method}))
    finally:
        events.unbind_origin(token)


def _count_backend_error(request: Request, exc: BaseException) -> None:
    """``authgate_backend_errors_total{backend}`` (with ``metrics.enabled``): which backing
    service failed, where ``authgate_errors_total{code="SERVICE_UNAVAILABLE"}`` only says
    that one did."""
    res = getattr(request.app.state, "authgate", None)
    if res is not None and res.metrics is not None:
        res.metrics.backend_error(backend_of(exc) or "other")


def install(app: FastAPI, *, redis_errors: bool = True) -> None:
    """The error envelope for every failure of ``app``. ``redis_errors=False`` (nothing in
    the process uses Redis) leaves out the 503 handler of Redis failures, and with it the
    import of the redis package (about 5 MB of a worker's memory)."""
    @app.exception_handler(AuthError)
    async def _auth(request: Request, exc: AuthError) -> Response:
        request.scope[ERROR_CODE_KEY] = exc.code.value  # for the metrics hook, if any
        if isinstance(exc, ServiceUnavailable):
            log.warning("503: %s", exc.message)
            _count_backend_error(request, exc)
        response = auth_error_response(exc, request)
        if response.status_code in (401, 403):
            await _denied(request, exc)
        return response

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> Response:
        return envelope(400, validation_message(list(exc.errors())), Code.INVALID_INPUT.value)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        code = {404: Code.NOT_FOUND, 405: Code.METHOD_NOT_ALLOWED, 413: Code.PAYLOAD_TOO_LARGE,
                415: Code.UNSUPPORTED_MEDIA_TYPE}.get(exc.status_code, Code.INVALID_INPUT)
        if exc.status_code == 404:
            message = f"Cannot {request.method} {request.url.path}"
        else:
            message = str(exc.detail) if exc.detail else HTTPStatus(exc.status_code).phrase
        return envelope(exc.status_code, message, code.value, dict(exc.headers or {}))

    async def _unavailable(request: Request, exc: Exception) -> Response:
        request.scope[ERROR_CODE_KEY] = Code.SERVICE_UNAVAILABLE.value
        _count_backend_error(request, exc)
        log.warning("backing service unavailable: %s: %s", type(exc).__name__, exc)
        return auth_error_response(ServiceUnavailable())

    infra: list[type[Exception]] = [OperationalError, InterfaceError, ConnectionError,
                                    TimeoutError, SATimeoutError]
    if redis_errors:
        from authgate.redisconn import failures

        infra[2:2] = failures()  # a cluster's errors are not all RedisErrors
    for exc_type in infra:
        app.add_exception_handler(exc_type, _unavailable)

    @app.exception_handler(Exception)
    async def _crash(request: Request, exc: Exception) -> Response:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return envelope(500, "Internal server error", Code.INTERNAL_ERROR.value)

    @app.exception_handler(DBAPIError)
    async def _database(request: Request, exc: DBAPIError) -> Response:
        # "too many clients", a server shutting down or starting up: 503, not a crash
        if database_unavailable(exc):
            return await _unavailable(request, exc)
        return await _crash(request, exc)
