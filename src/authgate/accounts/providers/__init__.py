"""The built-in login providers, one module each; registering one is one line here."""

from authgate.accounts.providers import email, passwordless, phone
from authgate.registry import login_providers

login_providers.register(email.PROVIDER)
login_providers.register(phone.PROVIDER)
login_providers.register(passwordless.PROVIDER)
