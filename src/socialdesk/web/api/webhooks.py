# SPDX-License-Identifier: AGPL-3.0-or-later
"""Webhooks the networks call (not workspace routes: a network signs, it does not sign in).

Meta: ``GET`` answers the subscription check (``hub.challenge`` when ``hub.verify_token``
is ours); ``POST`` verifies ``X-Hub-Signature-256`` over the raw body with the app secret
in constant time, refuses a bad signature with 401 storing nothing, and otherwise stores
the payload once and answers at once; a job turns it into inbox items.
"""

from __future__ import annotations

import hmac
import json
import logging
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response, status
from fastapi.responses import PlainTextResponse
from starlette.concurrency import run_in_threadpool

from socialdesk.connectors import meta_graph
from socialdesk.errors import AuthenticationFailed, NotFound, PermissionDenied, ValidationError
from socialdesk.inbox.webhooks import store_event
from socialdesk.web.deps import SessionDep, SettingsDep

logger = logging.getLogger(__name__)

router = APIRouter(prefix="/webhooks", tags=["webhooks"])

#: Meta's payloads are small; anything far larger is not Meta.
MAX_BODY_BYTES = 1_000_000


@router.get("/meta", response_class=PlainTextResponse)
def verify_meta_subscription(
    settings: SettingsDep,
    mode: Annotated[str, Query(alias="hub.mode")] = "",
    token: Annotated[str, Query(alias="hub.verify_token")] = "",
    challenge: Annotated[str, Query(alias="hub.challenge", max_length=200)] = "",
) -> PlainTextResponse:
    """Meta's subscription check: echo the challenge if the verify token is ours."""
    expected = settings.meta_webhook_verify_token
    if expected is None or not expected.get_secret_value():
        raise NotFound("Meta webhooks are not configured (SOCIALDESK_META_WEBHOOK_VERIFY_TOKEN)")
    if mode != "subscribe" or not hmac.compare_digest(
        token.encode(), expected.get_secret_value().encode()
    ):
        raise PermissionDenied("wrong hub.verify_token")
    return PlainTextResponse(challenge)


@router.post("/meta")
async def receive_meta(request: Request, settings: SettingsDep, session: SessionDep) -> Response:
    """A Meta delivery: verified over the raw body, stored once, processed in a job."""
    secret = settings.meta_app_secret
    if secret is None or not secret.get_secret_value():
        raise NotFound("Meta webhooks are not configured (SOCIALDESK_META_APP_SECRET)")
    raw = await request.body()
    if len(raw) > MAX_BODY_BYTES:
        raise ValidationError("the webhook body is too large")
    header = request.headers.get(meta_graph.SIGNATURE_HEADER)
    if not meta_graph.verify_signature(secret.get_secret_value(), raw, header):
        logger.warning("refused a Meta webhook with a missing or wrong signature")
        raise AuthenticationFailed("the X-Hub-Signature-256 signature does not match the body")
    try:
        payload = json.loads(raw)
    except ValueError:
        raise ValidationError("the webhook body is not JSON") from None
    # The database call runs off the event loop, like every sync route.
    await run_in_threadpool(store_event, session, source="meta", raw_body=raw, payload=payload)
    return Response(status_code=status.HTTP_200_OK)
