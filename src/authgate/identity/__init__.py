"""Users, tenants, roles and permissions."""
