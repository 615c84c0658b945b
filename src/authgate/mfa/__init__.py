"""Multi-factor authentication: TOTP devices, one-time codes, recovery codes, trust."""
