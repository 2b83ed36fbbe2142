# SPDX-License-Identifier: AGPL-3.0-or-later
"""Approvals: send a post for approval, approve or reject it, discuss it.

A post waiting for approval is ``in_review``: its deliveries keep their planned times but
no publish job exists for them (and the publisher skips such a post anyway). Approving
schedules it; rejecting sends it back to ``draft`` with the reason in its history.

When a post needs approval is the workspace's ``approval_mode``:

* ``none``: only when someone sends it for approval;
* ``roles``: whenever a member whose role is in ``approval_roles`` schedules a post;
* ``external``: every post, and only members with the approver role (such as the
  client) decide — never the team that wrote it.

Who sees a post here: members whose role reads posts see every post of the workspace;
an approver sees only the posts sent to them or to any approver (an unassigned request),
never anything else. A post an approver may not see is "not found", like one that does
not exist. Nobody decides on a request they made themselves.

Every function checks the caller's permission, validates everything, then writes, in the
caller's transaction, with an audit event (``post.approval_request``, ``post.approve``,
``post.reject``, ``post.approval_withdraw``, ``post.comment``) and notifications.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Final, Literal

from sqlalchemy import ColumnElement, and_, exists, func, or_, select
from sqlalchemy.orm import Session, selectinload

from socialdesk import jobs, notifications
from socialdesk.accounts import audit
from socialdesk.accounts.audit import Actor
from socialdesk.accounts.roles import Permission, Role, can, require
from socialdesk.accounts.workspaces import Access
from socialdesk.config import Settings
from socialdesk.errors import Conflict, NotFound, PermissionDenied, ValidationError
from socialdesk.media.library import media_check
from socialdesk.publishing import deliveries as dl
from socialdesk.publishing import posts, recurrence
from socialdesk.publishing.channels import DISCONNECTED, NEEDS_RECONNECT
from socialdesk.publishing.validation import validate_delivery
from socialdesk.storage.tables import (
    Approval,
    MediaAsset,
    Membership,
    Post,
    PostComment,
    User,
    Workspace,
)
from socialdesk.storage.types import utcnow

__all__ = [
    "MODES",
    "REQUIRABLE_ROLES",
    "Actions",
    "ApprovalView",
    "CommentView",
    "QueueItem",
    "Review",
    "TimelineEntry",
    "actions_for",
    "add_comment",
    "approval_required",
    "approve",
    "back_to_review",
    "deciders",
    "draft_queue",
    "get_visible_post",
    "hold_for_review",
    "may_comment",
    "may_decide",
    "pending_count",
    "post_asset",
    "reject",
    "request_approval",
    "review",
    "review_queue",
    "set_approval_mode",
    "was_approved",
    "withdraw",
]

Mode = Literal["none", "roles", "external"]
MODES: tuple[Mode, ...] = ("none", "roles", "external")
#: Roles whose posts a workspace may require approval for.
REQUIRABLE_ROLES: tuple[Role, ...] = (Role.ADMIN, Role.MANAGER, Role.MARKETER)
MAX_COMMENT = 5000

PENDING: Final = "pending"
APPROVED: Final = "approved"
REJECTED: Final = "rejected"
WITHDRAWN: Final = "withdrawn"

#: Post statuses from which a post may be sent for approval (if nothing has gone out).
_SENDABLE = ("draft", "approved", "scheduled")


# -- the workspace's policy ------------------------------------------------------------


def approval_required(access: Access) -> bool:
    """Whether a post this member schedules must be approved first."""
    workspace = access.workspace
    if workspace.approval_mode == "external":
        return True
    if workspace.approval_mode == "roles":
        return access.role.value in (workspace.approval_roles or [])
    return False


def set_approval_mode(
    session: Session, *, access: Access, actor: Actor, mode: str, roles: Iterable[str] = ()
) -> Workspace:
    """Choose when posts need approval (owners and admins)."""
    require(access.role, Permission.WORKSPACE_MANAGE)
    mode = mode.strip().lower()
    if mode not in MODES:
        raise ValidationError(f"choose one of: {', '.join(MODES)}", field="approval_mode")
    allowed = {role.value for role in REQUIRABLE_ROLES}
    chosen = sorted({role.strip().lower() for role in roles if role.strip()})
    unknown = [role for role in chosen if role not in allowed]
    if unknown:
        raise ValidationError(
            f"approval can be required for {', '.join(sorted(allowed))}, not {', '.join(unknown)}",
            field="approval_roles",
        )
    if mode == "roles" and not chosen:
        raise ValidationError("choose the roles whose posts need approval", field="approval_roles")
    if mode != "roles":
        chosen = []
    workspace = access.workspace
    if workspace.approval_mode == mode and list(workspace.approval_roles or []) == chosen:
        return workspace
    workspace.approval_mode = mode
    workspace.approval_roles = chosen
    audit.record(
        session,
        actor=actor,
        action="workspace.approval_mode",
        workspace_id=workspace.id,
        target_type="workspace",
        target_id=workspace.id,
        details={"mode": mode, "roles": chosen},
    )
    return workspace


def _deciding_roles(workspace: Workspace) -> list[Role]:
    if workspace.approval_mode == "external":
        return [Role.APPROVER]
    return [role for role in Role if can(role, Permission.APPROVALS_DECIDE)]


def may_decide(access: Access) -> bool:
    """Whether the member's role decides approvals in this workspace (on others' requests)."""
    return access.role in _deciding_roles(access.workspace)


def may_comment(access: Access) -> bool:
    """The team that writes and the people who approve take part in discussions."""
    return can(access.role, Permission.APPROVALS_REQUEST) or can(
        access.role, Permission.APPROVALS_DECIDE
    )


def deciders(session: Session, *, workspace: Workspace) -> list[User]:
    """The members who may decide approvals in this workspace, by name."""
    roles = [role.value for role in _deciding_roles(workspace)]
    return list(
        session.scalars(
            select(User)
            .join(Membership, Membership.user_id == User.id)
            .where(
                Membership.workspace_id == workspace.id,
                Membership.role.in_(roles),
                User.disabled_at.is_(None),
            )
            .order_by(User.name, User.email)
        )
    )


# -- what a member may see ---------------------------------------------------------------


def _sees_all(access: Access) -> bool:
    return can(access.role, Permission.POSTS_READ)


def _sent_to(access: Access) -> ColumnElement[bool]:
    """Approvals an approver may see: sent to them, or to anyone who approves."""
    return and_(
        or_(Approval.approver_id == access.user.id, Approval.approver_id.is_(None)),
        Approval.status != WITHDRAWN,
    )


def _check_visible(session: Session, *, access: Access, post: Post) -> None:
    if _sees_all(access):
        return
    if can(access.role, Permission.APPROVALS_DECIDE):
        visible = session.scalar(
            select(exists().where(Approval.post_id == post.id, _sent_to(access)))
        )
        if visible:
            return
    raise NotFound("no such post in this workspace")


def get_visible_post(session: Session, *, access: Access, post_id: uuid.UUID) -> Post:
    """The post, if this member may see it here; NotFound otherwise (nothing is revealed)."""
    if not _sees_all(access) and not can(access.role, Permission.APPROVALS_DECIDE):
        raise NotFound("no such post in this workspace")
    post = posts.get_post(session, post_id=post_id)
    _check_visible(session, access=access, post=post)
    return post


def post_asset(session: Session, *, access: Access, post: Post, asset_id: uuid.UUID) -> MediaAsset:
    """A media file of a post this member may see (how approvers see its images)."""
    _check_visible(session, access=access, post=post)
    for delivery in post.deliveries:
        for item in delivery.media:
            if item.asset_id == asset_id:
                return item.asset
    raise NotFound("no such media in this post")


# -- views with their people, loaded without a query per row ----------------------------


@dataclass(frozen=True, slots=True)
class ApprovalView:
    approval: Approval
    requested_by: User | None
    approver: User | None
    decided_by: User | None


@dataclass(frozen=True, slots=True)
class CommentView:
    comment: PostComment
    author: User | None


@dataclass(frozen=True, slots=True)
class TimelineEntry:
    """One line of a post's history: a request, a decision, a withdrawal or a comment."""

    kind: Literal["requested", "approved", "rejected", "withdrawn", "comment"]
    at: dt.datetime
    user: User | None
    text: str = ""
    #: For a request: whom it was sent to (None: anyone who approves).
    approver: User | None = None


