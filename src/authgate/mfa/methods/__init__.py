"""The built-in MFA methods, one module each (``totp``, ``email``, ``sms``, ``webauthn``;
the shape they share is ``base.MfaMethod``); registering one is one line here."""

from authgate.mfa.methods import email, sms, totp, webauthn
from authgate.registry import mfa_methods

mfa_methods.register(totp.METHOD)
mfa_methods.register(email.METHOD)
mfa_methods.register(sms.METHOD)
mfa_methods.register(webauthn.METHOD)
