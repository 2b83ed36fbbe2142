# SPDX-License-Identifier: AGPL-3.0-or-later
"""Signed, expiring public URLs for media files, for networks that download media by URL.

Instagram and Threads do not take uploads: Graph fetches each image or video from a public
URL while it builds the post. socialdesk serves the file itself at::

    <base_url>/media/<expires>/<signature>/<path under the media directory>

``expires`` is a Unix time (one hour ahead by default); ``signature`` is an HMAC-SHA256,
under a key derived from ``SOCIALDESK_SECRET_KEY``, of the expiry and the path. The route
(``socialdesk.web.media_urls``) needs no sign-in, because Meta's servers fetch it; the
signature is what lets them in, and only until the expiry.

The URL names a *file*, not a library asset: what a network receives is often a derived
copy (Instagram takes JPEG only, at most 1440 px, so most images are re-encoded under
``media/derived/`` first), which has no asset id. Signing the path serves both, and needs
no database access while a connector publishes.

``SOCIALDESK_BASE_URL`` must therefore be an address Meta can reach (a public https host).
The resolver refuses a loopback or private address with a message saying so, rather than
letting the post fail later with Meta's vaguer "media could not be fetched".
"""

from __future__ import annotations

import base64
import enum
import hashlib
import hmac
import ipaddress
import time
import urllib.parse
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from socialdesk.config import Settings
from socialdesk.connectors.base import MediaItem
from socialdesk.errors import Rejected

#: How long a signed URL works: long enough for Meta to fetch a large video.
URL_SECONDS = 3600
PREFIX = "/media"
_CONTEXT = b"socialdesk public media url v1"


class Verdict(enum.Enum):
    VALID = "valid"
    EXPIRED = "expired"
    INVALID = "invalid"


def _key(secret_key: str) -> bytes:
    # A key of its own, so a media signature can never stand for a session cookie's.
    return hmac.new(secret_key.encode(), _CONTEXT, hashlib.sha256).digest()


def signature(secret_key: str, *, relative: str, expires: int) -> str:
    message = f"{expires}\n{relative}".encode()
    digest = hmac.new(_key(secret_key), message, hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def _clean_relative(relative: str) -> str | None:
    """``relative`` if it is a plain path inside the media directory, else None."""
    path = PurePosixPath(relative)
    if not relative or path.is_absolute() or any(part in ("", ".", "..") for part in path.parts):
        return None
    return path.as_posix()


def signed_path(
    settings: Settings, *, relative: str, now: float | None = None, seconds: int = URL_SECONDS
) -> str:
    """The site-relative URL of the file at ``relative`` (under the media directory)."""
    cleaned = _clean_relative(relative)
    if cleaned is None:
        raise ValueError(f"not a path inside the media directory: {relative!r}")
    expires = int(now if now is not None else time.time()) + seconds
    sig = signature(settings.resolved_secret_key(), relative=cleaned, expires=expires)
    return f"{PREFIX}/{expires}/{sig}/{urllib.parse.quote(cleaned)}"


def check(
    settings: Settings, *, relative: str, expires: str, sig: str, now: float | None = None
) -> Verdict:
    """Whether a URL's signature is ours (compared in constant time) and still valid."""
    cleaned = _clean_relative(relative)
    if cleaned is None or not expires.isdigit() or len(expires) > 12:
        return Verdict.INVALID
    expected = signature(settings.resolved_secret_key(), relative=cleaned, expires=int(expires))
    if not hmac.compare_digest(expected.encode(), sig.encode()):
        return Verdict.INVALID
    if int(expires) <= (now if now is not None else time.time()):
        return Verdict.EXPIRED
    return Verdict.VALID


def file_for(settings: Settings, relative: str) -> Path | None:
    """The file a valid URL names, if it (still) exists inside the media directory."""
    root = settings.media_dir.resolve()
    target = (root / relative).resolve()
    if not target.is_relative_to(root) or not target.is_file():
        return None
    return target


def _unreachable_reason(base_url: str) -> str | None:
    host = urllib.parse.urlsplit(base_url).hostname or ""
    if not host or host == "localhost" or host.endswith(".localhost"):
        return "a local address"
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return None
    if address.is_loopback or address.is_private or address.is_link_local:
        return "a private address"
    return None


@dataclass(frozen=True, slots=True)
class SignedMediaUrls:
    """A :data:`~socialdesk.connectors.meta_graph.MediaUrlResolver` serving from this site."""

    settings: Settings
    #: The network that will download, for the error message.
    network: str
    seconds: int = URL_SECONDS

    async def __call__(self, item: MediaItem) -> str:
        base_url = self.settings.base_url.rstrip("/")
        reason = _unreachable_reason(base_url)
        if reason is not None:
            raise Rejected(
                f"{self.network} downloads media from SOCIALDESK_BASE_URL, and {base_url} is "
                f"{reason} it cannot reach; set SOCIALDESK_BASE_URL to this server's public "
                "address",
                reason="media has no public URL",
            )
        root = self.settings.media_dir.resolve()
        try:
            relative = item.path.resolve().relative_to(root)
        except ValueError:
            raise Rejected(
                f"{item.path.name} is not in the media library, so {self.network} cannot fetch it",
                reason="media has no public URL",
            ) from None
        return base_url + signed_path(
            self.settings, relative=relative.as_posix(), seconds=self.seconds
        )


__all__ = [
    "PREFIX",
    "URL_SECONDS",
    "SignedMediaUrls",
    "Verdict",
    "check",
    "file_for",
    "signature",
    "signed_path",
]