_DECISIONS: dict[str, Literal["approved", "rejected", "withdrawn"]] = {
    APPROVED: "approved",
    REJECTED: "rejected",
    WITHDRAWN: "withdrawn",
}


@dataclass(frozen=True, slots=True)
class Review:
    post: Post
    #: Oldest first.
    approvals: list[ApprovalView]
    comments: list[CommentView]
    author: User | None

    @property
    def pending(self) -> ApprovalView | None:
        found = [a for a in self.approvals if a.approval.status == PENDING]
        return found[-1] if found and self.post.status == "in_review" else None

    @property
    def last_decision(self) -> ApprovalView | None:
        decided = [a for a in self.approvals if a.approval.status in (APPROVED, REJECTED)]
        return decided[-1] if decided else None

    def timeline(self) -> list[TimelineEntry]:
        entries: list[TimelineEntry] = []
        for view in self.approvals:
            approval = view.approval
            entries.append(
                TimelineEntry(
                    kind="requested",
                    at=approval.requested_at,
                    user=view.requested_by,
                    approver=view.approver,
                )
            )
            decision = _DECISIONS.get(approval.status)
            if decision is not None and approval.decided_at:
                entries.append(
                    TimelineEntry(
                        kind=decision,
                        at=approval.decided_at,
                        user=view.decided_by,
                        text=approval.comment,
                    )
                )
        for item in self.comments:
            entries.append(
                TimelineEntry(
                    kind="comment",
                    at=item.comment.created_at,
                    user=item.author,
                    text=item.comment.body,
                )
            )
        return sorted(entries, key=lambda entry: entry.at)


