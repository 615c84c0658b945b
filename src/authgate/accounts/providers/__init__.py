"""The built-in login providers; registering one is one line here."""

from authgate.accounts.providers import passkey, password, passwordless, social
from authgate.registry import login_providers

login_providers.register(password.EMAIL)
login_providers.register(password.PHONE)
login_providers.register(passwordless.PROVIDER)
login_providers.register(passkey.PROVIDER)
login_providers.register(social.GOOGLE)
login_providers.register(social.APPLE)
login_providers.register(social.GITHUB)
login_providers.register(social.FACEBOOK)
login_providers.add_source(social.configured)
