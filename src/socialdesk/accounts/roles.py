# SPDX-License-Identifier: AGPL-3.0-or-later
"""Roles in a workspace and what each may do (the table in DESIGN.md, as data)."""

from __future__ import annotations

from enum import StrEnum

from socialdesk.errors import PermissionDenied, ValidationError


class Role(StrEnum):
    OWNER = "owner"
    ADMIN = "admin"
    MANAGER = "manager"
    MARKETER = "marketer"
    ANALYST = "analyst"
    APPROVER = "approver"


class Permission(StrEnum):
    WORKSPACE_READ = "workspace.read"
    WORKSPACE_MANAGE = "workspace.manage"
    WORKSPACE_DELETE = "workspace.delete"
    MEMBERS_READ = "members.read"
    MEMBERS_MANAGE = "members.manage"
    OWNERS_MANAGE = "owners.manage"
    AUDIT_READ = "audit.read"
    TOKENS_OWN = "tokens.own"
    CONNECTIONS_MANAGE = "connections.manage"
    POSTS_READ = "posts.read"
    POSTS_WRITE = "posts.write"
    CAMPAIGN_POSTS_WRITE = "posts.write_for_campaigns"
    POSTS_PUBLISH = "posts.publish"
    APPROVALS_REQUEST = "approvals.request"
    APPROVALS_DECIDE = "approvals.decide"
    INBOX_READ = "inbox.read"
    INBOX_WORK = "inbox.work"
    LISTENING_MANAGE = "listening.manage"
    CAMPAIGNS_MANAGE = "campaigns.manage"
    REPORTS_READ = "reports.read"
    REPORTS_EXPORT = "reports.export"


_EVERYTHING = frozenset(Permission)
_READ_ALL = frozenset(
    {
        Permission.WORKSPACE_READ,
        Permission.MEMBERS_READ,
        Permission.TOKENS_OWN,
        Permission.POSTS_READ,
        Permission.INBOX_READ,
        Permission.REPORTS_READ,
    }
)

ROLE_PERMISSIONS: dict[Role, frozenset[Permission]] = {
    Role.OWNER: _EVERYTHING,
    Role.ADMIN: _EVERYTHING - {Permission.WORKSPACE_DELETE, Permission.OWNERS_MANAGE},
    Role.MANAGER: _READ_ALL
    | {
        Permission.POSTS_WRITE,
        Permission.CAMPAIGN_POSTS_WRITE,
        Permission.POSTS_PUBLISH,
        Permission.APPROVALS_REQUEST,
        Permission.INBOX_WORK,
        Permission.LISTENING_MANAGE,
        Permission.REPORTS_EXPORT,
    },
    Role.MARKETER: _READ_ALL
    | {
        Permission.CAMPAIGNS_MANAGE,
        Permission.CAMPAIGN_POSTS_WRITE,
        Permission.APPROVALS_REQUEST,
        Permission.REPORTS_EXPORT,
    },
    Role.ANALYST: _READ_ALL | {Permission.REPORTS_EXPORT},
    # An approver (often the client) sees what was sent to them and decides; nothing else.
    Role.APPROVER: frozenset({Permission.WORKSPACE_READ, Permission.APPROVALS_DECIDE}),
}

ROLE_DESCRIPTIONS: dict[Role, str] = {
    Role.OWNER: "Everything, including owners and deleting the workspace",
    Role.ADMIN: "Everything in the workspace: members, settings, connections",
    Role.MANAGER: "Posts, calendar, library, inbox, listening, organic reports",
    Role.MARKETER: "Campaigns, budgets, ads, experiments, links, paid reports",
    Role.ANALYST: "Reads everything and exports reports",
    Role.APPROVER: "Sees and approves or rejects posts sent for approval",
}


def parse_role(value: str) -> Role:
    """The role named ``value``, or a ValidationError that lists the valid ones."""
    try:
        return Role(value.strip().lower())
    except ValueError:
        choices = ", ".join(role.value for role in Role)
        raise ValidationError(
            f"unknown role {value!r}; choose one of: {choices}", field="role"
        ) from None


def can(role: Role | str, permission: Permission) -> bool:
    return permission in ROLE_PERMISSIONS[Role(role)]


def require(role: Role | str, permission: Permission) -> None:
    if not can(role, permission):
        raise PermissionDenied(f"the {Role(role).value} role may not do this ({permission.value})")