@dataclass(frozen=True, slots=True)
class QueueItem:
    post: Post
    approval: ApprovalView | None
    author: User | None


@dataclass(frozen=True, slots=True)
class Actions:
    """What a member may do with a post here (the pages show exactly these controls)."""

    decide: bool
    request: bool
    withdraw: bool
    comment: bool
    edit: bool


def actions_for(access: Access, found: Review) -> Actions:
    post = found.post
    pending = found.pending
    writes = can(access.role, Permission.APPROVALS_REQUEST) and (
        can(access.role, Permission.POSTS_WRITE)
        or can(access.role, Permission.CAMPAIGN_POSTS_WRITE)
    )
    untouched = all(d.state in (dl.PENDING, dl.HELD) and not d.attempts for d in post.deliveries)
    decide = (
        pending is not None
        and may_decide(access)
        and pending.approval.requested_by_id != access.user.id
        and (_sees_all(access) or pending.approval.approver_id in (None, access.user.id))
    )
    return Actions(
        decide=decide,
        request=writes and post.status in _SENDABLE and untouched and bool(post.deliveries),
        withdraw=writes and post.status == "in_review",
        comment=may_comment(access),
        edit=writes and post.status in posts.EDITABLE and untouched,
    )


def _users(session: Session, ids: Iterable[uuid.UUID | None]) -> dict[uuid.UUID, User]:
    wanted = {user_id for user_id in ids if user_id is not None}
    if not wanted:
        return {}
    return {user.id: user for user in session.scalars(select(User).where(User.id.in_(wanted)))}


