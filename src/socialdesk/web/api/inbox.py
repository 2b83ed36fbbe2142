# SPDX-License-Identifier: AGPL-3.0-or-later
"""The inbox: conversations, their items and notes, actions on the network, saved replies,
service levels and reports. Routes parse, call one domain function, and answer a schema."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import asdict
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request, Response, status
from pydantic import BaseModel, ConfigDict, Field

from socialdesk.accounts.roles import Permission, require
from socialdesk.inbox import (
    actions,
    contacts,
    conversations,
    reports,
    saved_replies,
    sla,
    sync,
)
from socialdesk.inbox.conversations import ConversationFilter, ConversationRow, ConversationView
from socialdesk.inbox.reports import InboxReport, ReportRow
from socialdesk.storage.tables import (
    InboxAction,
    InboxContact,
    InboxConversation,
    InboxItem,
    InboxSettings,
    SavedReply,
    User,
)
from socialdesk.storage.types import utcnow
from socialdesk.web.deps import PrincipalDep, SessionDep, VaultDep, WorkspaceAccessDep

router = APIRouter(prefix="/workspaces/{workspace_id}/inbox", tags=["inbox"])


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


# -- answers ----------------------------------------------------------------------------------


class MemberRef(BaseModel):
    id: uuid.UUID
    name: str
    email: str

    @classmethod
    def of(cls, user: User | None) -> MemberRef | None:
        return None if user is None else cls(id=user.id, name=user.name, email=user.email)


class ContactPublic(BaseModel):
    id: uuid.UUID
    network: str
    external_id: str
    handle: str
    display_name: str
    avatar_url: str | None
    profile_url: str | None
    followers: int | None
    tags: list[str]
    notes: str
    first_seen_at: dt.datetime
    last_seen_at: dt.datetime

    @classmethod
    def of(cls, c: InboxContact | None) -> ContactPublic | None:
        if c is None:
            return None
        return cls(
            id=c.id,
            network=c.network,
            external_id=c.external_id,
            handle=c.handle,
            display_name=c.display_name,
            avatar_url=c.avatar_url,
            profile_url=c.profile_url,
            followers=c.followers,
            tags=list(c.tags or []),
            notes=c.notes,
            first_seen_at=c.first_seen_at,
            last_seen_at=c.last_seen_at,
        )


class ConversationSummary(BaseModel):
    id: uuid.UUID
    channel_id: uuid.UUID
    network: str
    channel_handle: str
    kind: str
    #: open | pending | closed
    status: str
    subject: str
    priority: int
    sentiment: float | None
    sentiment_label: str | None
    tags: list[str]
    item_count: int
    post_id: uuid.UUID | None
    contact: ContactPublic | None
    assignee: MemberRef | None
    last_item_at: dt.datetime | None
    first_inbound_at: dt.datetime | None
    first_response_at: dt.datetime | None
    awaiting_since: dt.datetime | None
    resolved_at: dt.datetime | None

    @classmethod
    def of(
        cls,
        c: InboxConversation,
        *,
        network: str,
        handle: str,
        contact: InboxContact | None,
        assignee: User | None,
    ) -> ConversationSummary:
        return cls(
            id=c.id,
            channel_id=c.channel_id,
            network=network,
            channel_handle=handle,
            kind=c.kind,
            status=c.status,
            subject=c.subject,
            priority=c.priority,
            sentiment=c.sentiment,
            sentiment_label=c.sentiment_label,
            tags=list(c.tags or []),
            item_count=c.item_count,
            post_id=c.post_id,
            contact=ContactPublic.of(contact),
            assignee=MemberRef.of(assignee),
            last_item_at=c.last_item_at,
            first_inbound_at=c.first_inbound_at,
            first_response_at=c.first_response_at,
            awaiting_since=c.awaiting_since,
            resolved_at=c.resolved_at,
        )

    @classmethod
    def of_row(cls, row: ConversationRow) -> ConversationSummary:
        return cls.of(
            row.conversation,
            network=row.network,
            handle=row.channel_handle,
            contact=row.contact,
            assignee=row.assignee,
        )


class ItemPublic(BaseModel):
    id: int
    external_id: str
    kind: str
    author_handle: str
    text: str
    created_at: dt.datetime
    url: str | None
    in_reply_to: str | None
    from_us: bool
    sentiment: float | None
    sentiment_label: str | None
    language: str | None
    priority: int
    hidden: bool
    liked: bool
    deleted: bool

    @classmethod
    def of(cls, i: InboxItem) -> ItemPublic:
        return cls(
            id=i.id,
            external_id=i.external_id,
            kind=i.kind,
            author_handle=i.author_handle,
            text=i.text,
            created_at=i.created_at,
            url=i.url,
            in_reply_to=i.in_reply_to,
            from_us=i.from_us,
            sentiment=i.sentiment,
            sentiment_label=i.sentiment_label,
            language=i.language,
            priority=i.priority,
            hidden=i.hidden,
            liked=i.liked,
            deleted=i.deleted,
        )


class NotePublic(BaseModel):
    id: uuid.UUID
    author: MemberRef | None
    body: str
    created_at: dt.datetime


class ActionPublic(BaseModel):
    id: uuid.UUID
    conversation_id: uuid.UUID
    item_id: int
    #: reply | like | hide | unhide | delete
    action: str
    text: str
    #: awaiting_approval | pending | sending | uncertain | done | failed | rejected
    state: str
    attempts: int
    last_error: str | None
    external_id: str | None
    external_url: str | None
    requested_by_id: uuid.UUID | None
    created_at: dt.datetime
    done_at: dt.datetime | None

    @classmethod
    def of(cls, a: InboxAction) -> ActionPublic:
        return cls(
            id=a.id,
            conversation_id=a.conversation_id,
            item_id=a.item_id,
            action=a.action,
            text=a.text,
            state=a.state,
            attempts=a.attempts,
            last_error=a.last_error,
            external_id=a.external_id,
            external_url=a.external_url,
            requested_by_id=a.requested_by_id,
            created_at=a.created_at,
            done_at=a.done_at,
        )


class ConversationDetail(BaseModel):
    conversation: ConversationSummary
    items: list[ItemPublic]
    notes: list[NotePublic]
    actions: list[ActionPublic]
    earlier: list[uuid.UUID]

    @classmethod
    def of(cls, view: ConversationView) -> ConversationDetail:
        return cls(
            conversation=ConversationSummary.of(
                view.conversation,
                network=view.channel.network,
                handle=view.channel.handle,
                contact=view.contact,
                assignee=view.assignee,
            ),
            items=[ItemPublic.of(i) for i in view.items],
            notes=[
                NotePublic(
                    id=n.note.id,
                    author=MemberRef.of(n.author),
                    body=n.note.body,
                    created_at=n.note.created_at,
                )
                for n in view.notes
            ],
            actions=[ActionPublic.of(a) for a in view.actions],
            earlier=[c.id for c in view.earlier],
        )


class ContactDetail(BaseModel):
    contact: ContactPublic
    conversations: list[uuid.UUID]


class SavedReplyPublic(BaseModel):
    id: uuid.UUID
    name: str
    text: str
    created_at: dt.datetime

    @classmethod
    def of(cls, r: SavedReply) -> SavedReplyPublic:
        return cls(id=r.id, name=r.name, text=r.text, created_at=r.created_at)


class InboxSettingsPublic(BaseModel):
    timezone: str
    weekly_hours: dict[str, list[list[str]]]
    holidays: list[str]
    first_response_minutes: int | None
    resolution_minutes: int | None
    alert_email: bool
    alert_webhook_url: str | None
    #: The webhook's HMAC key is write-only: this says whether one is set.
    alert_webhook_secret_set: bool

    @classmethod
    def of(cls, s: InboxSettings) -> InboxSettingsPublic:
        return cls(
            timezone=s.timezone,
            weekly_hours=dict(s.weekly_hours or {}),
            holidays=list(s.holidays or []),
            first_response_minutes=s.first_response_minutes,
            resolution_minutes=s.resolution_minutes,
            alert_email=bool(s.alert_email),
            alert_webhook_url=s.alert_webhook_url,
            alert_webhook_secret_set=s.alert_webhook_secret_id is not None,
        )


class ReportRowPublic(BaseModel):
    key: str
    label: str
    inbound_items: int
    conversations: int
    answered: int
    resolved: int
    first_response_median_s: float | None
    first_response_p90_s: float | None
    resolution_median_s: float | None
    resolution_p90_s: float | None
    sla_attainment: float | None
    sentiment: dict[str, int]

    @classmethod
    def of(cls, r: ReportRow) -> ReportRowPublic:
        return cls(
            key=r.key,
            label=r.label,
            inbound_items=r.inbound_items,
            conversations=r.conversations,
            answered=r.answered,
            resolved=r.resolved,
            first_response_median_s=r.first_response_median_s,
            first_response_p90_s=r.first_response_p90_s,
            resolution_median_s=r.resolution_median_s,
            resolution_p90_s=r.resolution_p90_s,
            sla_attainment=r.sla_attainment,
            sentiment=dict(r.sentiment),
        )


class ReportPublic(BaseModel):
    since: dt.datetime
    until: dt.datetime
    group: str
    business_hours: bool
    first_response_target_minutes: int | None
    rows: list[ReportRowPublic]
    total: ReportRowPublic

    @classmethod
    def of(cls, r: InboxReport) -> ReportPublic:
        return cls(
            since=r.since,
            until=r.until,
            group=r.group,
            business_hours=r.business_hours,
            first_response_target_minutes=r.first_response_target_minutes,
            rows=[ReportRowPublic.of(row) for row in r.rows],
            total=ReportRowPublic.of(r.total),
        )


# -- bodies ---------------------------------------------------------------------------------


class ConversationUpdate(_Body):
    status: Literal["open", "pending", "closed"] | None = None
    assignee_id: uuid.UUID | None = None
    unassign: bool = False
    tags: list[str] | None = None


class BulkUpdate(_Body):
    conversation_ids: list[uuid.UUID] = Field(default_factory=list)
    status: Literal["open", "pending", "closed"] | None = None
    assignee_id: uuid.UUID | None = None
    unassign: bool = False
    add_tags: list[str] = Field(default_factory=list)
    remove_tags: list[str] = Field(default_factory=list)


class BulkResult(BaseModel):
    updated: int


class NoteCreate(_Body):
    body: Annotated[str, Field(max_length=5000)] = ""


class ActionCreate(_Body):
    action: Literal["reply", "like", "hide", "unhide", "delete"] = "reply"
    #: The item acted on; none: the conversation's latest message from someone else.
    item_id: int | None = None
    text: Annotated[str, Field(max_length=10_000)] = ""


class Decision(_Body):
    reason: Annotated[str, Field(max_length=2000)] = ""


class ContactUpdate(_Body):
    tags: list[str] | None = None
    notes: str | None = None


class SavedReplyCreate(_Body):
    name: str = ""
    text: str = ""


class SavedReplyUpdate(_Body):
    name: str | None = None
    text: str | None = None


class RenderRequest(_Body):
    conversation_id: uuid.UUID


class Rendered(BaseModel):
    text: str


class InboxSettingsUpdate(_Body):
    timezone: str | None = None
    weekly_hours: dict[str, list[list[str]]] | None = None
    holidays: list[str] | None = None
    first_response_minutes: int | None = None
    resolution_minutes: int | None = None
    alert_email: bool | None = None
    alert_webhook_url: str | None = None
    #: Write-only; an empty string removes it.
    alert_webhook_secret: str | None = None


# -- conversations -----------------------------------------------------------------------------


@router.get("/conversations")
def list_conversations(
    session: SessionDep,
    access: WorkspaceAccessDep,
    status_: Annotated[list[str], Query(alias="status")] = [],  # noqa: B006
    network: Annotated[list[str], Query()] = [],  # noqa: B006
    channel_id: Annotated[list[uuid.UUID], Query()] = [],  # noqa: B006
    sentiment: Annotated[list[str], Query()] = [],  # noqa: B006
    assignee_id: uuid.UUID | None = None,
    unassigned: bool = False,
    tag: str | None = None,
    unanswered_hours: Annotated[float | None, Query(ge=0)] = None,
    min_priority: Annotated[int | None, Query(ge=0, le=100)] = None,
    contact_id: uuid.UUID | None = None,
    search: Annotated[str | None, Query(max_length=200)] = None,
    sort: Literal["newest", "oldest", "priority", "waiting"] = "newest",
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> list[ConversationSummary]:
    """The inbox, filtered (``unanswered_hours``: waiting for an answer longer than that)."""
    filters = ConversationFilter(
        statuses=status_,
        networks=network,
        channel_ids=channel_id,
        sentiments=sentiment,
        assignee_id=assignee_id,
        unassigned=unassigned,
        tag=tag,
        unanswered_for=dt.timedelta(hours=unanswered_hours) if unanswered_hours else None,
        min_priority=min_priority,
        contact_id=contact_id,
        search=search,
        sort=sort,
    )
    rows = conversations.list_conversations(
        session, access=access, filters=filters, limit=limit, offset=offset
    )
    return [ConversationSummary.of_row(row) for row in rows]


@router.post("/conversations/bulk")
def bulk_update(
    body: BulkUpdate,
    request: Request,
    principal: PrincipalDep,
    session: SessionDep,
    access: WorkspaceAccessDep,
) -> BulkResult:
    """Close, reopen, assign or tag many conversations at once (all or nothing)."""
    updated = conversations.bulk_update(
        session,
        access=access,
        actor=principal.actor(request),
        conversation_ids=body.conversation_ids,
        status=body.status,
        assignee_id=body.assignee_id,
        unassign=body.unassign,
        add_tags=body.add_tags,
        remove_tags=body.remove_tags,
    )
    return BulkResult(updated=updated)


@router.get("/conversations/{conversation_id}")
def get_conversation(
    conversation_id: uuid.UUID, session: SessionDep, access: WorkspaceAccessDep
) -> ConversationDetail:
    """The whole thread, notes, actions, and the contact's earlier conversations."""
    view = conversations.open_conversation(session, access=access, conversation_id=conversation_id)
    return ConversationDetail.of(view)


