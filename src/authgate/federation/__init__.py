"""Sign-in through other identity providers: verifying their tokens (OpenID Connect ID
tokens, GitHub/Facebook/Google access tokens), the identities linked to an account, and
the server-side authorization-code flow. The login providers in
``authgate.accounts.providers`` are built on it."""
