"""Roles and permissions: what a user holds in a tenant (or outside any), how the session
snapshot carries it, how changes reach live sessions, and the guard's checks."""