@router.patch("/conversations/{conversation_id}")
def update_conversation(
    conversation_id: uuid.UUID,
    body: ConversationUpdate,
    request: Request,
    principal: PrincipalDep,
    session: SessionDep,
    access: WorkspaceAccessDep,
) -> ConversationDetail:
    conversations.update_conversation(
        session,
        access=access,
        actor=principal.actor(request),
        conversation_id=conversation_id,
        status=body.status,
        assignee_id=body.assignee_id,
        unassign=body.unassign,
        tags=body.tags,
    )
    session.flush()
    view = conversations.open_conversation(session, access=access, conversation_id=conversation_id)
    return ConversationDetail.of(view)


@router.post("/conversations/{conversation_id}/notes", status_code=status.HTTP_201_CREATED)
def add_note(
    conversation_id: uuid.UUID, body: NoteCreate, session: SessionDep, access: WorkspaceAccessDep
) -> NotePublic:
    """An internal note (``@Name`` notifies that member); never sent to the network."""
    view = conversations.add_note(
        session, access=access, conversation_id=conversation_id, body=body.body
    )
    return NotePublic(
        id=view.note.id,
        author=MemberRef.of(view.author),
        body=view.note.body,
        created_at=view.note.created_at,
    )


@router.post("/conversations/{conversation_id}/actions", status_code=status.HTTP_202_ACCEPTED)
def request_action(
    conversation_id: uuid.UUID,
    body: ActionCreate,
    request: Request,
    principal: PrincipalDep,
    session: SessionDep,
    access: WorkspaceAccessDep,
) -> ActionPublic:
    """Reply, like, hide or delete on the network: queued, sent exactly once."""
    action = actions.request_action(
        session,
        access=access,
        actor=principal.actor(request),
        conversation_id=conversation_id,
        item_id=body.item_id,
        action=body.action,
        text=body.text,
    )
    return ActionPublic.of(action)


