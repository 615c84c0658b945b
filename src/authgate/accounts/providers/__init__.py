"""The built-in login providers; registering one is one line here."""

from authgate.accounts.providers import passkey, password, passwordless
from authgate.registry import login_providers

login_providers.register(password.EMAIL)
login_providers.register(password.PHONE)
login_providers.register(passwordless.PROVIDER)
login_providers.register(passkey.PROVIDER)
