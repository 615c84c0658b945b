"""authgate: authentication and multi-factor security, wire-compatible with @ackplus/nest-auth."""

__version__ = "0.1.0"
