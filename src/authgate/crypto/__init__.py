"""Pure cryptographic mechanics: no I/O, no database, no HTTP."""
