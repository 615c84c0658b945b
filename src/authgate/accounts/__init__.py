"""Account flows that open, end or reshape sessions: sign-up and login (``login``), the login
providers (``providers``), password change (``passwords``) and reset (``password_reset``),
passwordless codes (``passwordless``). They sit above ``identity`` (the users), ``sessions``
and ``mfa``, which never import them."""
