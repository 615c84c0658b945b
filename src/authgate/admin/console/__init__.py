"""The console's page and assets, shipped in the package (no CDN, no build step): one HTML
document (``page.html``, rendered with the console's paths and whether the first admin is
still to be created) and the plain JavaScript and CSS that drive it over the JSON API."""

from __future__ import annotations

import html
from functools import cache
from importlib import resources
from string import Template

ASSETS = {"console.js": "text/javascript; charset=utf-8", "console.css": "text/css; charset=utf-8"}


@cache
def _text(*parts: str) -> str:
    node = resources.files(__name__)
    for part in parts:
        node = node.joinpath(part)
    return node.read_text(encoding="utf-8")


def asset(name: str) -> tuple[str, str] | None:
    """(text, content type) of a console asset, or None for anything else."""
    kind = ASSETS.get(name)
    return None if kind is None else (_text("static", name), kind)


def render_page(*, base: str, app_name: str, bootstrap: bool, csrf_cookie: str,
                csrf_header: str) -> str:
    values = {"base": base, "static": base + "/static", "app_name": app_name,
              "bootstrap": "1" if bootstrap else "0", "csrf_cookie": csrf_cookie,
              "csrf_header": csrf_header}
    return Template(_text("page.html")).substitute(
        {k: html.escape(v, quote=True) for k, v in values.items()})
