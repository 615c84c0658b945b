"""Access tokens checked through the providers' own APIs. Each checks first that the token
was issued to *this* app (a token another app obtained for the same person must not sign
in here), then reads the profile."""

from __future__ import annotations

import hashlib
import hmac
from typing import Any

from authgate.config import FacebookSettings, GithubSettings, OidcProviderSettings
from authgate.errors import AuthError, Code
from authgate.federation import outbound
from authgate.federation.profile import Profile, text
from authgate.resources import Resources

MAX_TOKEN = 4096


def _refused(what: str = "access token") -> AuthError:
    return AuthError(Code.OAUTH_PROVIDER_ERROR, f"The provider did not accept this {what}")


def _check_token(token: str) -> None:
    if len(token) > MAX_TOKEN or not token.isprintable() or " " in token:
        raise _refused()


async def google(res: Resources, cfg: OidcProviderSettings, token: str) -> Profile:
    """Google's tokeninfo: the token's ``aud``/``azp`` must be one of our client ids; it
    also carries ``sub``, ``email`` and ``email_verified``."""
    _check_token(token)
    status, info = await outbound.call(res, "GET", res.settings.social.google_tokeninfo_url,
                                       params={"access_token": token}, provider="google")
    if status != 200 or not isinstance(info, dict):
        raise _refused()
    ours = {cfg.client_id, *cfg.extra_audiences}
    if info.get("aud") not in ours and info.get("azp") not in ours:
        raise AuthError(Code.OAUTH_PROVIDER_ERROR, "This access token was issued to another app")
    subject = text(info.get("sub"), 255)
    if subject is None:
        raise _refused()
    email = text(info.get("email"))
    return Profile(provider="google", subject=subject,
                   email=email.lower() if email else None,
                   email_verified=bool(email) and info.get("email_verified") in (True, "true")
                   and cfg.trust_email_verified)


async def github(res: Resources, cfg: GithubSettings, token: str) -> Profile:
    """GitHub: with ``client_secret``, ``POST /applications/{client_id}/token`` proves the
    token is this OAuth app's; ``/user`` gives the id; ``/user/emails`` the primary
    verified address (none: OAUTH_EMAIL_NOT_PUBLIC)."""
    _check_token(token)
    api = res.settings.social.github.api_url
    if cfg.client_id and cfg.client_secret is not None:
        status, _ = await outbound.call(
            res, "POST", f"{api}/applications/{cfg.client_id}/token", provider="github",
            json={"access_token": token},
            auth=(cfg.client_id, cfg.client_secret.get_secret_value()))
        if status != 200:
            raise _refused()
    auth = {"Authorization": f"Bearer {token}", "Accept": "application/vnd.github+json"}
    status, user = await outbound.call(res, "GET", f"{api}/user", headers=auth,
                                       provider="github")
    if status != 200 or not isinstance(user, dict):
        raise _refused()
    user_id = user.get("id")
    if not isinstance(user_id, int) or isinstance(user_id, bool):
        raise _refused()
    status, emails = await outbound.call(res, "GET", f"{api}/user/emails", headers=auth,
                                         provider="github")
    if status != 200 or not isinstance(emails, list):
        raise AuthError(Code.OAUTH_EMAIL_NOT_PUBLIC)
    primary = next((e for e in emails if isinstance(e, dict) and e.get("primary") is True
                    and e.get("verified") is True and text(e.get("email"))), None)
    if primary is None:
        raise AuthError(Code.OAUTH_EMAIL_NOT_PUBLIC)
    return Profile(provider="github", subject=str(user_id),
                   email=str(primary["email"]).strip().lower(), email_verified=True,
                   details=_details(name=user.get("name"), login=user.get("login"),
                                    picture=user.get("avatar_url")))


async def facebook(res: Resources, cfg: FacebookSettings, token: str) -> Profile:
    """Facebook: ``debug_token`` (with the app token) must say valid and this ``app_id``;
    ``/me`` is signed with ``appsecret_proof``. Facebook does not say whether the email
    was verified, so it never links to an existing account by itself."""
    _check_token(token)
    assert cfg.app_id is not None and cfg.app_secret is not None
    secret = cfg.app_secret.get_secret_value()
    graph = cfg.graph_url
    status, debug = await outbound.call(
        res, "GET", f"{graph}/debug_token", provider="facebook",
        params={"input_token": token, "access_token": f"{cfg.app_id}|{secret}"})
    data = debug.get("data") if isinstance(debug, dict) else None
    if status != 200 or not isinstance(data, dict) or data.get("is_valid") is not True:
        raise _refused()
    if str(data.get("app_id")) != cfg.app_id:
        raise AuthError(Code.OAUTH_PROVIDER_ERROR, "This access token was issued to another app")
    proof = hmac.new(secret.encode(), token.encode(), hashlib.sha256).hexdigest()
    status, me = await outbound.call(
        res, "GET", f"{graph}/me", provider="facebook",
        params={"fields": "id,name,email,first_name,last_name,picture",
                "access_token": token, "appsecret_proof": proof})
    if status != 200 or not isinstance(me, dict):
        raise _refused()
    subject = text(me.get("id"), 255)
    if subject is None or (data.get("user_id") is not None and str(data["user_id"]) != subject):
        raise _refused()
    email = text(me.get("email"))
    picture = me.get("picture")
    pic_url = (picture.get("data") or {}).get("url") if isinstance(picture, dict) else None
    return Profile(provider="facebook", subject=subject,
                   email=email.strip().lower() if email else None, email_verified=False,
                   details=_details(name=me.get("name"), givenName=me.get("first_name"),
                                    familyName=me.get("last_name"), picture=pic_url))


def _details(**values: Any) -> dict[str, Any]:
    return {k: v for k, v in values.items() if text(v, 2048) is not None}
