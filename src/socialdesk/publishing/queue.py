# SPDX-License-Identifier: AGPL-3.0-or-later
"""Each channel's weekly posting slots ("add to queue" takes the next free one)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from socialdesk.accounts import audit
from socialdesk.accounts.audit import Actor
from socialdesk.errors import ValidationError
from socialdesk.storage.tables import Channel, QueueSlot

MAX_SLOTS_PER_WEEK = 7 * 24
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def parse_weekday(value: str | int) -> int:
    if isinstance(value, int) and 0 <= value <= 6:
        return value
    text = str(value).strip().lower()[:3]
    if text in WEEKDAYS:
        return WEEKDAYS.index(text)
    raise ValidationError(
        f"{value!r} is not a weekday; use mon, tue, wed, thu, fri, sat or sun (or 0-6)",
        field="weekday",
    )


def parse_local_time(value: str) -> str:
    try:
        parsed = dt.time.fromisoformat(value.strip())
    except ValueError:
        raise ValidationError(
            f"{value!r} is not a time of day; use HH:MM such as 09:30", field="time"
        ) from None
    return parsed.strftime("%H:%M")


def list_slots(session: Session, *, channel: Channel) -> list[QueueSlot]:
    return list(
        session.scalars(
            select(QueueSlot)
            .where(QueueSlot.channel_id == channel.id)
            .order_by(QueueSlot.weekday, QueueSlot.local_time)
        )
    )


def set_slots(
    session: Session, *, channel: Channel, slots: Sequence[tuple[str | int, str]], actor: Actor
) -> list[QueueSlot]:
    """Replace the channel's weekly slots (checked first; nothing changes on bad input)."""
    parsed = sorted({(parse_weekday(day), parse_local_time(time)) for day, time in slots})
    if len(parsed) > MAX_SLOTS_PER_WEEK:
        raise ValidationError(f"at most {MAX_SLOTS_PER_WEEK} slots a week", field="slots")
    session.execute(delete(QueueSlot).where(QueueSlot.channel_id == channel.id))
    created = [
        QueueSlot(
            workspace_id=channel.workspace_id,
            channel_id=channel.id,
            weekday=weekday,
            local_time=local_time,
        )
        for weekday, local_time in parsed
    ]
    session.add_all(created)
    audit.record(
        session,
        actor=actor,
        action="channel.queue_update",
        workspace_id=channel.workspace_id,
        target_type="channel",
        target_id=channel.id,
        details={"slots": [f"{WEEKDAYS[d]} {t}" for d, t in parsed]},
    )
    return created
