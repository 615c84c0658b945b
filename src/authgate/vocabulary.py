"""The words the feature packages share: delivery channels and one-time-code purposes.

One definition here, so ``identity``, ``otp``, ``delivery`` and ``mfa`` agree without
importing each other. MFA method names are not listed here: they come from the MFA method
registry (``authgate.mfa.methods``).
"""

from __future__ import annotations

from typing import Final, Literal

Channel = Literal["email", "sms"]
"""A way to deliver a one-time code: an email address or a phone number (SMS)."""
CHANNELS: Final[tuple[Channel, ...]] = ("email", "sms")

Purpose = Literal[
    "mfa", "email_verification", "phone_verification", "password_reset", "passwordless_login"]
"""What a one-time code proves; a code is only ever accepted for the purpose it was issued
for (a password-reset code never passes the MFA step)."""
MFA: Final = "mfa"
EMAIL_VERIFICATION: Final = "email_verification"
PHONE_VERIFICATION: Final = "phone_verification"
PASSWORD_RESET: Final = "password_reset"
PASSWORDLESS_LOGIN: Final = "passwordless_login"
PASSWORD_RESET_TOKEN: Final = "password_reset_token"
"""Not a code: the single-use token a verified reset code is exchanged for (same table)."""

SecurityNotice = Literal[
    "password_changed", "password_was_reset", "mfa_enabled", "mfa_disabled", "mfa_device_added",
    "mfa_device_removed", "recovery_codes_generated", "recovery_code_used", "new_sign_in",
    "refresh_reuse", "totp_replay", "account_deleted"]
"""The security notices emailed to an account's owner (``authgate.notifications.emails``);
each is the name of its template, ``email/<name>.txt|.html``."""
SECURITY_NOTICES: Final[tuple[SecurityNotice, ...]] = (
    "password_changed", "password_was_reset", "mfa_enabled", "mfa_disabled", "mfa_device_added",
    "mfa_device_removed", "recovery_codes_generated", "recovery_code_used", "new_sign_in",
    "refresh_reuse", "totp_replay", "account_deleted")