def _approval_views(session: Session, approvals: Sequence[Approval]) -> list[ApprovalView]:
    people = _users(
        session,
        (
            user_id
            for a in approvals
            for user_id in (a.requested_by_id, a.approver_id, a.decided_by_id)
        ),
    )

    def who(user_id: uuid.UUID | None) -> User | None:
        return people.get(user_id) if user_id is not None else None

    return [
        ApprovalView(
            approval=a,
            requested_by=who(a.requested_by_id),
            approver=who(a.approver_id),
            decided_by=who(a.decided_by_id),
        )
        for a in approvals
    ]


def review(session: Session, *, access: Access, post: Post) -> Review:
    """A post with its approval history and discussion, for someone who may see it."""
    _check_visible(session, access=access, post=post)
    approvals = list(
        session.scalars(
            select(Approval)
            .where(Approval.post_id == post.id)
            .order_by(Approval.requested_at, Approval.id)
        )
    )
    comments = list(
        session.scalars(
            select(PostComment)
            .where(PostComment.post_id == post.id)
            .order_by(PostComment.created_at, PostComment.id)
        )
    )
    views = _approval_views(session, approvals)
    people = _users(session, [c.author_id for c in comments] + [post.author_id])
    return Review(
        post=post,
        approvals=views,
        comments=[
            CommentView(comment=c, author=people.get(c.author_id) if c.author_id else None)
            for c in comments
        ],
        author=people.get(post.author_id) if post.author_id else None,
    )


def review_queue(
    session: Session,
    *,
    access: Access,
    state: Literal["pending", "decided"] = "pending",
    limit: int = 100,
) -> list[QueueItem]:
    """Requests waiting for a decision (oldest first), or the latest decisions (newest first).

    Approvers get only what was sent to them. Four queries, however long the list.
    """
    if not _sees_all(access):
        require(access.role, Permission.APPROVALS_DECIDE)
    query = (
        select(Approval, Post)
        .join(Post, Post.id == Approval.post_id)
        .where(Approval.workspace_id == access.workspace.id)
        .options(selectinload(Post.deliveries))
        .limit(limit)
    )
    if not _sees_all(access):
        query = query.where(_sent_to(access))
    if state == "pending":
        query = query.where(Approval.status == PENDING, Post.status == "in_review").order_by(
            Approval.requested_at, Approval.id
        )
    else:
        query = query.where(Approval.status.in_((APPROVED, REJECTED))).order_by(
            Approval.decided_at.desc(), Approval.id.desc()
        )
    rows = session.execute(query).all()
    views = _approval_views(session, [approval for approval, _post in rows])
    authors = _users(session, (post.author_id for _approval, post in rows))
    return [
        QueueItem(
            post=post,
            approval=view,
            author=authors.get(post.author_id) if post.author_id else None,
        )
        for (_approval, post), view in zip(rows, views, strict=True)
    ]


def pending_count(session: Session, *, access: Access) -> int:
    """How many requests wait for a decision among those this member sees."""
    if not _sees_all(access):
        require(access.role, Permission.APPROVALS_DECIDE)
    query = (
        select(func.count())
        .select_from(Approval)
        .join(Post, Post.id == Approval.post_id)
        .where(
            Approval.workspace_id == access.workspace.id,
            Approval.status == PENDING,
            Post.status == "in_review",
        )
    )
    if not _sees_all(access):
        query = query.where(_sent_to(access))
    return session.scalar(query) or 0


def draft_queue(session: Session, *, access: Access, limit: int = 100) -> list[QueueItem]:
    """Drafts the team may send for approval, newest first, with their last decision."""
    require(access.role, Permission.APPROVALS_REQUEST)
    found = list(
        session.scalars(
            select(Post)
            .where(Post.workspace_id == access.workspace.id, Post.status == "draft")
            .options(selectinload(Post.deliveries))
            .order_by(Post.updated_at.desc(), Post.id)
            .limit(limit)
        )
    )
    latest: dict[uuid.UUID, Approval] = {}
    if found:
        for approval in session.scalars(
            select(Approval)
            .where(Approval.post_id.in_([p.id for p in found]), Approval.status != WITHDRAWN)
            .order_by(Approval.requested_at, Approval.id)
        ):
            latest[approval.post_id] = approval
    views = {v.approval.post_id: v for v in _approval_views(session, list(latest.values()))}
    authors = _users(session, (p.author_id for p in found))
    return [
        QueueItem(
            post=p,
            approval=views.get(p.id),
            author=authors.get(p.author_id) if p.author_id else None,
        )
        for p in found
    ]


