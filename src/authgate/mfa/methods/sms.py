"""MFA by a code sent by SMS to the account's phone number."""

from authgate.mfa.methods.delivered import DeliveredCode

METHOD = DeliveredCode(name="sms", channel="sms", address_field="phone",
                       login_rank=20, status_rank=30)