@router.post("/actions/{action_id}/approve")
def approve_action(
    action_id: uuid.UUID,
    request: Request,
    principal: PrincipalDep,
    session: SessionDep,
    access: WorkspaceAccessDep,
) -> ActionPublic:
    found = actions.approve_action(
        session, access=access, actor=principal.actor(request), action_id=action_id
    )
    return ActionPublic.of(found)


@router.post("/actions/{action_id}/reject")
def reject_action(
    action_id: uuid.UUID,
    request: Request,
    principal: PrincipalDep,
    session: SessionDep,
    access: WorkspaceAccessDep,
    body: Decision | None = None,
) -> ActionPublic:
    found = actions.reject_action(
        session,
        access=access,
        actor=principal.actor(request),
        action_id=action_id,
        reason=body.reason if body else "",
    )
    return ActionPublic.of(found)


@router.post("/actions/{action_id}/retry")
def retry_action(
    action_id: uuid.UUID,
    request: Request,
    principal: PrincipalDep,
    session: SessionDep,
    access: WorkspaceAccessDep,
) -> ActionPublic:
    found = actions.retry_action(
        session, access=access, actor=principal.actor(request), action_id=action_id
    )
    return ActionPublic.of(found)


# -- contacts --------------------------------------------------------------------------------


@router.get("/contacts/{contact_id}")
def get_contact(
    contact_id: uuid.UUID, session: SessionDep, access: WorkspaceAccessDep
) -> ContactDetail:
    view = contacts.open_contact(session, access=access, contact_id=contact_id)
    contact = ContactPublic.of(view.contact)
    assert contact is not None
    return ContactDetail(contact=contact, conversations=[c.id for c in view.conversations])


