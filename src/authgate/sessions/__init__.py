"""Server-side sessions: the record every access and refresh token points at."""