def was_approved(session: Session, *, post: Post) -> bool:
    """Whether the post's latest decision is an approval."""
    latest = session.scalars(
        select(Approval.status)
        .where(Approval.post_id == post.id, Approval.status.in_((APPROVED, REJECTED)))
        .order_by(Approval.decided_at.desc(), Approval.id.desc())
        .limit(1)
    ).first()
    return latest == APPROVED


# -- sending for approval -----------------------------------------------------------------


def _clean(text: str, *, field: str, required: bool, what: str) -> str:
    cleaned = text.strip()
    if required and not cleaned:
        raise ValidationError(f"write {what}", field=field)
    if len(cleaned) > MAX_COMMENT:
        raise ValidationError(f"{what} is longer than {MAX_COMMENT} characters", field=field)
    return cleaned


def _check_not_started(post: Post) -> None:
    if posts.has_started(post):
        raise Conflict("part of this post has gone out already; it cannot be reviewed again")


def _check_rules(session: Session, *, settings: Settings, post: Post) -> None:
    """Every channel's copy must be publishable before anyone is asked to approve it."""
    if not post.deliveries:
        raise ValidationError("the post has no channel; choose at least one", field="channels")
    problems: list[str] = []
    for delivery in post.deliveries:
        options = {k: v for k, v in delivery.options.items() if not k.startswith("_")}
        report = validate_delivery(
            network=delivery.channel.network,
            text=delivery.text,
            media=[media_check(settings, m.asset, alt_text=m.alt_text) for m in delivery.media],
            thread=[str(part) for part in options.get("thread", [])],
            options=options,
            extra=delivery.channel.extra,
        )
        where = f"{delivery.channel.network} {delivery.channel.handle}"
        problems.extend(f"{where}: {error}" for error in report.errors)
    if problems:
        raise ValidationError(
            "the post cannot be published as it is:\n- " + "\n- ".join(problems), field="text"
        )


def _check_approver(
    session: Session, *, access: Access, approver_id: uuid.UUID | None
) -> User | None:
    if approver_id is None:
        return None
    if approver_id == access.user.id:
        raise ValidationError(
            "send it to someone else: nobody approves their own post", field="approver_id"
        )
    for user in deciders(session, workspace=access.workspace):
        if user.id == approver_id:
            return user
    raise ValidationError(
        "choose one of the people who approve posts in this workspace", field="approver_id"
    )


def request_approval(
    session: Session,
    *,
    settings: Settings,
    access: Access,
    actor: Actor,
    post: Post,
    approver_id: uuid.UUID | None = None,
    note: str = "",
) -> Approval:
    """Send a post for approval, to one approver or to anyone who approves.

    Nothing of it goes out until it is approved; its planned time is kept.
    """
    require(access.role, Permission.APPROVALS_REQUEST)
    posts.require_write(access)
    if post.status == "in_review":
        raise Conflict("the post is already waiting for approval")
    if post.status not in _SENDABLE:
        raise Conflict(f"a {post.status.replace('_', ' ')} post cannot be sent for approval")
    _check_not_started(post)
    note = _clean(note, field="note", required=False, what="the note")
    approver = _check_approver(session, access=access, approver_id=approver_id)
    _check_rules(session, settings=settings, post=post)
    return _open(
        session,
        access=access,
        actor=actor,
        post=post,
        approver_id=approver.id if approver else None,
        note=note,
        reason="requested",
    )


