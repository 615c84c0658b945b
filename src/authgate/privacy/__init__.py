"""The account owner's data rights (ASVS 8.3.2; beyond the contract): ``export`` (everything
authgate holds about the caller, never a secret) and ``erasure`` (self-service deletion).
Above ``accounts`` and ``apikeys``: it reads the rows of every feature."""
