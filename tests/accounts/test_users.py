# SPDX-License-Identifier: AGPL-3.0-or-later
from __future__ import annotations

import pytest
from sqlalchemy import select

from socialdesk.accounts import users
from socialdesk.accounts.audit import Actor
from socialdesk.errors import AuthenticationFailed, Conflict, ValidationError
from socialdesk.storage import Database
from socialdesk.storage.tables import AuditEvent, User

PASSWORD = "correct horse battery"


def test_password_is_hashed_with_argon2id(db: Database) -> None:
    with db.transaction() as session:
        user = users.create_user(
            session, email="Ana@Example.com", password=PASSWORD, actor=Actor.cli()
        )
    assert user.email == "ana@example.com"
    assert user.password_hash.startswith("$argon2id$")
    assert PASSWORD not in user.password_hash


def test_authenticate(db: Database) -> None:
    with db.transaction() as session:
        users.create_user(session, email="ana@example.com", password=PASSWORD, actor=Actor.cli())
    with db.transaction() as session:
        assert users.authenticate(
            session, email=" ANA@example.com", password=PASSWORD
        ).last_login_at
    for email, password in [
        ("ana@example.com", "wrong password"),
        ("bob@example.com", PASSWORD),
        ("x", "y"),
    ]:
        with (
            pytest.raises(AuthenticationFailed, match="wrong e-mail or password"),
            db.transaction() as s,
        ):
            users.authenticate(s, email=email, password=password)


@pytest.mark.parametrize(
    ("email", "password", "timezone", "field"),
    [
        ("not-an-email", PASSWORD, "UTC", "email"),
        ("ana@example.com", "short", "UTC", "password"),
        ("ana@example.com", PASSWORD, "Europe/Atlantis", "timezone"),
    ],
)
def test_bad_input_changes_nothing(
    db: Database, email: str, password: str, timezone: str, field: str
) -> None:
    with pytest.raises(ValidationError) as caught, db.transaction() as session:
        users.create_user(
            session, email=email, password=password, timezone=timezone, actor=Actor.cli()
        )
    assert caught.value.field == field
    with db.transaction() as session:
        assert session.scalars(select(User)).all() == []
        assert session.scalars(select(AuditEvent)).all() == []


def test_duplicate_email_is_a_conflict(db: Database) -> None:
    with db.transaction() as session:
        users.create_user(session, email="ana@example.com", password=PASSWORD, actor=Actor.cli())
    with pytest.raises(Conflict, match="already exists"), db.transaction() as session:
        users.create_user(session, email="ANA@example.com", password=PASSWORD, actor=Actor.cli())


def test_password_change_changes_the_session_fingerprint(db: Database) -> None:
    with db.transaction() as session:
        user = users.create_user(
            session, email="ana@example.com", password=PASSWORD, actor=Actor.cli()
        )
        before = users.session_fingerprint(user)
        with pytest.raises(ValidationError, match="current password"):
            users.change_password(
                session,
                user=user,
                actor=Actor.cli(),
                current_password="nope",
                new_password="x" * 12,
            )
        users.change_password(
            session, user=user, actor=Actor.cli(), current_password=PASSWORD, new_password="x" * 12
        )
        assert users.session_fingerprint(user) != before