def hold_for_review(session: Session, *, access: Access, actor: Actor, post: Post) -> Approval:
    """A post scheduled by a member whose posts need approval waits for it instead.

    Called by ``create_post`` and ``reschedule_post`` after they validated everything.
    """
    return _open(
        session, access=access, actor=actor, post=post, approver_id=None, note="", reason="policy"
    )


def back_to_review(session: Session, *, access: Access, actor: Actor, post: Post) -> Approval:
    """An approved (or scheduled) post that was edited goes back to whoever approved it."""
    previous = session.scalars(
        select(Approval)
        .where(Approval.post_id == post.id, Approval.status != WITHDRAWN)
        .order_by(Approval.requested_at.desc(), Approval.id.desc())
        .limit(1)
    ).first()
    approver_id = previous.approver_id if previous is not None else None
    still_decides = {user.id for user in deciders(session, workspace=access.workspace)}
    if approver_id not in still_decides or approver_id == access.user.id:
        approver_id = None  # they left, or edited it themselves: anyone who approves
    return _open(
        session,
        access=access,
        actor=actor,
        post=post,
        approver_id=approver_id,
        note="",
        reason="edited",
    )


def _unschedule(session: Session, *, post: Post) -> None:
    """Keep the planned times but let no job publish anything."""
    for delivery in post.deliveries:
        if delivery.state == dl.PENDING and delivery.job_id is not None:
            jobs.cancel(session, job_id=delivery.job_id)
            delivery.job_id = None


def _open(
    session: Session,
    *,
    access: Access,
    actor: Actor,
    post: Post,
    approver_id: uuid.UUID | None,
    note: str,
    reason: Literal["requested", "policy", "edited"],
) -> Approval:
    for stale in session.scalars(
        select(Approval).where(Approval.post_id == post.id, Approval.status == PENDING)
    ):
        stale.status = WITHDRAWN
        stale.decided_at = utcnow()
    _unschedule(session, post=post)
    was_live = recurrence.is_live(post)
    post.status = "in_review"
    if was_live:
        # The series' occurrences not tried yet go; approval plans them again.
        recurrence.replan(session, parent=post, actor=actor)
    approval = Approval(
        workspace_id=post.workspace_id,
        post_id=post.id,
        requested_by_id=access.user.id,
        approver_id=approver_id,
        status=PENDING,
    )
    session.add(approval)
    if note:
        session.add(
            PostComment(
                workspace_id=post.workspace_id, post_id=post.id, author_id=access.user.id, body=note
            )
        )
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="post.approval_request",
        workspace_id=post.workspace_id,
        target_type="post",
        target_id=post.id,
        details={
            "approval": str(approval.id),
            "approver": str(approver_id) if approver_id else None,
            "reason": reason,
        },
    )
    who = access.user.name or access.user.email
    if approver_id is not None:
        recipients = [approver_id]
    else:
        recipients = [user.id for user in deciders(session, workspace=access.workspace)]
    title = {
        "requested": f"{who} asks you to approve a post",
        "policy": f"{who} scheduled a post that needs your approval",
        "edited": f"{who} changed an approved post; it needs your approval again",
    }[reason]
    notifications.notify(
        session,
        workspace_id=post.workspace_id,
        user_ids=recipients,
        kind="approval_requested",
        title=title,
        body=note or notifications.excerpt(post.text),
        link=notifications.post_link(post.workspace_id, post.id),
        exclude={access.user.id},
    )
    return approval


def withdraw(session: Session, *, access: Access, actor: Actor, post: Post) -> Post:
    """Take a post back from review to draft (to keep working on it)."""
    require(access.role, Permission.APPROVALS_REQUEST)
    posts.require_write(access)
    if post.status != "in_review":
        raise Conflict("the post is not waiting for approval")
    now = utcnow()
    for approval in session.scalars(
        select(Approval).where(Approval.post_id == post.id, Approval.status == PENDING)
    ):
        approval.status = WITHDRAWN
        approval.decided_by_id = access.user.id
        approval.decided_at = now
    post.status = "draft"
    audit.record(
        session,
        actor=actor,
        action="post.approval_withdraw",
        workspace_id=post.workspace_id,
        target_type="post",
        target_id=post.id,
    )
    return post


