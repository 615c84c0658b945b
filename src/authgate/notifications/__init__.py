"""The default subscribers of the event bus (issue #19, ASVS 2.2.3, 2.5.5, 2.8.5, 7.1.3, 7.2.1):
``security_log`` writes every security event as one structured log line, ``emails`` tells
the account's owner about changes to how they sign in. Both are on by default
(``notifications.security_log``, ``notifications.security_emails``); the composition root
subscribes them once per app."""

from __future__ import annotations

from authgate.notifications import emails, security_log
from authgate.resources import Resources


def subscribe(res: Resources) -> None:
    cfg = res.settings.notifications
    if cfg.security_log:
        res.events.subscribe("*", security_log.SecurityLog(res))
    if cfg.security_emails:
        emails.subscribe(res)
