# SPDX-License-Identifier: AGPL-3.0-or-later
"""Storage: the engine, sessions scoped to a workspace, tables and migrations."""

from socialdesk.storage.engine import create_engine_for_url, normalize_database_url
from socialdesk.storage.session import (
    Database,
    SocialdeskSession,
    scope_to_workspace,
)

__all__ = [
    "Database",
    "SocialdeskSession",
    "create_engine_for_url",
    "normalize_database_url",
    "scope_to_workspace",
]
