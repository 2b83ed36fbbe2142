# SPDX-License-Identifier: AGPL-3.0-or-later
"""Approvals, a post's discussion, and editing a post (which may send it back to review).

Approvers reach posts only through these routes, and only the posts sent to them: what
they get is the post's content per channel (network, handle, text, media descriptions),
its history and its discussion — never channel ids' secrets, other posts or members.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request, status
from pydantic import BaseModel, ConfigDict, Field

from socialdesk.accounts.roles import Permission
from socialdesk.accounts.workspaces import Access
from socialdesk.publishing import approvals, posts
from socialdesk.publishing.approvals import ApprovalView, CommentView, QueueItem, Review
from socialdesk.storage.tables import Delivery, Post, User, Workspace
from socialdesk.web.api.publishing_schemas import PostPublic
from socialdesk.web.deps import PrincipalDep, SessionDep, SettingsDep, WorkspaceAccessDep, requires

router = APIRouter(prefix="/workspaces/{workspace_id}", tags=["approvals"])


# -- bodies ------------------------------------------------------------------------------
# Fields have defaults: the domain says what is missing, after finding the post (so a
# post of another workspace is "not found" before anything else).


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ApprovalRequest(_Body):
    #: Whom to ask; none: anyone who approves posts in the workspace.
    approver_id: uuid.UUID | None = None
    #: A note for the approver, added to the post's discussion.
    note: Annotated[str, Field(max_length=5000)] = ""


class Decision(_Body):
    comment: Annotated[str, Field(max_length=5000)] = ""


class Approve(Decision):
    #: Publish right away instead of at the planned time.
    publish_now: bool = False


class CommentCreate(_Body):
    body: Annotated[str, Field(max_length=5000)] = ""


class PostUpdate(_Body):
    text: str | None = None
    #: The post's channels as they should be (added and removed ones follow).
    channel_ids: list[uuid.UUID] | None = None


class ApprovalSettings(_Body):
    #: none | roles (posts by ``roles`` need approval) | external (an approver decides on
    #: every post)
    mode: Literal["none", "roles", "external"]
    roles: list[str] = Field(default_factory=list)

    @classmethod
    def of(cls, workspace: Workspace) -> ApprovalSettings:
        mode: Literal["none", "roles", "external"] = "none"
        for choice in approvals.MODES:
            if choice == workspace.approval_mode:
                mode = choice
        return cls(mode=mode, roles=list(workspace.approval_roles or []))


# -- answers ---------------------------------------------------------------------------------


class Person(BaseModel):
    id: uuid.UUID
    name: str
    email: str

    @classmethod
    def of(cls, user: User | None) -> Person | None:
        return None if user is None else cls(id=user.id, name=user.name, email=user.email)


class ApprovalPublic(BaseModel):
    id: uuid.UUID
    post_id: uuid.UUID
    #: pending | approved | rejected | withdrawn
    status: str
    requested_by: Person | None
    requested_at: dt.datetime
    #: Whom it was sent to; none: anyone who approves.
    approver: Person | None
    decided_by: Person | None
    decided_at: dt.datetime | None
    comment: str

    @classmethod
    def of(cls, view: ApprovalView) -> ApprovalPublic:
        a = view.approval
        return cls(
            id=a.id,
            post_id=a.post_id,
            status=a.status,
            requested_by=Person.of(view.requested_by),
            requested_at=a.requested_at,
            approver=Person.of(view.approver),
            decided_by=Person.of(view.decided_by),
            decided_at=a.decided_at,
            comment=a.comment,
        )


class CommentPublic(BaseModel):
    id: uuid.UUID
    post_id: uuid.UUID
    author: Person | None
    body: str
    created_at: dt.datetime

    @classmethod
    def of(cls, view: CommentView) -> CommentPublic:
        c = view.comment
        return cls(
            id=c.id,
            post_id=c.post_id,
            author=Person.of(view.author),
            body=c.body,
            created_at=c.created_at,
        )


class MediaNote(BaseModel):
    kind: str
    alt_text: str


class CopyPublic(BaseModel):
    """One channel's copy of the post, as the approver reviews it."""

    network: str
    handle: str
    display_name: str
    text: str
    #: thread, first_comment, link…: what will be published besides the text.
    options: dict[str, Any]
    media: list[MediaNote]
    #: pending | held | published | … (see deliveries)
    state: str
    due_at: dt.datetime | None

    @classmethod
    def of(cls, delivery: Delivery) -> CopyPublic:
        return cls(
            network=delivery.channel.network,
            handle=delivery.channel.handle,
            display_name=delivery.channel.display_name,
            text=delivery.text,
            options={k: v for k, v in delivery.options.items() if not k.startswith("_")},
            media=[MediaNote(kind=m.asset.kind, alt_text=m.alt_text) for m in delivery.media],
            state=delivery.state,
            due_at=delivery.due_at,
        )


