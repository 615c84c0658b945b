"""The blocked e-mail domain list from the admin console (the list and the signup check
are ``authgate.identity.blocked_domains``); every change is audited."""

from __future__ import annotations

from authgate.admin.actor import Actor
from authgate.identity import blocked_domains as domains
from authgate.identity.blocked_domains import Page
from authgate.resources import Resources

MAX_PAGE_SIZE = 200


async def list_domains(res: Resources, *, search: str | None, page: int | None,
                       page_size: int | None) -> Page:
    """Paging brought into range as upstream does (page ≥ 1, 1 ≤ pageSize ≤ 200)."""
    return await domains.list_domains(
        res, search=search, page=max(1, page or 1),
        page_size=min(MAX_PAGE_SIZE, max(1, page_size or 50)))


async def add(res: Resources, actor: Actor, names: list[str]) -> tuple[int, int]:
    added, skipped = await domains.add_domains(res, names)
    await actor.record(res, "blocked_domain.add", None,
                       domains=[domains.normalise(n) for n in names][:50], added=added)
    return added, skipped


async def stats(res: Resources) -> tuple[int, int]:
    """(rows in the table, size of the shipped default list)."""
    return await domains.count(res), len(domains.default_domains())


async def import_defaults(res: Resources, actor: Actor) -> tuple[int, int]:
    imported, total = await domains.import_defaults(res)
    await actor.record(res, "blocked_domain.import_defaults", None, imported=imported)
    return imported, total


async def remove(res: Resources, actor: Actor, id_or_domain: str) -> None:
    removed = await domains.remove(res, id_or_domain)
    await actor.record(res, "blocked_domain.remove", id_or_domain, removed=removed)
