"""The audit trail's rows and its webhook outbox."""

from __future__ import annotations

from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from authgate.db import Base, IdPk, Utc, UtcOpt


class AuditEvent(Base):
    """One thing that happened to an account or was done by an admin: who (``actor_type``
    user/admin/cli/system + ``actor_id``), what (``event``: an event-bus name such as
    ``user.logged_in`` or an admin action such as ``user.update``), to whom (``user_id``:
    the account concerned, ``target``: the object changed), when, from where, the outcome,
    and request-safe ``details`` (an allow-list: never a secret, code or address)."""

    __tablename__ = "authgate_audit_log"
    __table_args__ = (Index("ix_authgate_audit_log_user_id_at", "user_id", "at"),)

    id: Mapped[IdPk]
    at: Mapped[Utc] = mapped_column(index=True)
    event: Mapped[str] = mapped_column(String(64))
    actor_type: Mapped[str] = mapped_column(String(16))
    actor_id: Mapped[str | None] = mapped_column(String(36))
    """The user or admin (None: a secret-key route, an unknown account). Kept after the
    account is deleted: the trail outlives it."""
    actor_email: Mapped[str | None] = mapped_column(String(320))
    """Admins only (the console shows who acted); a user's address is never copied here."""
    user_id: Mapped[str | None] = mapped_column(String(36))
    target: Mapped[str | None] = mapped_column(String(255))
    outcome: Mapped[str] = mapped_column(String(16))
    tenant_id: Mapped[str | None] = mapped_column(String(36))
    ip_address: Mapped[str | None] = mapped_column(String(64))
    user_agent: Mapped[str | None] = mapped_column(String(512))
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class WebhookDelivery(Base):
    """One event owed to one configured endpoint (the outbox): written in the same unit of
    work as the audit row, so nothing is lost on a restart. A sender claims a due row by
    moving ``next_at`` past its lease (``FOR UPDATE SKIP LOCKED`` on PostgreSQL), so two
    processes never send the same row at once; a sender that dies mid-send leaves the row
    to be retried once the lease ends (at-least-once: receivers dedupe on the event id)."""

    __tablename__ = "authgate_webhook_deliveries"
    __table_args__ = (Index("ix_authgate_webhook_deliveries_status_next_at",
                            "status", "next_at"),)

    id: Mapped[IdPk]
    audit_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("authgate_audit_log.id", ondelete="CASCADE"), index=True)
    endpoint: Mapped[str] = mapped_column(String(64))
    """The name under ``audit.webhooks``."""
    status: Mapped[str] = mapped_column(String(16), default="pending")
    """``pending``, ``delivered`` or ``failed`` (gave up after ``webhook_max_attempts``)."""
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_at: Mapped[Utc]
    last_status: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(String(255))
    created_at: Mapped[Utc]
    delivered_at: Mapped[UtcOpt]
