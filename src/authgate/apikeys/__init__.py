"""Personal API keys: ``Authorization: ApiKey <publicKey>.<secret>`` for scripts and services."""