@router.patch("/contacts/{contact_id}")
def update_contact(
    contact_id: uuid.UUID, body: ContactUpdate, session: SessionDep, access: WorkspaceAccessDep
) -> ContactPublic:
    found = contacts.update_contact(
        session, access=access, contact_id=contact_id, tags=body.tags, notes=body.notes
    )
    public = ContactPublic.of(found)
    assert public is not None
    return public


# -- saved replies -----------------------------------------------------------------------------


@router.get("/saved-replies")
def list_saved_replies(session: SessionDep, access: WorkspaceAccessDep) -> list[SavedReplyPublic]:
    return [
        SavedReplyPublic.of(r) for r in saved_replies.list_saved_replies(session, access=access)
    ]


@router.post("/saved-replies", status_code=status.HTTP_201_CREATED)
def create_saved_reply(
    body: SavedReplyCreate, session: SessionDep, access: WorkspaceAccessDep
) -> SavedReplyPublic:
    """A reusable answer; variables: {first_name} {name} {handle} {agent} {channel}."""
    created = saved_replies.create_saved_reply(
        session, access=access, name=body.name, text=body.text
    )
    return SavedReplyPublic.of(created)


@router.patch("/saved-replies/{saved_reply_id}")
def update_saved_reply(
    saved_reply_id: uuid.UUID,
    body: SavedReplyUpdate,
    session: SessionDep,
    access: WorkspaceAccessDep,
) -> SavedReplyPublic:
    updated = saved_replies.update_saved_reply(
        session, access=access, reply_id=saved_reply_id, name=body.name, text=body.text
    )
    return SavedReplyPublic.of(updated)


