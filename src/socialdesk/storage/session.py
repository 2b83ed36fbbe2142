# SPDX-License-Identifier: AGPL-3.0-or-later
"""Sessions, transactions and the one place tenancy is enforced.

A session scoped to a workspace (:func:`scope_to_workspace`) adds
``workspace_id = :ws`` to every ORM query on a :class:`~socialdesk.storage.tables.TenantScoped`
table, and refuses to write a row that belongs to another workspace. Routes and domain
functions that act inside a workspace use such a session, so forgetting a filter
cannot leak another workspace's rows.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Engine, event
from sqlalchemy.orm import ORMExecuteState, Session, sessionmaker, with_loader_criteria

from socialdesk.errors import PermissionDenied
from socialdesk.storage.engine import create_engine_for_url
from socialdesk.storage.tables import TenantScoped

_WORKSPACE_KEY = "workspace_id"


class SocialdeskSession(Session):
    """The session class of socialdesk (tenancy events are attached to it)."""


def scope_to_workspace(session: Session, workspace_id: uuid.UUID) -> None:
    """From now on, this session sees and writes only ``workspace_id``'s tenant rows."""
    current = session.info.get(_WORKSPACE_KEY)
    if current is not None and current != workspace_id:
        raise PermissionDenied("this session is already scoped to another workspace")
    session.info[_WORKSPACE_KEY] = workspace_id


def session_workspace(session: Session) -> uuid.UUID | None:
    value = session.info.get(_WORKSPACE_KEY)
    return value if isinstance(value, uuid.UUID) else None


@event.listens_for(SocialdeskSession, "do_orm_execute")
def _add_tenant_criteria(state: ORMExecuteState) -> None:
    workspace_id = session_workspace(state.session)
    if workspace_id is None or state.is_column_load or state.is_relationship_load:
        return
    if state.is_select or state.is_update or state.is_delete:
        state.statement = state.statement.options(
            with_loader_criteria(
                TenantScoped,
                lambda cls: cls.workspace_id == workspace_id,
                include_aliases=True,
            )
        )


@event.listens_for(SocialdeskSession, "before_flush")
def _refuse_foreign_rows(session: Session, _context: Any, _instances: Any) -> None:
    workspace_id = session_workspace(session)
    if workspace_id is None:
        return
    for obj in [*session.new, *session.dirty]:
        if isinstance(obj, TenantScoped) and obj.workspace_id != workspace_id:
            raise PermissionDenied("refusing to write a row of another workspace")


class Database:
    """An engine and its session factory; one per process."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.sessions = sessionmaker(bind=engine, class_=SocialdeskSession, expire_on_commit=False)

    @classmethod
    def from_url(cls, url: str, **engine_kwargs: Any) -> Database:
        return cls(create_engine_for_url(url, **engine_kwargs))

    @contextmanager
    def transaction(self, workspace_id: uuid.UUID | None = None) -> Iterator[Session]:
        """A session in one transaction: committed on success, rolled back on any error."""
        with self.sessions() as session, session.begin():
            if workspace_id is not None:
                scope_to_workspace(session, workspace_id)
            yield session

    def dispose(self) -> None:
        self.engine.dispose()
