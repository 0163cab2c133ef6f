"""Server-rendered pages the same way in every service: Jinja2 templates that extend the
kit's `layout.html`, the shared static files under the service's own prefix, bounded form
bodies, redirects that stay inside the app, and the session cookie's attributes."""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from typing import Any
from urllib.parse import parse_qs, quote

from fastapi import FastAPI, Request
from fastapi.responses import Response
from fastapi.staticfiles import StaticFiles
from jinja2 import ChoiceLoader, Environment, PackageLoader, select_autoescape

MAX_FORM_BYTES = 16_384


def environment(package: str, static_prefix: str, **filters: Any) -> Environment:
    """Templates from `<package>/templates`, falling back to the kit's (`layout.html`);
    `static` in every template is where `mount_static` serves the shared files."""
    env = Environment(
        loader=ChoiceLoader(
            [PackageLoader(package, "templates"), PackageLoader("bogfoer_kit.web", "templates")]
        ),
        autoescape=select_autoescape(["html"]),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.globals["static"] = static_prefix
    env.filters["q"] = lambda value: quote(str(value), safe="")
    env.filters.update(filters)
    return env


def mount_static(app: FastAPI, prefix: str, name: str) -> None:
    """Serve the shared look (`bogfoer.css`, vendored htmx) under `prefix`."""
    static = resources.files("bogfoer_kit.web").joinpath("static")
    app.mount(prefix, StaticFiles(directory=str(static)), name=name)


async def read_form(request: Request, limit: int = MAX_FORM_BYTES) -> dict[str, str] | None:
    """An urlencoded form's fields (first value of each); None when the body is too large."""
    body = await request.body()
    if len(body) > limit:
        return None
    parsed = parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True)
    # A NUL (%00) cannot be stored: dropped here like any character a form cannot carry,
    # so a note or a key with one never reaches PostgreSQL.
    return {k.replace("\x00", ""): v[0].replace("\x00", "") for k, v in parsed.items() if v}


def safe_next(target: str | None, home: str) -> str:
    """Back to where a login started, but only within the app's own pages (no open redirect)."""
    if target and target.startswith(home) and not target.startswith("//"):
        return target
    return home


@dataclass(frozen=True)
class SessionCookie:
    """A web app's session cookie: script-proof, sent on top-level navigations to the app's
    own pages only, HTTPS-only unless `secure` is turned off for plain-HTTP local runs."""

    name: str
    path: str
    hours: float
    secure: bool

    def of(self, request: Request) -> str | None:
        return request.cookies.get(self.name)

    def set(self, response: Response, value: str) -> Response:
        response.set_cookie(
            self.name,
            value,
            max_age=int(self.hours * 3600),
            path=self.path,
            httponly=True,
            secure=self.secure,
            samesite="lax",
        )
        return response

    def clear(self, response: Response) -> Response:
        response.delete_cookie(self.name, path=self.path)
        return response
