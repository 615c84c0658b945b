"""One-time codes sent by email or SMS (MFA, verification, password reset, passwordless)."""
