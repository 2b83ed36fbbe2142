# SPDX-License-Identifier: AGPL-3.0-or-later
"""HTTP status codes and transport failures mapped to the error tree, in one place.

A connector sends its requests through :meth:`ErrorMapper.send`; networks whose errors
live in the response body (Meta's Graph API, X) subclass :class:`ErrorMapper` and
override :meth:`ErrorMapper.classify` for those cases, falling back to the statuses here.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import logging
from typing import Any

import httpx

from socialdesk.errors import (
    AuthExpired,
    ConnectorError,
    RateLimited,
    Rejected,
    TransientError,
    UncertainOutcome,
)

logger = logging.getLogger(__name__)

_MAX_REASON = 500


def retry_after_seconds(
    response: httpx.Response, *, now: dt.datetime | None = None
) -> float | None:
    """``Retry-After`` in seconds, from a number or an HTTP date."""
    value = response.headers.get("retry-after")
    if value is None:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    now = now or dt.datetime.now(dt.UTC)
    return max(0.0, (when - now).total_seconds())


def reason_of(response: httpx.Response) -> str:
    """A short human reason from an error body (``error``, ``message``, ``detail``...)."""
    try:
        body: Any = response.json()
    except ValueError:
        return response.text[:_MAX_REASON] or response.reason_phrase
    if isinstance(body, dict):
        for key in ("error_description", "message", "error", "detail", "title"):
            value = body.get(key)
            if isinstance(value, str) and value:
                return value[:_MAX_REASON]
            if isinstance(value, dict) and isinstance(value.get("message"), str):
                return str(value["message"])[:_MAX_REASON]
    return response.reason_phrase


class ErrorMapper:
    """Turns a network's answers and failures into the error tree."""

    def __init__(self, network_name: str = "the network") -> None:
        self.network_name = network_name

    def classify(self, response: httpx.Response) -> ConnectorError | None:
        """The error an unsuccessful response means; None for a success."""
        status = response.status_code
        if status < 400:
            return None
        reason = reason_of(response)
        where = self.network_name
        if status == 401:
            return AuthExpired(f"{where} refused the credentials ({reason}); reconnect the channel")
        if status == 429:
            return RateLimited(
                f"{where} is rate limiting this account ({reason})",
                retry_after=retry_after_seconds(response),
            )
        if status in (408, 425) or status >= 500:
            return TransientError(f"{where} answered {status} ({reason}); will try again")
        return Rejected(f"{where} refused the request: {reason}", reason=reason)

    async def send(self, client: httpx.AsyncClient, request: httpx.Request) -> httpx.Response:
        """Send ``request``; raise from the error tree unless the answer is a success.

        A failure before the request left (connect error, pool timeout) is a plain
        ``TransientError``; one after it may have arrived (read timeout, dropped
        connection) is ``UncertainOutcome`` for requests that change something.
        """
        changes_something = request.method not in ("GET", "HEAD", "OPTIONS")
        try:
            response = await client.send(request)
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
            raise TransientError(
                f"could not reach {self.network_name}: {type(exc).__name__}"
            ) from exc
        except httpx.TransportError as exc:
            message = f"{self.network_name} did not answer in time ({type(exc).__name__})"
            if changes_something:
                raise UncertainOutcome(message + "; the request may have been applied") from exc
            raise TransientError(message) from exc
        error = self.classify(response)
        if error is not None:
            logger.info(
                "%s answered %s to %s %s",
                self.network_name,
                response.status_code,
                request.method,
                request.url.path,
            )
            raise error
        return response
