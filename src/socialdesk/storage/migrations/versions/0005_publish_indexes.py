# SPDX-License-Identifier: AGPL-3.0-or-later
"""publish indexes: the claim index orders due jobs by (due_at, id)

A claim takes the oldest due jobs, ``ORDER BY due_at, id``. Jobs due at the same instant
(a busy top of the hour) tie on ``due_at``, and with ``(state, due_at)`` alone the database
read and sorted every one of them to find the first few, under the claim's lock. With
``id`` in the index it reads the first ``limit`` entries and stops.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-23
"""

from __future__ import annotations

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_index("ix_jobs_claim", table_name="jobs")
    op.create_index("ix_jobs_claim", "jobs", ["state", "due_at", "id"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_jobs_claim", table_name="jobs")
    op.create_index("ix_jobs_claim", "jobs", ["state", "due_at"], unique=False)
