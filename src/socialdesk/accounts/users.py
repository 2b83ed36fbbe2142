# SPDX-License-Identifier: AGPL-3.0-or-later
"""Users: creation, sign-in, profile and password changes."""

from __future__ import annotations

import hashlib
import re
import uuid
import zoneinfo

from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from socialdesk.accounts import audit
from socialdesk.accounts.audit import Actor
from socialdesk.accounts.passwords import hash_password, verify_password
from socialdesk.errors import AuthenticationFailed, Conflict, NotFound, ValidationError
from socialdesk.storage.tables import User
from socialdesk.storage.types import utcnow

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+$")
MAX_NAME_LENGTH = 200


def normalize_email(email: str) -> str:
    value = email.strip().lower()
    if not _EMAIL.match(value) or len(value) > 320:
        raise ValidationError(f"{email!r} is not an e-mail address", field="email")
    return value


def check_timezone(name: str) -> str:
    """An IANA time zone name such as Europe/Paris, or a ValidationError."""
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise ValidationError(
            f"{name!r} is not a time zone; use an IANA name such as Europe/Paris or UTC",
            field="timezone",
        ) from None
    return name


#: Any constant, the same in every process: serialises first-run set-ups on PostgreSQL.
_FIRST_RUN_LOCK = 0x5E7C0DE


def lock_first_run(session: Session) -> None:
    """Serialise first-run set-ups, so two at once cannot both find no user and both go on.

    SQLite transactions already run one at a time (``BEGIN IMMEDIATE``).
    """
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _FIRST_RUN_LOCK})


def count_users(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(User)) or 0


def find_by_email(session: Session, email: str) -> User | None:
    return session.scalars(select(User).where(User.email == normalize_email(email))).first()


def get_user(session: Session, user_id: uuid.UUID) -> User:
    user = session.get(User, user_id)
    if user is None:
        raise NotFound("no such user")
    return user


def create_user(
    session: Session,
    *,
    email: str,
    password: str,
    actor: Actor,
    name: str = "",
    is_admin: bool = False,
    timezone: str = "UTC",
) -> User:
    """Create a user; refuses a second account with the same e-mail."""
    email = normalize_email(email)
    name = name.strip()
    if len(name) > MAX_NAME_LENGTH:
        raise ValidationError(f"the name is longer than {MAX_NAME_LENGTH} characters", field="name")
    check_timezone(timezone)
    password_hash = hash_password(password)
    if find_by_email(session, email) is not None:
        raise Conflict(f"a user with the e-mail {email} already exists")
    user = User(
        email=email, name=name, password_hash=password_hash, is_admin=is_admin, timezone=timezone
    )
    session.add(user)
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="user.create",
        target_type="user",
        target_id=user.id,
        details={"email": email, "admin": is_admin},
    )
    return user


def authenticate(session: Session, *, email: str, password: str) -> User:
    """The user with this e-mail and password; the same error for every kind of failure."""
    failure = AuthenticationFailed("wrong e-mail or password")
    try:
        email = normalize_email(email)
    except ValidationError:
        raise failure from None
    user = session.scalars(select(User).where(User.email == email)).first()
    if not verify_password(password, user.password_hash if user else None) or user is None:
        raise failure
    if user.disabled_at is not None:
        raise AuthenticationFailed("this account is disabled; ask an administrator")
    user.last_login_at = utcnow()
    return user


def session_fingerprint(user: User) -> str:
    """Changes when the password does, which signs out every other browser session."""
    return hashlib.sha256(user.password_hash.encode()).hexdigest()[:16]


def update_profile(
    session: Session,
    *,
    user: User,
    actor: Actor,
    name: str | None = None,
    timezone: str | None = None,
) -> User:
    if name is not None:
        name = name.strip()
        if len(name) > MAX_NAME_LENGTH:
            raise ValidationError(
                f"the name is longer than {MAX_NAME_LENGTH} characters", field="name"
            )
    if timezone is not None:
        check_timezone(timezone)
    if name is not None:
        user.name = name
    if timezone is not None:
        user.timezone = timezone
    audit.record(session, actor=actor, action="user.update", target_type="user", target_id=user.id)
    return user


def change_password(
    session: Session, *, user: User, actor: Actor, current_password: str, new_password: str
) -> None:
    if not verify_password(current_password, user.password_hash):
        raise ValidationError("the current password is wrong", field="current_password")
    user.password_hash = hash_password(new_password)
    audit.record(
        session, actor=actor, action="user.password_change", target_type="user", target_id=user.id
    )
