"""The admin console's fixtures (``console``, ``admin_client``) for the audit-log tests."""

from tests.admin.conftest import admin_client, console  # noqa: F401
