"""Moving over from other authentication systems (``authgate import ...``)."""
