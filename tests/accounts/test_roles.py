# SPDX-License-Identifier: AGPL-3.0-or-later
from __future__ import annotations

import pytest

from socialdesk.accounts.roles import ROLE_PERMISSIONS, Permission, Role, can, parse_role
from socialdesk.errors import ValidationError

# The role table of DESIGN.md, as cases.
CASES = [
    (Role.OWNER, Permission.WORKSPACE_DELETE, True),
    (Role.ADMIN, Permission.WORKSPACE_DELETE, False),
    (Role.ADMIN, Permission.MEMBERS_MANAGE, True),
    (Role.ADMIN, Permission.CONNECTIONS_MANAGE, True),
    (Role.ADMIN, Permission.OWNERS_MANAGE, False),
    (Role.MANAGER, Permission.POSTS_WRITE, True),
    (Role.MANAGER, Permission.INBOX_WORK, True),
    (Role.MANAGER, Permission.CAMPAIGNS_MANAGE, False),
    (Role.MANAGER, Permission.MEMBERS_MANAGE, False),
    (Role.MARKETER, Permission.CAMPAIGNS_MANAGE, True),
    (Role.MARKETER, Permission.CAMPAIGN_POSTS_WRITE, True),
    (Role.MARKETER, Permission.POSTS_PUBLISH, False),
    (Role.MARKETER, Permission.INBOX_WORK, False),
    (Role.ANALYST, Permission.REPORTS_EXPORT, True),
    (Role.ANALYST, Permission.POSTS_READ, True),
    (Role.ANALYST, Permission.POSTS_WRITE, False),
    (Role.APPROVER, Permission.APPROVALS_DECIDE, True),
    (Role.APPROVER, Permission.POSTS_READ, False),
    (Role.APPROVER, Permission.MEMBERS_READ, False),
    (Role.APPROVER, Permission.TOKENS_OWN, False),
]


@pytest.mark.parametrize(("role", "permission", "allowed"), CASES)
def test_role_table(role: Role, permission: Permission, allowed: bool) -> None:
    assert can(role, permission) is allowed


def test_every_role_has_permissions() -> None:
    assert set(ROLE_PERMISSIONS) == set(Role)


@pytest.mark.parametrize("text", ["Manager", " analyst "])
def test_parse_role_is_forgiving_about_case(text: str) -> None:
    assert parse_role(text).value == text.strip().lower()


def test_parse_role_lists_the_choices() -> None:
    with pytest.raises(ValidationError, match="owner, admin, manager, marketer, analyst, approver"):
        parse_role("boss")