class ReviewPostPublic(BaseModel):
    id: uuid.UUID
    status: str
    text: str
    scheduled_at: dt.datetime | None
    timezone: str
    labels: list[str]
    author: Person | None
    copies: list[CopyPublic]

    @classmethod
    def of(cls, post: Post, author: User | None) -> ReviewPostPublic:
        return cls(
            id=post.id,
            status=post.status,
            text=post.text,
            scheduled_at=post.scheduled_at,
            timezone=post.timezone,
            labels=list(post.labels),
            author=Person.of(author),
            copies=[CopyPublic.of(d) for d in post.deliveries],
        )


class ReviewPublic(BaseModel):
    post: ReviewPostPublic
    #: Oldest first.
    approvals: list[ApprovalPublic]
    comments: list[CommentPublic]

    @classmethod
    def of(cls, found: Review) -> ReviewPublic:
        return cls(
            post=ReviewPostPublic.of(found.post, found.author),
            approvals=[ApprovalPublic.of(a) for a in found.approvals],
            comments=[CommentPublic.of(c) for c in found.comments],
        )


class QueueItemPublic(BaseModel):
    post: ReviewPostPublic
    approval: ApprovalPublic | None

    @classmethod
    def of(cls, item: QueueItem) -> QueueItemPublic:
        return cls(
            post=ReviewPostPublic.of(item.post, item.author),
            approval=ApprovalPublic.of(item.approval) if item.approval else None,
        )


# -- routes ------------------------------------------------------------------------------------


def _review(session: SessionDep, access: Access, post: Post) -> ReviewPublic:
    session.flush()
    return ReviewPublic.of(approvals.review(session, access=access, post=post))


@router.get("/approval-settings")
def get_approval_settings(access: WorkspaceAccessDep) -> ApprovalSettings:
    return ApprovalSettings.of(access.workspace)


@router.put("/approval-settings")
def set_approval_settings(
    body: ApprovalSettings,
    request: Request,
    principal: PrincipalDep,
    session: SessionDep,
    access: WorkspaceAccessDep,
) -> ApprovalSettings:
    """When posts need approval: never, for some roles, or always by an external approver."""
    workspace = approvals.set_approval_mode(
        session, access=access, actor=principal.actor(request), mode=body.mode, roles=body.roles
    )
    return ApprovalSettings.of(workspace)


@router.get("/approvers")
def list_approvers(
    session: SessionDep, access: Access = Depends(requires(Permission.APPROVALS_REQUEST))
) -> list[Person]:
    """The people a post can be sent to for approval."""
    return [
        person
        for user in approvals.deciders(session, workspace=access.workspace)
        if user.id != access.user.id and (person := Person.of(user)) is not None
    ]


