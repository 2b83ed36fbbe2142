# SPDX-License-Identifier: AGPL-3.0-or-later
"""Jinja2 rendering for the server-side UI, with the globals every page needs."""

from __future__ import annotations

import datetime as dt
import hashlib
import zoneinfo
from functools import cache
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from socialdesk import __version__
from socialdesk.web.security import CSRF_FIELD, CSRF_HEADER, csrf_token

WEB_DIR = Path(__file__).parent
STATIC_DIR = WEB_DIR / "static"
TEMPLATES_DIR = WEB_DIR / "templates"

templates = Jinja2Templates(directory=str(TEMPLATES_DIR))


@cache
def _static_digest(path: str) -> str:
    target = (STATIC_DIR / path).resolve()
    if not target.is_relative_to(STATIC_DIR.resolve()) or not target.is_file():
        raise FileNotFoundError(f"no static file {path!r}")
    return hashlib.sha256(target.read_bytes()).hexdigest()[:10]


def static_url(path: str) -> str:
    """The URL of a packaged static file, with a content hash so browsers cache it safely."""
    return f"/static/{path}?v={_static_digest(path)}"


def localtime(
    value: dt.datetime | None, timezone: str = "UTC", fmt: str = "%d %b %Y, %H:%M"
) -> str:
    """An aware instant as a person in ``timezone`` reads it (UTC if the zone is unknown)."""
    if value is None:
        return ""
    try:
        zone: dt.tzinfo = zoneinfo.ZoneInfo(timezone)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        zone = dt.UTC
    return value.astimezone(zone).strftime(fmt)


def sentence(message: str) -> str:
    """A domain message ("the name is too long") as a sentence for a page."""
    message = message.strip()
    if not message:
        return message
    message = message[0].upper() + message[1:]
    return message if message[-1] in ".!?" else message + "."


@cache
def timezone_names() -> tuple[str, ...]:
    """IANA zone names for pickers, UTC first."""
    names = sorted(name for name in zoneinfo.available_timezones() if "/" in name)
    return ("UTC", *names)


templates.env.filters.update(localtime=localtime, sentence=sentence)
templates.env.globals.update(
    timezone_names=timezone_names,
    static_url=static_url,
    csrf_field_name=CSRF_FIELD,
    csrf_header_name=CSRF_HEADER,
    version=__version__,
)


def render(
    request: Request,
    template: str,
    context: dict[str, Any] | None = None,
    *,
    status_code: int = 200,
) -> HTMLResponse:
    """Render a page; ``csrf_token`` is always in the context."""
    values: dict[str, Any] = {"csrf_token": csrf_token(request)}
    values.update(context or {})
    return templates.TemplateResponse(request, template, values, status_code=status_code)


def render_error(request: Request, *, status_code: int, title: str, message: str) -> HTMLResponse:
    return render(
        request,
        "error.html",
        {"title": title, "message": message, "status_code": status_code},
        status_code=status_code,
    )
