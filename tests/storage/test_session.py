# SPDX-License-Identifier: AGPL-3.0-or-later
from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError

from socialdesk.errors import PermissionDenied
from socialdesk.storage import Database
from socialdesk.storage.tables import AuditEvent, Membership, User, Workspace


def _two_workspaces(db: Database) -> tuple[Workspace, Workspace, User]:
    with db.transaction() as session:
        user = User(email="ana@example.com", password_hash="x")
        a, b = Workspace(name="A"), Workspace(name="B")
        session.add_all([user, a, b])
        session.flush()
        session.add_all(
            [
                Membership(workspace_id=a.id, user_id=user.id, role="owner"),
                Membership(workspace_id=b.id, user_id=user.id, role="analyst"),
            ]
        )
    return a, b, user


def test_scoped_session_sees_only_its_workspace(db: Database) -> None:
    a, b, _ = _two_workspaces(db)
    other_membership = _membership_id(db, b.id)
    with db.transaction(workspace_id=a.id) as session:
        roles = session.scalars(select(Membership.role)).all()
        assert roles == ["owner"]
        assert session.get(Membership, other_membership) is None


def _membership_id(db: Database, workspace_id: object) -> object:
    with db.transaction() as session:
        return session.scalars(
            select(Membership.id).where(Membership.workspace_id == workspace_id)
        ).one()


def test_scoped_session_refuses_to_write_another_workspace(db: Database) -> None:
    a, b, user = _two_workspaces(db)
    with pytest.raises(PermissionDenied), db.transaction(workspace_id=a.id) as session:
        session.add(Membership(workspace_id=b.id, user_id=user.id, role="manager"))
    with db.transaction() as session:
        assert len(session.scalars(select(Membership)).all()) == 2


def test_unscoped_session_sees_everything(db: Database) -> None:
    _two_workspaces(db)
    with db.transaction() as session:
        assert len(session.scalars(select(Membership)).all()) == 2


def test_datetimes_come_back_aware_utc(db: Database) -> None:
    paris = dt.timezone(dt.timedelta(hours=2))
    with db.transaction() as session:
        workspace = Workspace(name="A", created_at=dt.datetime(2026, 6, 1, 9, 0, tzinfo=paris))
        session.add(workspace)
    with db.transaction() as session:
        stored = session.get_one(Workspace, workspace.id).created_at
    assert stored == dt.datetime(2026, 6, 1, 7, 0, tzinfo=dt.UTC)
    assert stored.utcoffset() == dt.timedelta(0)


def test_naive_datetimes_are_refused(db: Database) -> None:
    with pytest.raises(Exception, match="naive datetime"), db.transaction() as session:
        session.add(Workspace(name="A", created_at=dt.datetime(2026, 6, 1, 9, 0)))
        session.flush()


@pytest.mark.parametrize(
    "statement", ["UPDATE audit_events SET action = 'x'", "DELETE FROM audit_events"]
)
def test_audit_log_is_append_only_in_the_database(db: Database, statement: str) -> None:
    with db.transaction() as session:
        session.add(AuditEvent(actor_label="cli", action="user.create"))
    with pytest.raises(DBAPIError, match="append-only"), db.transaction() as session:
        session.execute(text(statement))
    with db.transaction() as session:
        assert session.scalars(select(AuditEvent.action)).all() == ["user.create"]