# -- deciding --------------------------------------------------------------------------------


def _pending_for(session: Session, *, access: Access, post: Post) -> Approval:
    require(access.role, Permission.APPROVALS_DECIDE)
    _check_visible(session, access=access, post=post)
    if post.status != "in_review":
        raise Conflict(f"the post is {post.status.replace('_', ' ')}, not waiting for approval")
    query = select(Approval).where(Approval.post_id == post.id, Approval.status == PENDING)
    if not _sees_all(access):
        query = query.where(_sent_to(access))
    approval = session.scalars(
        query.order_by(Approval.requested_at.desc(), Approval.id.desc())
    ).first()
    if approval is None:
        raise Conflict("the post is not waiting for your approval")
    if not may_decide(access):
        raise PermissionDenied(
            "in this workspace posts are approved by the external approver, not the team"
        )
    if approval.requested_by_id == access.user.id:
        raise PermissionDenied("you asked for this approval; someone else must decide")
    return approval


def _decided(
    session: Session,
    *,
    access: Access,
    actor: Actor,
    post: Post,
    approval: Approval,
    status: Literal["approved", "rejected"],
    comment: str,
    details: dict[str, object],
) -> None:
    approval.status = status
    approval.decided_by_id = access.user.id
    approval.decided_at = utcnow()
    approval.comment = comment
    audit.record(
        session,
        actor=actor,
        action="post.approve" if status == APPROVED else "post.reject",
        workspace_id=post.workspace_id,
        target_type="post",
        target_id=post.id,
        details={"approval": str(approval.id), "comment": comment[:500], **details},
    )
    who = access.user.name or access.user.email
    verb = "approved" if status == APPROVED else "rejected"
    members = set(notifications.member_ids(session, workspace_id=post.workspace_id))
    notifications.notify(
        session,
        workspace_id=post.workspace_id,
        user_ids=[u for u in (post.author_id, approval.requested_by_id) if u in members],
        kind=status,
        title=f"{who} {verb} your post",
        body=comment or notifications.excerpt(post.text),
        link=notifications.post_link(post.workspace_id, post.id),
        exclude={access.user.id},
    )


def approve(
    session: Session,
    *,
    access: Access,
    actor: Actor,
    post: Post,
    comment: str = "",
    publish_now: bool = False,
) -> Approval:
    """Approve the post: it goes out at its planned time, or now when that has passed.

    With ``publish_now`` it goes out right away whatever was planned. A post planned for
    no time stays ``approved`` until someone schedules it.
    """
    approval = _pending_for(session, access=access, post=post)
    comment = _clean(comment, field="comment", required=False, what="the comment")
    now = utcnow()
    scheduled: list[dt.datetime] = []
    for delivery in post.deliveries:
        if delivery.state not in (dl.PENDING, dl.HELD):
            continue
        planned = delivery.due_at or post.scheduled_at
        if publish_now:
            planned = now
        if planned is None:
            continue
        due = max(planned, now)
        scheduled.append(due)
        if delivery.channel.status == DISCONNECTED:
            dl.cancel_delivery(session, delivery=delivery, reason="the channel was disconnected")
        elif delivery.channel.status == NEEDS_RECONNECT:
            delivery.state = dl.HELD
            delivery.due_at = due
        else:
            dl.enqueue_delivery(session, delivery=delivery, due_at=due)
    if scheduled:
        post.scheduled_at = min(scheduled)
        post.status = "scheduled"
    else:
        post.status = "approved"
    _decided(
        session,
        access=access,
        actor=actor,
        post=post,
        approval=approval,
        status=APPROVED,
        comment=comment,
        details={
            "publish_now": publish_now,
            "at": post.scheduled_at.isoformat() if scheduled and post.scheduled_at else None,
        },
    )
    if scheduled and post.recurrence_rule is not None:
        recurrence.materialise(session, parent=post, actor=actor, now=now)
    dl.refresh_post_status(session, post=post)
    return approval


