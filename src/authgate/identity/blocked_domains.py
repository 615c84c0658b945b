"""Blocked e-mail domains: the signup check (``email_auth.disposable``) and the list the
admin console manages.

A domain is blocked when it, or any domain above it, is in the table or (with
``use_default_list``) in the shipped disposable-domain list: ``a.b.mailinator.com`` is
blocked by ``mailinator.com`` (upstream compares the exact domain only, W21). The table
is read with one indexed ``IN`` over the address's suffixes; the shipped list is a set in
memory, loaded on the first check or import (never on the hot path).
"""

from __future__ import annotations

import functools
import uuid
from dataclasses import dataclass

from sqlalchemy import delete, func, select

from authgate.errors import AuthError, Code
from authgate.events import DISPOSABLE_EMAIL_DETECTED, Event
from authgate.identity.models import BlockedEmailDomain
from authgate.resources import Resources
from authgate.tx import readonly, transaction
from authgate.upsert import insert

MAX_DOMAIN_LENGTH = 253
_BATCH = 500


@functools.cache
def default_domains() -> frozenset[str]:
    """The disposable-domain list of the ``disposable-email-domains`` package (maintained
    upstream by the disposable-email-domains project), normalised."""
    from disposable_email_domains import allowlist, blocklist  # large sets: on first use

    return frozenset(d for d in (normalise(x) for x in blocklist) if d) - {
        normalise(x) for x in allowlist}


def normalise(domain: str) -> str:
    """Lower-case, surrounding space, leading ``@`` and trailing dots removed."""
    return domain.strip().lower().lstrip("@").rstrip(".")


def domain_of(email: str) -> str | None:
    at = email.rfind("@")
    if at < 0:
        return None
    return normalise(email[at + 1:]) or None


def suffixes(domain: str) -> list[str]:
    """``a.b.example.com`` → itself, ``b.example.com``, ``example.com``, ``com``."""
    labels = domain.split(".")
    return [".".join(labels[i:]) for i in range(len(labels)) if labels[i]]


async def blocked_domain(res: Resources, email: str) -> str | None:
    """The domain of ``email`` when a blocking rule matches it, else None."""
    cfg = res.settings.email_auth.disposable
    domain = domain_of(email)
    if domain is None:
        return None
    above = suffixes(domain)
    if any(d in cfg.allowlist for d in above):
        return None
    if cfg.use_default_list and not default_domains().isdisjoint(above):
        return domain
    async with readonly(res.readmaker) as s:
        hit = (await s.execute(
            select(BlockedEmailDomain.id).where(BlockedEmailDomain.domain.in_(above)).limit(1)
        )).first()
    return domain if hit is not None else None


async def check_signup(res: Resources, email: str | None) -> None:
    """Refuse (403 ``EMAIL_DOMAIN_NOT_ALLOWED``) or flag a signup from a blocked domain;
    does nothing unless ``email_auth.disposable.enabled``."""
    cfg = res.settings.email_auth.disposable
    if not cfg.enabled or not email:
        return
    domain = await blocked_domain(res, email)
    if domain is None:
        return
    if cfg.mode == "block":
        raise AuthError(Code.EMAIL_DOMAIN_NOT_ALLOWED)
    await res.events.emit(Event(DISPOSABLE_EMAIL_DETECTED, None,
                                {"email": email, "domain": domain}))


# the list (admin console) ------------------------------------------------------------------
@dataclass(frozen=True)
class Page:
    items: list[BlockedEmailDomain]
    total: int
    page: int
    page_size: int


async def list_domains(res: Resources, *, search: str | None, page: int,
                       page_size: int) -> Page:
    """Alphabetical, ``search`` a substring (LIKE wildcards in it are matched literally)."""
    stmt = select(BlockedEmailDomain)
    count = select(func.count()).select_from(BlockedEmailDomain)
    term = normalise(search or "")
    if term:
        escaped = term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        cond = BlockedEmailDomain.domain.like(f"%{escaped}%", escape="\\")
        stmt = stmt.where(cond)
        count = count.where(cond)
    async with readonly(res.readmaker) as s:
        total = int((await s.execute(count)).scalar_one())
        rows = (await s.execute(
            stmt.order_by(BlockedEmailDomain.domain)
            .offset((page - 1) * page_size).limit(page_size))).scalars().all()
    return Page(items=list(rows), total=total, page=page, page_size=page_size)


async def _insert_new(res: Resources, domains: list[str], source: str) -> int:
    """Insert the domains not there yet (a concurrent insert of the same domain is skipped,
    not an error); returns how many rows were added."""
    added = 0
    now = res.clock.now()
    table = BlockedEmailDomain.__table__
    async with transaction(res.sessionmaker) as tx:
        for i in range(0, len(domains), _BATCH):
            batch = domains[i:i + _BATCH]
            stmt = (insert(res.db, table)
                    .values([{"id": str(uuid.uuid4()), "domain": d, "source": source,
                              "created_at": now} for d in batch])
                    .on_conflict_do_nothing(index_elements=["domain"])
                    .returning(table.c.id))
            added += len((await tx.session.execute(stmt)).all())
    return added


async def add_domains(res: Resources, domains: list[str]) -> tuple[int, int]:
    """Add manual entries: ``(added, skipped)``; duplicates, in the list or in the table,
    are skipped."""
    clean = list(dict.fromkeys(d for d in (normalise(x) for x in domains) if d))
    if not clean:
        return 0, 0
    added = await _insert_new(res, clean, "manual")
    return added, len(clean) - added


async def import_defaults(res: Resources) -> tuple[int, int]:
    """Copy the shipped list into the table: ``(imported, total rows after)``."""
    added = await _insert_new(res, sorted(default_domains()), "default")
    return added, await count(res)


async def count(res: Resources) -> int:
    async with readonly(res.readmaker) as s:
        return int((await s.execute(
            select(func.count()).select_from(BlockedEmailDomain))).scalar_one())


async def remove(res: Resources, id_or_domain: str) -> int:
    """Delete by id (a UUID) or by domain; returns the rows removed (0 is not an error)."""
    try:
        cond = BlockedEmailDomain.id == str(uuid.UUID(id_or_domain))
    except ValueError:
        cond = BlockedEmailDomain.domain == normalise(id_or_domain)
    async with transaction(res.sessionmaker) as tx:
        result = await tx.session.execute(delete(BlockedEmailDomain).where(cond))
    return int(result.rowcount)  # type: ignore[attr-defined]