@router.delete("/saved-replies/{saved_reply_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_saved_reply(
    saved_reply_id: uuid.UUID, session: SessionDep, access: WorkspaceAccessDep
) -> Response:
    saved_replies.delete_saved_reply(session, access=access, reply_id=saved_reply_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post("/saved-replies/{saved_reply_id}/render")
def render_saved_reply(
    saved_reply_id: uuid.UUID, body: RenderRequest, session: SessionDep, access: WorkspaceAccessDep
) -> Rendered:
    """The saved reply filled in for one conversation, to edit before sending."""
    text = saved_replies.render_saved_reply(
        session, access=access, reply_id=saved_reply_id, conversation_id=body.conversation_id
    )
    return Rendered(text=text)


class SyncStatusPublic(BaseModel):
    channel_id: uuid.UUID
    network: str
    handle: str
    channel_status: str
    has_inbox: bool
    last_synced_at: dt.datetime | None
    items_stored: int
    last_error: str | None
    last_error_code: str | None
    last_error_at: dt.datetime | None


@router.get("/sync")
def list_sync_statuses(session: SessionDep, access: WorkspaceAccessDep) -> list[SyncStatusPublic]:
    """How reading each channel's inbox goes: last sync, items stored, the last error."""
    return [
        SyncStatusPublic(**asdict(status)) for status in sync.sync_statuses(session, access=access)
    ]


# -- service levels and reports ----------------------------------------------------------------


@router.get("/settings")
def get_settings(session: SessionDep, access: WorkspaceAccessDep) -> InboxSettingsPublic:
    return InboxSettingsPublic.of(sla.read_inbox_settings(session, access=access))


@router.put("/settings")
def update_settings(
    body: InboxSettingsUpdate, session: SessionDep, vault: VaultDep, access: WorkspaceAccessDep
) -> InboxSettingsPublic:
    """Business hours, holidays, response-time targets and where overdue alerts go.

    Only the fields sent change; send ``null`` for a target to remove it.
    """
    sent: dict[str, Any] = body.model_dump(exclude_unset=True)
    updated = sla.update_inbox_settings(session, access=access, vault=vault, **sent)
    return InboxSettingsPublic.of(updated)


def _report(
    session: SessionDep,
    access: WorkspaceAccessDep,
    since: dt.datetime | None,
    until: dt.datetime | None,
    group: Literal["channel", "member", "all"],
) -> InboxReport:
    end = until or utcnow()
    return reports.inbox_report(
        session,
        access=access,
        since=since or end - dt.timedelta(days=30),
        until=end,
        group=group,
    )


@router.get("/reports")
def get_report(
    session: SessionDep,
    access: WorkspaceAccessDep,
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
    group: Literal["channel", "member", "all"] = "channel",
) -> ReportPublic:
    """Volume, response times (median, p90), SLA attainment and sentiment (default: 30 days)."""
    return ReportPublic.of(_report(session, access, since, until, group))


@router.get("/reports.csv", response_class=Response)
def get_report_csv(
    session: SessionDep,
    access: WorkspaceAccessDep,
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
    group: Literal["channel", "member", "all"] = "channel",
) -> Response:
    require(access.role, Permission.REPORTS_EXPORT)
    report = _report(session, access, since, until, group)
    return Response(
        content=reports.report_csv(report),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="inbox-report.csv"'},
    )
