# SPDX-License-Identifier: AGPL-3.0-or-later
"""Browser sessions, CSRF tokens, the sign-in throttle and the first-run setup token.

A browser session is a signed cookie (Starlette's SessionMiddleware) holding the user id,
a fingerprint of the password hash (changing the password signs out every browser) and
a CSRF token. Forms send the token as ``csrf_token``; htmx and fetch send it as the
``X-CSRF-Token`` header. Requests authenticated by a Bearer token need no CSRF token.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
import uuid
from typing import Any

from limits import parse
from limits.storage import MemoryStorage, Storage, storage_from_string
from limits.strategies import MovingWindowRateLimiter
from starlette.requests import Request

from socialdesk.errors import ConfigurationError, PermissionDenied, TooManyAttempts
from socialdesk.storage.tables import User

CSRF_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"
SESSION_COOKIE = "socialdesk_session"
_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})


def csrf_token(request: Request) -> str:
    """This browser session's CSRF token, created on first use."""
    session: dict[str, Any] = request.session
    token = session.get("csrf")
    if not isinstance(token, str):
        token = secrets.token_urlsafe(32)
        session["csrf"] = token
    return token


async def check_csrf(request: Request) -> None:
    """Refuse an unsafe request whose CSRF token is missing or wrong."""
    if request.method in _SAFE_METHODS:
        return
    expected = request.session.get("csrf")
    sent = request.headers.get(CSRF_HEADER)
    if sent is None and request.headers.get("content-type", "").startswith(
        ("application/x-www-form-urlencoded", "multipart/form-data")
    ):
        value = (await request.form()).get(CSRF_FIELD)
        sent = value if isinstance(value, str) else None
    if not isinstance(expected, str) or sent is None or not hmac.compare_digest(expected, sent):
        raise PermissionDenied("the form has expired; reload the page and try again")


def sign_in(request: Request, *, user: User, fingerprint: str) -> None:
    # A fresh CSRF token at sign-in, so a token planted before sign-in is worthless.
    request.session.clear()
    request.session.update({"uid": str(user.id), "fp": fingerprint})
    csrf_token(request)


def sign_out(request: Request) -> None:
    request.session.clear()


def session_user_id(request: Request) -> tuple[uuid.UUID, str] | None:
    uid, fingerprint = request.session.get("uid"), request.session.get("fp")
    if not isinstance(uid, str) or not isinstance(fingerprint, str):
        return None
    try:
        return uuid.UUID(uid), fingerprint
    except ValueError:
        return None


def setup_token(secret_key: str) -> str:
    """The one-time first-run token: the same in every process, useless once a user exists."""
    return hmac.new(secret_key.encode(), b"socialdesk-first-run", hashlib.sha256).hexdigest()[:32]


class LoginThrottle:
    """Limits sign-in attempts per client address and per e-mail (memory or Redis)."""

    def __init__(self, *, limit: str, redis_url: str | None = None) -> None:
        storage = storage_from_string(redis_url) if redis_url else MemoryStorage()
        if not isinstance(storage, Storage):
            raise ConfigurationError("SOCIALDESK_REDIS_URL must be a redis:// URL")
        self._limiter = MovingWindowRateLimiter(storage)
        self._per_email = parse(limit)
        # One address may try several accounts (an office behind one NAT), within reason.
        per_ip = parse(limit)
        self._per_ip = type(per_ip)(per_ip.amount * 5, per_ip.multiples)

    def hit(self, *, ip: str, email: str) -> None:
        email_key = hashlib.sha256(email.strip().lower().encode()).hexdigest()
        checks = ((self._per_ip, "ip", ip), (self._per_email, "email", email_key))
        for item, namespace, key in checks:
            if not self._limiter.hit(item, "socialdesk-login", namespace, key):
                stats = self._limiter.get_window_stats(item, "socialdesk-login", namespace, key)
                retry_after = max(1.0, stats.reset_time - time.time())
                raise TooManyAttempts(
                    f"too many sign-in attempts; try again in {int(retry_after)} seconds",
                    retry_after=retry_after,
                )

    def reset(self, *, email: str) -> None:
        email_key = hashlib.sha256(email.strip().lower().encode()).hexdigest()
        self._limiter.clear(self._per_email, "socialdesk-login", "email", email_key)
