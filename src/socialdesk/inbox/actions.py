# SPDX-License-Identifier: AGPL-3.0-or-later
"""Replying to, liking, hiding and deleting items on the network: each exactly once.

An action is a row (``inbox_actions``) with a job, like a delivery. Its states::

    awaiting_approval ──approve──► pending ──claim──► sending ──► done
          │                           ▲                 │  ├──► failed     (rejected, gave up)
          └──reject──► rejected       └─── retry ◄──────┘  └──► uncertain  (may have gone out)

A reply follows the publishing rules (DESIGN.md, invariant 1): its idempotency key is
chosen once and sent with every attempt; when an earlier attempt may have reached the
network (a timeout, a worker killed mid-call) and the network has no idempotency of its
own, the reply is looked up (``find_reply``) before it is sent again. The network's id of
our reply is stored the moment it is known, as an item of the conversation (``from_us``),
which is what makes it count as the conversation's response.

A reply needs approval when the workspace requires approval for the author's role
(``approval_mode = roles`` and the role is in ``approval_roles``, as for posts); a member
who works the inbox and needs no approval decides.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import uuid
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from socialdesk import jobs
from socialdesk.accounts import audit
from socialdesk.accounts.audit import Actor
from socialdesk.accounts.roles import Permission, require
from socialdesk.accounts.vault import Vault
from socialdesk.accounts.workspaces import Access
from socialdesk.config import Settings
from socialdesk.connectors.base import (
    Connector,
    Idempotency,
    InboundAuthor,
    InboundItem,
    InboundKind,
    OutboundPost,
    PublishResult,
    ReplyTarget,
)
from socialdesk.connectors.registry import connector_class
from socialdesk.errors import (
    AuthExpired,
    Conflict,
    RateLimited,
    Rejected,
    SocialdeskError,
    TransientError,
    UncertainOutcome,
    ValidationError,
)
from socialdesk.inbox.conversations import get_conversation
from socialdesk.inbox.ingest import ChannelRef, ingest_items
from socialdesk.publishing.channels import (
    ACTIVE,
    build_connector,
    fresh_credentials,
    mark_needs_reconnect,
)
from socialdesk.publishing.runtime import NetworkRuntime
from socialdesk.storage.session import Database
from socialdesk.storage.tables import Channel, InboxAction, InboxConversation, InboxItem
from socialdesk.storage.types import utcnow
from socialdesk.text import measure
from socialdesk.worker import JobContext

__all__ = [
    "ACTIONS",
    "ACTION_KIND",
    "ActionRunner",
    "approve_action",
    "reject_action",
    "reply_needs_approval",
    "request_action",
    "retry_action",
]

logger = logging.getLogger(__name__)

ACTION_KIND = "inbox.action"
ACTIONS = ("reply", "like", "hide", "unhide", "delete")
#: What the connector must list in ``inbox_actions`` for each of ours.
_NEEDS = {"reply": "reply", "like": "like", "hide": "hide", "unhide": "hide", "delete": "delete"}
MAX_ACTION_ATTEMPTS = 8
ACTION_JOB_MAX_ATTEMPTS = 50

AWAITING_APPROVAL = "awaiting_approval"
PENDING = "pending"
SENDING = "sending"
UNCERTAIN = "uncertain"
DONE = "done"
FAILED = "failed"
REJECTED = "rejected"


class _NotSent(TransientError):
    """A passing failure before the network was asked (a token refresh)."""


def reply_needs_approval(access: Access) -> bool:
    """Whether this member's replies wait for approval (the workspace's role policy)."""
    workspace = access.workspace
    return workspace.approval_mode == "roles" and access.role.value in (
        workspace.approval_roles or []
    )


def _check_reply_text(channel: Channel, text: str) -> str:
    text = text.strip()
    if not text:
        raise ValidationError("write the reply", field="text")
    connector = connector_class(channel.network)
    rules = connector.text_rules
    length = measure(text, rules)
    if length > rules.max_length:
        raise ValidationError(
            f"the reply is {length} characters long; {connector.display_name} allows"
            f" {rules.max_length}",
            field="text",
        )
    return text


def request_action(
    session: Session,
    *,
    access: Access,
    actor: Actor,
    conversation_id: uuid.UUID,
    item_id: int | None,
    action: str,
    text: str = "",
) -> InboxAction:
    """Ask for an action on an item (the conversation's last inbound one if none is named)."""
    require(access.role, Permission.INBOX_WORK)
    conversation = get_conversation(session, access=access, conversation_id=conversation_id)
    if action not in ACTIONS:
        raise ValidationError(f"unknown action {action!r}; one of {', '.join(ACTIONS)}")
    item = _target_item(session, conversation=conversation, item_id=item_id)
    channel = session.get_one(Channel, conversation.channel_id)
    connector = connector_class(channel.network)
    if _NEEDS[action] not in connector.inbox_actions:
        raise ValidationError(
            f"socialdesk cannot {action} items on {connector.display_name}", field="action"
        )
    if action == "reply":
        text = _check_reply_text(channel, text)
    elif item.from_us:
        raise ValidationError(f"{action} applies to what people wrote, not to our own replies")
    needs_approval = action == "reply" and reply_needs_approval(access)
    row = InboxAction(
        workspace_id=access.workspace.id,
        conversation_id=conversation.id,
        item_id=item.id,
        channel_id=channel.id,
        action=action,
        text=text,
        state=AWAITING_APPROVAL if needs_approval else PENDING,
        idempotency_key=uuid.uuid4().hex,
        requested_by_id=access.user.id,
    )
    session.add(row)
    session.flush()
    if not needs_approval:
        _enqueue(session, row)
    audit.record(
        session,
        actor=actor,
        action=f"inbox.{action}",
        workspace_id=access.workspace.id,
        target_type="inbox_action",
        target_id=row.id,
        details={"conversation_id": str(conversation.id), "state": row.state},
    )
    return row


def _target_item(
    session: Session, *, conversation: InboxConversation, item_id: int | None
) -> InboxItem:
    query = select(InboxItem).where(InboxItem.conversation_id == conversation.id)
    if item_id is not None:
        found = session.scalars(query.where(InboxItem.id == item_id)).first()
    else:
        found = session.scalars(
            query.where(~InboxItem.from_us, ~InboxItem.deleted)
            .order_by(InboxItem.created_at.desc(), InboxItem.id.desc())
            .limit(1)
        ).first()
    if found is None:
        raise ValidationError("no such item in this conversation", field="item_id")
    if found.deleted:
        raise ValidationError("this item was deleted", field="item_id")
    return found


def _enqueue(session: Session, action: InboxAction) -> None:
    job = jobs.enqueue(
        session,
        kind=ACTION_KIND,
        payload={"action_id": str(action.id)},
        workspace_id=action.workspace_id,
        max_attempts=ACTION_JOB_MAX_ATTEMPTS,
    )
    action.job_id = job.id


def get_action(session: Session, *, access: Access, action_id: uuid.UUID) -> InboxAction:
    require(access.role, Permission.INBOX_READ)
    found = session.scalars(
        select(InboxAction).where(
            InboxAction.id == action_id, InboxAction.workspace_id == access.workspace.id
        )
    ).first()
    if found is None:
        from socialdesk.errors import NotFound

        raise NotFound("no such inbox action in this workspace")
    return found


def approve_action(
    session: Session, *, access: Access, actor: Actor, action_id: uuid.UUID
) -> InboxAction:
    """Send a reply that waited for approval."""
    action = _decidable(session, access=access, action_id=action_id)
    action.state = PENDING
    action.decided_by_id = access.user.id
    action.decided_at = utcnow()
    _enqueue(session, action)
    audit.record(
        session,
        actor=actor,
        action="inbox.reply.approve",
        workspace_id=access.workspace.id,
        target_type="inbox_action",
        target_id=action.id,
    )
    return action


def reject_action(
    session: Session, *, access: Access, actor: Actor, action_id: uuid.UUID, reason: str = ""
) -> InboxAction:
    action = _decidable(session, access=access, action_id=action_id)
    action.state = REJECTED
    action.decided_by_id = access.user.id
    action.decided_at = utcnow()
    action.last_error = reason.strip()[:2000] or None
    audit.record(
        session,
        actor=actor,
        action="inbox.reply.reject",
        workspace_id=access.workspace.id,
        target_type="inbox_action",
        target_id=action.id,
    )
    return action


def _decidable(session: Session, *, access: Access, action_id: uuid.UUID) -> InboxAction:
    require(access.role, Permission.INBOX_WORK)
    action = get_action(session, access=access, action_id=action_id)
    if action.state != AWAITING_APPROVAL:
        raise Conflict(f"this {action.action} is {action.state}, not waiting for approval")
    if reply_needs_approval(access):
        raise ValidationError("your own replies need approval: ask a member who approves them")
    if action.requested_by_id == access.user.id:
        raise ValidationError("nobody approves their own reply")
    return action


def retry_action(
    session: Session, *, access: Access, actor: Actor, action_id: uuid.UUID
) -> InboxAction:
    """Try a failed action again (an uncertain reply is looked up first)."""
    require(access.role, Permission.INBOX_WORK)
    action = get_action(session, access=access, action_id=action_id)
    if action.state != FAILED:
        raise Conflict(f"only a failed action can be retried; this one is {action.state}")
    action.state = UNCERTAIN if action.first_attempt_at is not None else PENDING
    action.attempts = 0
    _enqueue(session, action)
    audit.record(
        session,
        actor=actor,
        action="inbox.action.retry",
        workspace_id=access.workspace.id,
        target_type="inbox_action",
        target_id=action.id,
    )
    return action


# -- the job -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Attempt:
    action_id: uuid.UUID
    action: str
    channel: ChannelRef
    channel_row: Channel
    item_external_id: str
    target: ReplyTarget
    outbound: OutboundPost
    maybe_sent_before: bool
    first_attempt_at: dt.datetime
    attempt: int


class ActionRunner:
    """The handler of ``inbox.action`` jobs."""

    def __init__(
        self, *, db: Database, settings: Settings, vault: Vault, network: NetworkRuntime
    ) -> None:
        self.db = db
        self.settings = settings
        self.vault = vault
        self.network = network
        self._local = threading.local()

    def __call__(self, context: JobContext) -> None:
        action_id = uuid.UUID(str(context.job.payload["action_id"]))
        attempt = self._begin(action_id, job_id=context.job.id)
        if attempt is None:
            return
        try:
            result = self._send(attempt)
        except AuthExpired as exc:
            self._auth_failed(attempt, exc)
            return
        except (Rejected, ValidationError) as exc:
            self._failed(attempt, exc.message, exc.code)
            return
        except (RateLimited, TransientError) as exc:
            self._retryable(attempt, exc)
            raise
        except SocialdeskError as exc:
            self._failed(attempt, exc.message, exc.code)
            return
        except Exception as exc:
            self._retryable(attempt, UncertainOutcome(f"{type(exc).__name__}: {exc}"))
            raise
        self._done(attempt, result)

    def _begin(self, action_id: uuid.UUID, *, job_id: int) -> _Attempt | None:
        with self.db.transaction() as session:
            action = session.get(InboxAction, action_id)
            if action is None or action.job_id != job_id:
                return None
            if action.state not in (PENDING, SENDING, UNCERTAIN):
                return None
            channel = session.get_one(Channel, action.channel_id)
            item = session.get_one(InboxItem, action.item_id)
            conversation = session.get_one(InboxConversation, action.conversation_id)
            if channel.status != ACTIVE:
                action.state = FAILED
                action.job_id = None
                action.last_error = (
                    f"the channel {channel.handle} is {channel.status.replace('_', ' ')}:"
                    " reconnect it, then retry"
                )
                action.last_error_code = "auth_expired"
                return None
            maybe_sent = action.state in (SENDING, UNCERTAIN)
            action.state = SENDING
            action.attempts += 1
            action.first_attempt_at = action.first_attempt_at or utcnow()
            contact_handle = item.author_handle
            session.expunge(channel)
            return _Attempt(
                action_id=action.id,
                action=action.action,
                channel=ChannelRef(
                    id=channel.id, workspace_id=channel.workspace_id, network=channel.network
                ),
                channel_row=channel,
                item_external_id=item.external_id,
                target=ReplyTarget(
                    external_id=item.external_id,
                    conversation_id=conversation.external_id,
                    kind=InboundKind(item.kind),
                    author_handle=contact_handle,
                    extra={str(k): str(v) for k, v in (item.extra or {}).items()},
                ),
                outbound=OutboundPost(
                    text=action.text,
                    idempotency_key=action.idempotency_key,
                    options={"attempted_at": action.first_attempt_at.isoformat()},
                ),
                maybe_sent_before=maybe_sent,
                first_attempt_at=action.first_attempt_at,
                attempt=action.attempts,
            )

    def _connector(self, channel: Channel) -> Connector:
        try:
            credentials = fresh_credentials(
                self.db,
                vault=self.vault,
                channel_id=channel.id,
                http=self.network.http,
                run=self.network.run,
                settings=self.settings,
            )
        except TransientError as exc:
            raise _NotSent(exc.message) from exc
        return build_connector(channel, credentials, http=self.network.http, settings=self.settings)

    def _send(self, attempt: _Attempt) -> PublishResult | None:
        connector = self._connector(attempt.channel_row)
        run = self.network.run
        item_id = attempt.item_external_id
        if attempt.action == "like":
            run(connector.like(item_id))
        elif attempt.action == "hide":
            run(connector.hide(item_id, hidden=True))
        elif attempt.action == "unhide":
            run(connector.hide(item_id, hidden=False))
        elif attempt.action == "delete":
            run(connector.delete_item(item_id))
        else:
            if attempt.maybe_sent_before and _must_look_up(connector, attempt):
                found = run(connector.find_reply(attempt.target, attempt.outbound))
                if found is not None:
                    logger.info("inbox reply %s was already sent; found it", attempt.action_id)
                    return found
            return run(connector.reply(attempt.target, attempt.outbound))
        return None

    def _done(self, attempt: _Attempt, result: PublishResult | None) -> None:
        now = utcnow()
        with self.db.transaction() as session:
            action = session.get_one(InboxAction, attempt.action_id)
            action.state = DONE
            action.done_at = now
            action.job_id = None
            action.last_error = None
            action.last_error_code = None
            item = session.get_one(InboxItem, action.item_id)
            if attempt.action == "like":
                item.liked = True
            elif attempt.action in ("hide", "unhide"):
                item.hidden = attempt.action == "hide"
            elif attempt.action == "delete":
                item.deleted = True
            elif result is not None:
                action.external_id = result.external_id
                action.external_url = result.url
                self._store_our_reply(session, attempt, action, result, now)
        logger.info("inbox %s %s done", attempt.action, attempt.action_id)

    @staticmethod
    def _store_our_reply(
        session: Session,
        attempt: _Attempt,
        action: InboxAction,
        result: PublishResult,
        now: dt.datetime,
    ) -> None:
        """Our reply becomes an item of the conversation: the response the SLA counts.

        The poller may see it on the network too; the natural key stores it once.
        """
        channel = attempt.channel_row
        ours = InboundItem(
            external_id=result.external_id,
            kind=attempt.target.kind,
            author=InboundAuthor(external_id=channel.external_id, handle=channel.handle),
            text=action.text,
            created_at=now,
            conversation_id=attempt.target.conversation_id,
            url=result.url,
            in_reply_to=attempt.target.external_id,
            from_us=True,
        )
        ingest_items(session, channel=attempt.channel, items=[ours], now=now)

    def _failed(self, attempt: _Attempt, reason: str, code: str) -> None:
        with self.db.transaction() as session:
            action = session.get_one(InboxAction, attempt.action_id)
            action.state = FAILED
            action.last_error = reason
            action.last_error_code = code
            action.job_id = None

    def _auth_failed(self, attempt: _Attempt, error: AuthExpired) -> None:
        with self.db.transaction() as session:
            channel = session.get_one(Channel, attempt.channel.id, with_for_update=True)
            if channel.status == ACTIVE:
                mark_needs_reconnect(session, channel=channel, reason=error.message)
                from socialdesk import notifications

                notifications.channel_needs_reconnect(session, channel=channel)
            action = session.get_one(InboxAction, attempt.action_id)
            # Definite: nothing went out on this attempt; an earlier one may have.
            action.state = FAILED
            action.last_error = f"{error.message} — reconnect the channel, then retry"
            action.last_error_code = error.code
            action.job_id = None

    def _retryable(self, attempt: _Attempt, error: SocialdeskError) -> None:
        uncertain = not isinstance(error, _NotSent | RateLimited) and (
            isinstance(error, UncertainOutcome)
            or connector_class(attempt.channel.network).capabilities.idempotency
            is Idempotency.LOOKUP
        )
        with self.db.transaction() as session:
            action = session.get_one(InboxAction, attempt.action_id)
            action.last_error = error.message
            action.last_error_code = error.code
            action.state = UNCERTAIN if uncertain or attempt.maybe_sent_before else PENDING
            if attempt.attempt >= MAX_ACTION_ATTEMPTS:
                maybe = " it may have gone out — check the network before retrying;"
                action.last_error = (
                    f"gave up after {attempt.attempt} attempts;"
                    f"{maybe if action.state == UNCERTAIN else ''} {error.message}"
                )
                action.state = FAILED
                action.job_id = None
        if attempt.attempt >= MAX_ACTION_ATTEMPTS:
            raise Rejected(error.message) from error


def _must_look_up(connector: Connector, attempt: _Attempt) -> bool:
    idempotency = connector.capabilities.idempotency
    if idempotency is Idempotency.LOOKUP:
        return True
    window = connector.idempotency_window
    if idempotency is Idempotency.KEY and window is not None:
        return (utcnow() - attempt.first_attempt_at).total_seconds() > window - 300
    return False
