"""``/auth/admin/api/blocked-email-domains``: the domains refused at signup (flows in
``authgate.admin.blocked_domains``; the check in ``authgate.identity.blocked_domains``)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import Field, StringConstraints
from starlette.responses import Response

from authgate.admin import blocked_domains as flows
from authgate.admin.http.api_deps import AdminActor, AtMost1000, lenient_int
from authgate.admin.http.deps import ADMIN_SECURED, AdminAuthed, admin_errors
from authgate.admin.http.views import MessageOut
from authgate.clock import iso_millis as iso
from authgate.http.deps import Res
from authgate.http.schemas import _In, _Out, respond
from authgate.identity.blocked_domains import MAX_DOMAIN_LENGTH

router = APIRouter(prefix="/admin/api/blocked-email-domains",
                   tags=["Admin · Blocked Email Domains"])

Domain = Annotated[str, StringConstraints(strict=True, max_length=MAX_DOMAIN_LENGTH)]


class AddDomainsIn(_In):
    domains: Annotated[list[Domain], AtMost1000] = Field(
        ..., min_length=1, examples=[["mailinator.com", "@tempmail.dev"]])


class BlockedDomainOut(_Out):
    id: str
    domain: str
    source: str
    createdAt: str | None


class DomainPageOut(_Out):
    data: list[BlockedDomainOut]
    total: int
    page: int
    pageSize: int


class AddedOut(_Out):
    added: int
    skipped: int


class DomainStatsOut(_Out):
    count: int
    defaultCount: int


class ImportedOut(_Out):
    imported: int
    total: int


@router.get("", response_model=DomainPageOut, responses=admin_errors(),
            summary="Blocked domains (search, paging)", openapi_extra=ADMIN_SECURED)
async def list_domains(res: Res, admin: AdminAuthed,
                       search: str | None = Query(None, max_length=MAX_DOMAIN_LENGTH),
                       page: str | None = Query(None),
                       pageSize: str | None = Query(None)) -> Response:
    found = await flows.list_domains(res, search=search, page=lenient_int(page, 1),
                                     page_size=lenient_int(pageSize, 50))
    return respond(DomainPageOut(
        data=[BlockedDomainOut(id=d.id, domain=d.domain, source=d.source,
                               createdAt=iso(d.created_at)) for d in found.items],
        total=found.total, page=found.page, pageSize=found.page_size))


@router.post("", status_code=201, response_model=AddedOut, responses=admin_errors(400),
             summary="Block domains (a subdomain of a blocked domain is blocked too)",
             openapi_extra=ADMIN_SECURED)
async def add_domains(body: AddDomainsIn, res: Res, actor: AdminActor) -> Response:
    added, skipped = await flows.add(res, actor, body.domains)
    return respond(AddedOut(added=added, skipped=skipped), 201)


@router.get("/stats", response_model=DomainStatsOut, responses=admin_errors(),
            summary="Blocked domains and the size of the shipped default list",
            openapi_extra=ADMIN_SECURED)
async def stats(res: Res, admin: AdminAuthed) -> Response:
    count, default_count = await flows.stats(res)
    return respond(DomainStatsOut(count=count, defaultCount=default_count))


@router.post("/import-defaults", status_code=201, response_model=ImportedOut,
             responses=admin_errors(), summary="Import the shipped disposable-domain list",
             openapi_extra=ADMIN_SECURED)
async def import_defaults(res: Res, actor: AdminActor) -> Response:
    imported, total = await flows.import_defaults(res, actor)
    return respond(ImportedOut(imported=imported, total=total), 201)


@router.delete("/{idOrDomain}", response_model=MessageOut, responses=admin_errors(),
               summary="Unblock a domain (by id or by name)", openapi_extra=ADMIN_SECURED)
async def remove_domain(idOrDomain: str, res: Res, actor: AdminActor) -> Response:
    await flows.remove(res, actor, idOrDomain)
    return respond(MessageOut(message="Removed"))
