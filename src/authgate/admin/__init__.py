"""The admin console: admin accounts (separate from end users), their sessions, and the
``/auth/admin`` routes and pages. Off unless ``admin_console.enabled`` with a secret key."""
