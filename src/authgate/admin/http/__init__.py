"""The admin console's HTTP edge: the admin guard (``deps``), the console routes and pages."""
