"""MFA by a code sent to the account's email address."""

from authgate.mfa.methods.delivered import DeliveredCode

METHOD = DeliveredCode(name="email", channel="email", address_field="email",
                       login_rank=10, status_rank=20)
