"""The persisted audit trail (issue #16 §3): one table for what users, admins, the CLI and
the system did (``models.AuditEvent``), written from the event bus by ``trail.AuditTrail``
(batched, after the response, never failing a request), read by ``query.search``, pruned
by ``trail.purge``, and delivered to webhooks through a durable outbox
(``webhooks.Dispatcher``). Below ``http``/``admin``/``cli``, above ``resources``."""