def reject(session: Session, *, access: Access, actor: Actor, post: Post, comment: str) -> Approval:
    """Send the post back to its author as a draft, saying what to change."""
    approval = _pending_for(session, access=access, post=post)
    comment = _clean(comment, field="comment", required=True, what="what should change (a comment)")
    post.status = "draft"
    _decided(
        session,
        access=access,
        actor=actor,
        post=post,
        approval=approval,
        status=REJECTED,
        comment=comment,
        details={},
    )
    return approval


# -- discussion --------------------------------------------------------------------------------


def add_comment(
    session: Session, *, access: Access, actor: Actor, post: Post, body: str
) -> PostComment:
    """Comment on a post; its participants are told, and members named with @ too."""
    _check_visible(session, access=access, post=post)
    if not may_comment(access):
        raise PermissionDenied(f"the {access.role.value} role may not comment on posts")
    body = _clean(body, field="body", required=True, what="a comment")
    comment = PostComment(
        workspace_id=post.workspace_id, post_id=post.id, author_id=access.user.id, body=body
    )
    session.add(comment)
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="post.comment",
        workspace_id=post.workspace_id,
        target_type="post",
        target_id=post.id,
        details={"comment": str(comment.id), "length": len(body)},
    )
    _notify_discussion(session, access=access, post=post, body=body)
    return comment


def _readers(session: Session, *, post: Post, user_ids: set[uuid.UUID]) -> set[uuid.UUID]:
    """Those of ``user_ids`` who may see the post (approvers only if it was sent to them)."""
    if not user_ids:
        return set()
    rows = session.execute(
        select(Membership.user_id, Membership.role).where(
            Membership.workspace_id == post.workspace_id, Membership.user_id.in_(user_ids)
        )
    ).all()
    sent = list(
        session.execute(
            select(Approval.approver_id).where(
                Approval.post_id == post.id, Approval.status != WITHDRAWN
            )
        ).scalars()
    )
    readers: set[uuid.UUID] = set()
    for user_id, role in rows:
        sent_to_them = None in sent or user_id in sent
        if can(role, Permission.POSTS_READ) or (
            can(role, Permission.APPROVALS_DECIDE) and sent_to_them
        ):
            readers.add(user_id)
    return readers


def _notify_discussion(session: Session, *, access: Access, post: Post, body: str) -> None:
    participants: set[uuid.UUID] = {post.author_id} if post.author_id else set()
    participants.update(
        user_id
        for user_id in session.scalars(
            select(PostComment.author_id).where(PostComment.post_id == post.id)
        )
        if user_id is not None
    )
    for requested, assigned, decided in session.execute(
        select(Approval.requested_by_id, Approval.approver_id, Approval.decided_by_id).where(
            Approval.post_id == post.id, Approval.status != WITHDRAWN
        )
    ):
        participants.update(u for u in (requested, assigned, decided) if u is not None)
    mentioned = notifications.mentioned_user_ids(session, workspace_id=post.workspace_id, text=body)
    readers = _readers(session, post=post, user_ids=participants | mentioned)
    who = access.user.name or access.user.email
    link = notifications.post_link(post.workspace_id, post.id)
    me = {access.user.id}
    notifications.notify(
        session,
        workspace_id=post.workspace_id,
        user_ids=sorted(mentioned & readers),
        kind="mentioned",
        title=f"{who} mentioned you in a comment",
        body=notifications.excerpt(body, 300),
        link=link,
        exclude=me,
    )
    notifications.notify(
        session,
        workspace_id=post.workspace_id,
        user_ids=sorted((participants & readers) - mentioned),
        kind="comment",
        title=f"{who} commented on a post",
        body=notifications.excerpt(body, 300),
        link=link,
        exclude=me,
    )