@router.get("/approvals")
def list_approvals(
    session: SessionDep,
    access: WorkspaceAccessDep,
    state: Literal["pending", "decided"] = "pending",
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> list[QueueItemPublic]:
    """Posts waiting for a decision (oldest first) or recently decided (newest first).

    Approvers get only the posts sent to them or to any approver.
    """
    found = approvals.review_queue(session, access=access, state=state, limit=limit)
    return [QueueItemPublic.of(item) for item in found]


@router.get("/posts/{post_id}/review")
def get_review(post_id: uuid.UUID, session: SessionDep, access: WorkspaceAccessDep) -> ReviewPublic:
    """The post as it will be published, its approval history and its discussion."""
    post = approvals.get_visible_post(session, access=access, post_id=post_id)
    return _review(session, access, post)


@router.get("/posts/{post_id}/approvals")
def list_post_approvals(
    post_id: uuid.UUID, session: SessionDep, access: WorkspaceAccessDep
) -> list[ApprovalPublic]:
    post = approvals.get_visible_post(session, access=access, post_id=post_id)
    return [
        ApprovalPublic.of(a) for a in approvals.review(session, access=access, post=post).approvals
    ]


@router.post("/posts/{post_id}/approvals", status_code=status.HTTP_201_CREATED)
def request_approval(
    post_id: uuid.UUID,
    request: Request,
    principal: PrincipalDep,
    session: SessionDep,
    settings: SettingsDep,
    access: WorkspaceAccessDep,
    body: ApprovalRequest | None = None,
) -> ReviewPublic:
    """Send a post for approval; nothing of it goes out until it is approved."""
    post = approvals.get_visible_post(session, access=access, post_id=post_id)
    body = body or ApprovalRequest()
    approvals.request_approval(
        session,
        settings=settings,
        access=access,
        actor=principal.actor(request),
        post=post,
        approver_id=body.approver_id,
        note=body.note,
    )
    return _review(session, access, post)


@router.post("/posts/{post_id}/approve")
def approve(
    post_id: uuid.UUID,
    request: Request,
    principal: PrincipalDep,
    session: SessionDep,
    access: WorkspaceAccessDep,
    body: Approve | None = None,
) -> ReviewPublic:
    """Approve: the post is scheduled for its planned time (or now, with ``publish_now``)."""
    post = approvals.get_visible_post(session, access=access, post_id=post_id)
    body = body or Approve()
    approvals.approve(
        session,
        access=access,
        actor=principal.actor(request),
        post=post,
        comment=body.comment,
        publish_now=body.publish_now,
    )
    return _review(session, access, post)


@router.post("/posts/{post_id}/reject")
def reject(
    post_id: uuid.UUID,
    request: Request,
    principal: PrincipalDep,
    session: SessionDep,
    access: WorkspaceAccessDep,
    body: Decision | None = None,
) -> ReviewPublic:
    """Reject with a comment saying what to change: the post goes back to draft."""
    post = approvals.get_visible_post(session, access=access, post_id=post_id)
    approvals.reject(
        session,
        access=access,
        actor=principal.actor(request),
        post=post,
        comment=body.comment if body else "",
    )
    return _review(session, access, post)


@router.post("/posts/{post_id}/withdraw")
def withdraw(
    post_id: uuid.UUID,
    request: Request,
    principal: PrincipalDep,
    session: SessionDep,
    access: WorkspaceAccessDep,
) -> ReviewPublic:
    """Take a post back from review to draft."""
    post = approvals.get_visible_post(session, access=access, post_id=post_id)
    approvals.withdraw(session, access=access, actor=principal.actor(request), post=post)
    return _review(session, access, post)


@router.get("/posts/{post_id}/comments")
def list_comments(
    post_id: uuid.UUID, session: SessionDep, access: WorkspaceAccessDep
) -> list[CommentPublic]:
    post = approvals.get_visible_post(session, access=access, post_id=post_id)
    return [
        CommentPublic.of(c) for c in approvals.review(session, access=access, post=post).comments
    ]


@router.post("/posts/{post_id}/comments", status_code=status.HTTP_201_CREATED)
def add_comment(
    post_id: uuid.UUID,
    request: Request,
    principal: PrincipalDep,
    session: SessionDep,
    access: WorkspaceAccessDep,
    body: CommentCreate | None = None,
) -> CommentPublic:
    """Comment on a post; ``@Name`` or ``@e-mail`` notifies that member."""
    post = approvals.get_visible_post(session, access=access, post_id=post_id)
    comment = approvals.add_comment(
        session,
        access=access,
        actor=principal.actor(request),
        post=post,
        body=body.body if body else "",
    )
    return CommentPublic.of(CommentView(comment=comment, author=access.user))


@router.patch("/posts/{post_id}")
def update_post(
    post_id: uuid.UUID,
    request: Request,
    principal: PrincipalDep,
    session: SessionDep,
    settings: SettingsDep,
    access: WorkspaceAccessDep,
    body: PostUpdate | None = None,
) -> PostPublic:
    """Edit a post's text or channels; an approved post goes back to review."""
    post = approvals.get_visible_post(session, access=access, post_id=post_id)
    body = body or PostUpdate()
    posts.update_post(
        session,
        settings=settings,
        access=access,
        actor=principal.actor(request),
        post=post,
        text=body.text,
        channel_ids=body.channel_ids,
    )
    session.flush()
    session.refresh(post)
    return PostPublic.of(post)
