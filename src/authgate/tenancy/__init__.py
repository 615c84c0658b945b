"""Tenants and memberships: which tenants a user belongs to, the default one, and how a
request's ``tenantId`` is resolved under ``tenant.mode`` (off / shared / isolated)."""
