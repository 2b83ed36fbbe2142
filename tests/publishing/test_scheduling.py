# SPDX-License-Identifier: AGPL-3.0-or-later
"""Scheduling: local wall-clock times in, UTC instants out, DST gaps and folds included."""

from __future__ import annotations

import datetime as dt
import time
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from socialdesk.errors import ValidationError
from socialdesk.publishing.scheduling import (
    MAX_EXPANSION,
    QueueSlot,
    expand_recurrence,
    next_free_slot,
    parse_instant,
    to_local,
    to_utc,
    validate_schedule,
)

UTC = dt.UTC
PARIS, NEW_YORK, LORD_HOWE = "Europe/Paris", "America/New_York", "Australia/Lord_Howe"

#: Zones with awkward rules: 30-minute DST (Lord Howe), 45-minute offsets (Chatham), a
#: skipped day (Apia, 2011), negative DST (Dublin), DST at midnight (Santiago, Havana).
AWKWARD_ZONES = [
    PARIS,
    NEW_YORK,
    LORD_HOWE,
    "Pacific/Chatham",
    "Pacific/Apia",
    "Europe/Dublin",
    "America/Santiago",
    "America/Havana",
    "America/St_Johns",
    "Asia/Kolkata",
    "UTC",
]


def local(
    year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0
) -> dt.datetime:
    return dt.datetime(year, month, day, hour, minute, second)


def utc(
    year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0
) -> dt.datetime:
    return local(year, month, day, hour, minute, second).replace(tzinfo=UTC)


# --------------------------------------------------------------------------- to_utc


@pytest.mark.parametrize(
    ("wall", "tz", "expected"),
    [
        # Ordinary times, winter and summer.
        pytest.param(local(2026, 1, 15, 9, 0), PARIS, utc(2026, 1, 15, 8, 0), id="paris-winter"),
        pytest.param(local(2026, 7, 15, 9, 0), PARIS, utc(2026, 7, 15, 7, 0), id="paris-summer"),
        # Spring forward (02:00 -> 03:00): the gap moves to its end, 03:00 CEST.
        pytest.param(local(2026, 3, 29, 1, 59), PARIS, utc(2026, 3, 29, 0, 59), id="paris-pre-gap"),
        pytest.param(local(2026, 3, 29, 2, 0), PARIS, utc(2026, 3, 29, 1, 0), id="paris-gap-start"),
        pytest.param(local(2026, 3, 29, 2, 30), PARIS, utc(2026, 3, 29, 1, 0), id="paris-gap"),
        pytest.param(
            local(2026, 3, 29, 2, 59, 59), PARIS, utc(2026, 3, 29, 1, 0), id="paris-gap-end"
        ),
        pytest.param(local(2026, 3, 29, 3, 0), PARIS, utc(2026, 3, 29, 1, 0), id="paris-after-gap"),
        # Fall back (03:00 -> 02:00): the first 02:30 (CEST) is meant.
        pytest.param(local(2026, 10, 25, 2, 30), PARIS, utc(2026, 10, 25, 0, 30), id="paris-fold"),
        pytest.param(
            local(2026, 10, 25, 3, 0), PARIS, utc(2026, 10, 25, 2, 0), id="paris-post-fold"
        ),
        pytest.param(local(2026, 3, 8, 2, 30), NEW_YORK, utc(2026, 3, 8, 7, 0), id="ny-gap"),
        pytest.param(local(2026, 11, 1, 1, 30), NEW_YORK, utc(2026, 11, 1, 5, 30), id="ny-fold"),
        # Lord Howe moves by 30 minutes: 02:00 -> 02:30 in October, 02:00 -> 01:30 in April.
        pytest.param(
            local(2026, 10, 4, 2, 10), LORD_HOWE, utc(2026, 10, 3, 15, 30), id="lord-howe-gap"
        ),
        pytest.param(
            local(2026, 10, 4, 2, 30), LORD_HOWE, utc(2026, 10, 3, 15, 30), id="lord-howe-gap-end"
        ),
        pytest.param(
            local(2026, 4, 5, 1, 45), LORD_HOWE, utc(2026, 4, 4, 14, 45), id="lord-howe-fold"
        ),
        # Samoa skipped 30 December 2011 entirely.
        pytest.param(
            local(2011, 12, 30, 12, 0), "Pacific/Apia", utc(2011, 12, 30, 10, 0), id="apia-lost-day"
        ),
    ],
)
def test_to_utc(wall: dt.datetime, tz: str, expected: dt.datetime) -> None:
    result = to_utc(wall, tz)
    assert result == expected
    assert result.tzinfo is UTC


def test_the_fold_attribute_of_the_input_is_ignored() -> None:
    wall = local(2026, 10, 25, 2, 30)
    assert to_utc(wall.replace(fold=1), PARIS) == to_utc(wall, PARIS) == utc(2026, 10, 25, 0, 30)


@pytest.mark.parametrize("tz", ["Europe/Nowhere", "", "   ", "../../etc/passwd", "/etc/localtime"])
def test_unknown_zones_are_refused(tz: str) -> None:
    with pytest.raises(ValidationError) as err:
        to_utc(local(2026, 1, 1, 9, 0), tz)
    assert err.value.field == "tz"


def test_an_aware_datetime_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="naive"):
        to_utc(utc(2026, 1, 1), PARIS)


def test_out_of_range_dates_are_refused() -> None:
    with pytest.raises(ValidationError, match="out of range"):
        to_utc(local(1, 1, 1, 0, 0), "Asia/Tokyo")


@settings(max_examples=400, deadline=None)
@given(
    tz=st.timezone_keys(),
    wall=st.datetimes(min_value=local(1900, 1, 1), max_value=local(2200, 1, 1)),
)
def test_to_utc_keeps_existing_times_and_moves_gap_times_to_the_gap_end(
    tz: str, wall: dt.datetime
) -> None:
    zone = ZoneInfo(tz)
    readings = [wall.replace(tzinfo=zone, fold=fold).astimezone(UTC) for fold in (0, 1)]
    existing = [r for r in readings if r.astimezone(zone).replace(tzinfo=None) == wall]
    result = to_utc(wall, tz)
    assert result.tzinfo is UTC
    if existing:
        assert result == min(existing)  # the first of two in a fold
        assert to_local(result, tz) == wall
    else:
        # Never before the planned time, and nothing earlier would have done.
        assert to_local(result, tz) > wall
        assert to_local(result - dt.timedelta(seconds=1), tz) < wall


# --------------------------------------------------------------------------- parse_instant


@pytest.mark.parametrize(
    ("text", "tz", "expected"),
    [
        ("2026-03-29T09:00Z", None, utc(2026, 3, 29, 9, 0)),
        ("2026-03-29t09:00z", None, utc(2026, 3, 29, 9, 0)),
        ("2026-03-29T09:00:00+02:00", PARIS, utc(2026, 3, 29, 7, 0)),
        ("2026-03-29T09:00+05:30", None, utc(2026, 3, 29, 3, 30)),
        ("  2026-03-29 09:00  ", PARIS, utc(2026, 3, 29, 7, 0)),
        ("2026-01-10T09:00", PARIS, utc(2026, 1, 10, 8, 0)),
        ("2026-03-29T02:30", PARIS, utc(2026, 3, 29, 1, 0)),  # in the gap
        ("2026-10-25T02:30", PARIS, utc(2026, 10, 25, 0, 30)),  # in the fold
        ("20260329T0900", NEW_YORK, utc(2026, 3, 29, 13, 0)),
        ("2026-03-29T09:00:00.250", "UTC", utc(2026, 3, 29, 9, 0) + dt.timedelta(milliseconds=250)),
    ],
)
def test_parse_instant(text: str, tz: str | None, expected: dt.datetime) -> None:
    assert parse_instant(text, tz) == expected


@pytest.mark.parametrize(
    ("text", "tz", "message", "field"),
    [
        ("", PARIS, "give a date and time", "at"),
        ("tomorrow at nine", PARIS, "is not a date and time; use ISO 8601", "at"),
        ("2026-03-29", PARIS, "has no time of day", "at"),
        ("2026-02-30T09:00", PARIS, "is not a date and time", "at"),
        ("2026-03-29T24:00", PARIS, "is not a date and time", "at"),
        ("2026-03-29T09:00", None, r"has no UTC offset; add one \(e.g. \+02:00 or Z\)", "at"),
        ("2026-03-29T09:00Z", "Mars/Olympus", "not a known time zone", "tz"),
    ],
)
def test_parse_instant_refuses_bad_input(
    text: str, tz: str | None, message: str, field: str
) -> None:
    with pytest.raises(ValidationError, match=message) as err:
        parse_instant(text, tz)
    assert err.value.field == field


def test_parse_instant_names_the_callers_field() -> None:
    with pytest.raises(ValidationError) as err:
        parse_instant("soon", PARIS, field="starts_at")
    assert err.value.field == "starts_at"


@given(
    st.datetimes(
        min_value=local(1900, 1, 1),
        max_value=local(2200, 1, 1),
        timezones=st.timezones(),
    )
)
def test_parse_instant_reads_back_what_isoformat_writes(value: dt.datetime) -> None:
    # Compared in UTC: Python never finds a gap or fold time equal to another zone's.
    assert parse_instant(value.isoformat(), None) == value.astimezone(UTC)


# --------------------------------------------------------------------------- queue slots

MONDAY_9 = QueueSlot(weekday=0, local_time=dt.time(9, 0))
WEDNESDAY_1730 = QueueSlot(weekday=2, local_time=dt.time(17, 30))
SUNDAY_9 = QueueSlot(weekday=6, local_time=dt.time(9, 0))


@pytest.mark.parametrize(
    ("slots", "tz", "after", "taken", "expected"),
    [
        pytest.param(
            [MONDAY_9, WEDNESDAY_1730],
            PARIS,
            utc(2026, 1, 5, 7, 0),
            set(),
            utc(2026, 1, 5, 8, 0),
            id="next-today",
        ),
        pytest.param(
            [MONDAY_9, WEDNESDAY_1730],
            PARIS,
            utc(2026, 1, 5, 8, 0),
            set(),
            utc(2026, 1, 7, 16, 30),
            id="strictly-after",
        ),
        pytest.param(
            [MONDAY_9, WEDNESDAY_1730],
            PARIS,
            utc(2026, 1, 5, 7, 0),
            {utc(2026, 1, 5, 8, 0)},
            utc(2026, 1, 7, 16, 30),
            id="skips-taken",
        ),
        pytest.param(
            [MONDAY_9, WEDNESDAY_1730],
            PARIS,
            utc(2026, 1, 5, 7, 0),
            {utc(2026, 1, 5, 8, 0), utc(2026, 1, 7, 16, 30)},
            utc(2026, 1, 12, 8, 0),
            id="wraps-to-next-week",
        ),
        pytest.param(
            [WEDNESDAY_1730, MONDAY_9, MONDAY_9],
            PARIS,
            utc(2026, 1, 8, 0, 0),
            set(),
            utc(2026, 1, 12, 8, 0),
            id="unordered-duplicates",
        ),
        # 09:00 local on both sides of the March change: 08:00 UTC, then 07:00 UTC.
        pytest.param(
            [SUNDAY_9],
            PARIS,
            utc(2026, 3, 22, 8, 0),
            set(),
            utc(2026, 3, 29, 7, 0),
            id="dst-spring",
        ),
        pytest.param(
            [SUNDAY_9],
            PARIS,
            utc(2026, 10, 18, 7, 0),
            set(),
            utc(2026, 10, 25, 8, 0),
            id="dst-autumn",
        ),
        pytest.param(
            [QueueSlot(weekday=6, local_time=dt.time(2, 30))],
            PARIS,
            utc(2026, 3, 28, 0, 0),
            set(),
            utc(2026, 3, 29, 1, 0),
            id="slot-in-gap-moves-to-gap-end",
        ),
        pytest.param(
            [QueueSlot(weekday=6, local_time=dt.time(2, 30))],
            PARIS,
            utc(2026, 10, 24, 0, 0),
            set(),
            utc(2026, 10, 25, 0, 30),
            id="slot-in-fold-is-the-first",
        ),
        # Two slots inside one gap resolve to one instant, offered once.
        pytest.param(
            [QueueSlot(6, dt.time(2, 0)), QueueSlot(6, dt.time(2, 30))],
            PARIS,
            utc(2026, 3, 28, 0, 0),
            {utc(2026, 3, 29, 1, 0)},
            utc(2026, 4, 5, 0, 0),
            id="gap-slots-count-once",
        ),
        pytest.param(
            [QueueSlot(0, dt.time(8, 0))],
            "Asia/Kolkata",
            utc(2026, 1, 4, 23, 0),
            set(),
            utc(2026, 1, 5, 2, 30),
            id="local-date-differs-from-utc-date",
        ),
        # Sunday 21:00 in New York is already Monday in UTC: Sunday's 22:00 slot is next.
        pytest.param(
            [QueueSlot(6, dt.time(22, 0)), MONDAY_9],
            NEW_YORK,
            utc(2026, 1, 5, 2, 0),
            set(),
            utc(2026, 1, 5, 3, 0),
            id="local-date-behind-utc-date",
        ),
    ],
)
def test_next_free_slot(
    slots: list[QueueSlot],
    tz: str,
    after: dt.datetime,
    taken: set[dt.datetime],
    expected: dt.datetime,
) -> None:
    assert next_free_slot(slots, tz, after=after, taken=taken) == expected


def test_taken_may_be_a_predicate() -> None:
    busy_january = lambda instant: instant.month == 1  # noqa: E731
    found = next_free_slot([MONDAY_9], PARIS, after=utc(2026, 1, 1), taken=busy_january)
    assert found == utc(2026, 2, 2, 8, 0)


def test_a_full_queue_is_reported_not_looped_over() -> None:
    with pytest.raises(ValidationError, match="next 3 weeks is taken") as err:
        next_free_slot([MONDAY_9], PARIS, after=utc(2026, 1, 1), taken=lambda _: True, max_weeks=3)
    assert err.value.field == "slots"


def test_a_queue_without_slots_is_refused() -> None:
    with pytest.raises(ValidationError, match="no posting times") as err:
        next_free_slot([], PARIS, after=utc(2026, 1, 1), taken=set())
    assert err.value.field == "slots"


def test_naive_instants_are_programming_errors() -> None:
    with pytest.raises(ValueError, match="aware"):
        next_free_slot([MONDAY_9], PARIS, after=local(2026, 1, 1), taken=set())
    with pytest.raises(ValueError, match="aware"):
        next_free_slot([MONDAY_9], PARIS, after=utc(2026, 1, 1), taken={local(2026, 1, 5, 9)})


@pytest.mark.parametrize(
    ("weekday", "text", "field"),
    [
        (7, "09:00", "weekday"),
        (-1, "09:00", "weekday"),
        (0, "9h", "local_time"),
        (0, "24:00", "local_time"),
    ],
)
def test_bad_slots_are_refused(weekday: int, text: str, field: str) -> None:
    with pytest.raises(ValidationError) as err:
        QueueSlot.parse(weekday, text)
    assert err.value.field == field


def test_slots_parse_from_the_database_form() -> None:
    assert QueueSlot.parse(2, "17:30") == WEDNESDAY_1730
    with pytest.raises(ValidationError, match="without an offset"):
        QueueSlot(0, dt.time(9, 0, tzinfo=UTC))


@settings(max_examples=150, deadline=None)
@given(
    tz=st.sampled_from(AWKWARD_ZONES),
    slots=st.lists(
        st.builds(
            QueueSlot,
            weekday=st.integers(0, 6),
            local_time=st.times().map(lambda t: t.replace(second=0, microsecond=0)),
        ),
        min_size=1,
        max_size=6,
    ),
    after=st.datetimes(min_value=local(2000, 1, 1), max_value=local(2040, 1, 1)).map(
        lambda d: d.replace(tzinfo=UTC)
    ),
    skip=st.integers(0, 12),
)
def test_next_free_slot_finds_the_first_untaken_slot(
    tz: str, slots: list[QueueSlot], after: dt.datetime, skip: int
) -> None:
    # Take the first ``skip`` free slots one after another, as a queue filling up does.
    taken: set[dt.datetime] = set()
    previous = after
    for _ in range(skip + 1):
        found = next_free_slot(slots, tz, after=after, taken=taken)
        assert found > previous or (not taken and found > after)
        assert found not in taken
        taken.add(found)
        previous = found
    # It is a slot: its wall time is a slot's, unless that time fell in a gap that day.
    wall = to_local(found, tz)
    matches = {(s.weekday, s.local_time) for s in slots}
    if (wall.weekday(), wall.time()) not in matches:
        day = wall.date()
        assert any(
            to_utc(dt.datetime.combine(day, s.local_time), tz) == found
            and to_local(to_utc(dt.datetime.combine(day, s.local_time), tz), tz)
            != dt.datetime.combine(day, s.local_time)
            for s in slots
            if s.weekday == day.weekday()
        )
    # And no free slot instant was skipped between ``after`` and it.
    day = to_local(after, tz).date() - dt.timedelta(days=1)
    while day <= wall.date():
        for slot in slots:
            if slot.weekday == day.weekday():
                instant = to_utc(dt.datetime.combine(day, slot.local_time), tz)
                assert not (after < instant < found and instant not in taken)
        day += dt.timedelta(days=1)


# --------------------------------------------------------------------------- recurrence


def test_a_weekly_0900_post_stays_at_0900_across_both_dst_changes() -> None:
    found = expand_recurrence(
        "RRULE:FREQ=WEEKLY;BYDAY=MO",
        dtstart_local=local(2026, 1, 5, 9, 0),
        tz=PARIS,
        after=utc(2026, 1, 1),
        before=utc(2027, 1, 1),
        limit=100,
    )
    assert len(found) == 52
    assert {to_local(i, PARIS).time() for i in found} == {dt.time(9, 0)}
    assert {to_local(i, PARIS).weekday() for i in found} == {0}
    utc_hours = [i.hour for i in found]
    assert utc_hours[:12] == [8] * 12  # CET until 29 March
    assert utc_hours[12] == 7
    assert utc(2026, 3, 30, 7, 0) in found
    assert utc(2026, 10, 26, 8, 0) in found
    assert utc(2026, 10, 19, 7, 0) in found
    assert utc_hours[-1] == 8


def test_new_york_weekly_recurrence_keeps_its_wall_time() -> None:
    found = expand_recurrence(
        "FREQ=WEEKLY;BYDAY=SU",
        dtstart_local=local(2026, 3, 1, 9, 0),
        tz=NEW_YORK,
        after=utc(2026, 3, 1),
        before=utc(2026, 11, 15),
        limit=100,
    )
    assert {to_local(i, NEW_YORK).time() for i in found} == {dt.time(9, 0)}
    assert utc(2026, 3, 1, 14, 0) in found
    assert utc(2026, 3, 8, 13, 0) in found
    assert utc(2026, 10, 25, 13, 0) in found
    assert utc(2026, 11, 1, 14, 0) in found


def test_daily_recurrence_through_a_gap_and_a_fold() -> None:
    spring = expand_recurrence(
        "FREQ=DAILY",
        dtstart_local=local(2026, 3, 27, 2, 30),
        tz=PARIS,
        after=utc(2026, 3, 26),
        before=utc(2026, 3, 31),
        limit=10,
    )
    assert [to_local(i, PARIS) for i in spring] == [
        local(2026, 3, 27, 2, 30),
        local(2026, 3, 28, 2, 30),
        local(2026, 3, 29, 3, 0),  # 02:30 does not exist that day
        local(2026, 3, 30, 2, 30),
    ]
    autumn = expand_recurrence(
        "FREQ=DAILY",
        dtstart_local=local(2026, 10, 24, 2, 30),
        tz=PARIS,
        after=utc(2026, 10, 23),
        before=utc(2026, 10, 27),
        limit=10,
    )
    assert autumn == [utc(2026, 10, 24, 0, 30), utc(2026, 10, 25, 0, 30), utc(2026, 10, 26, 1, 30)]


def test_lord_howe_half_hour_dst() -> None:
    found = expand_recurrence(
        "FREQ=DAILY;BYHOUR=2;BYMINUTE=15",
        dtstart_local=local(2026, 10, 2, 2, 15),
        tz=LORD_HOWE,
        after=utc(2026, 10, 1),
        before=utc(2026, 10, 5),
        limit=10,
    )
    walls = [to_local(i, LORD_HOWE) for i in found]
    assert walls == [
        local(2026, 10, 2, 2, 15),
        local(2026, 10, 3, 2, 15),
        local(2026, 10, 4, 2, 30),  # 02:00-02:30 is skipped
        local(2026, 10, 5, 2, 15),
    ]


@pytest.mark.parametrize(
    ("rule", "expected_count", "last"),
    [
        ("FREQ=DAILY;COUNT=3", 3, local(2026, 1, 3, 9, 0)),
        ("FREQ=DAILY;UNTIL=20260104T090000", 4, local(2026, 1, 4, 9, 0)),
        ("FREQ=DAILY;UNTIL=20260104T080000Z", 4, local(2026, 1, 4, 9, 0)),  # 09:00 in Paris
        ("FREQ=DAILY;UNTIL=20260104T075959Z", 3, local(2026, 1, 3, 9, 0)),
        ("FREQ=DAILY;UNTIL=20260104", 4, local(2026, 1, 4, 9, 0)),  # the whole day
        ("FREQ=WEEKLY;INTERVAL=2;COUNT=3", 3, local(2026, 1, 29, 9, 0)),
        ("FREQ=MONTHLY;BYDAY=-1FR;COUNT=2", 2, local(2026, 2, 27, 9, 0)),
        ("FREQ=MONTHLY;BYDAY=MO,TU,WE,TH,FR;BYSETPOS=-1;COUNT=2", 2, local(2026, 2, 27, 9, 0)),
        ("FREQ=DAILY;BYHOUR=9,17;COUNT=4", 4, local(2026, 1, 2, 17, 0)),
        ("freq=daily;count=2;", 2, local(2026, 1, 2, 9, 0)),
    ],
)
def test_rule_endings_and_shapes(rule: str, expected_count: int, last: dt.datetime) -> None:
    found = expand_recurrence(
        rule,
        dtstart_local=local(2026, 1, 1, 9, 0),
        tz=PARIS,
        after=utc(2025, 12, 1),
        before=utc(2027, 1, 1),
        limit=100,
    )
    assert len(found) == expected_count
    assert to_local(found[-1], PARIS) == last


def test_the_window_is_exclusive_and_the_limit_holds() -> None:
    def daily_at_nine(after: dt.datetime, before: dt.datetime, limit: int) -> list[dt.datetime]:
        return expand_recurrence(
            "FREQ=DAILY",
            dtstart_local=local(2026, 1, 1, 9, 0),
            tz="UTC",
            after=after,
            before=before,
            limit=limit,
        )

    assert daily_at_nine(utc(2026, 1, 2, 9), utc(2026, 1, 5, 9), 100) == [
        utc(2026, 1, 3, 9),
        utc(2026, 1, 4, 9),
    ]
    assert daily_at_nine(utc(2026, 1, 1), utc(2027, 1, 1), 5) == [
        utc(2026, 1, d, 9) for d in range(1, 6)
    ]
    assert daily_at_nine(utc(2026, 2, 1), utc(2026, 1, 1), 5) == []  # empty window
    assert daily_at_nine(utc(2025, 1, 1), utc(2025, 6, 1), 5) == []  # before the start


def test_a_rule_that_never_matches_returns_quickly() -> None:
    started = time.monotonic()
    found = expand_recurrence(
        "FREQ=DAILY;BYMONTH=2;BYMONTHDAY=30",
        dtstart_local=local(2026, 1, 1, 9, 0),
        tz=PARIS,
        after=utc(2026, 1, 1),
        before=utc(2030, 1, 1),
        limit=10,
    )
    assert found == []
    assert time.monotonic() - started < 2.0  # dateutil alone runs to the year 9999


def test_leap_day_rules_survive_the_calendar_translation() -> None:
    found = expand_recurrence(
        "FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=29",
        dtstart_local=local(2026, 1, 1, 9, 0),
        tz=PARIS,
        after=utc(2026, 1, 1),
        before=utc(2041, 1, 1),
        limit=10,
    )
    assert [i.date() for i in found] == [dt.date(y, 2, 29) for y in (2028, 2032, 2036, 2040)]


def test_a_start_long_before_the_window_is_refused_not_ground_through() -> None:
    with pytest.raises(ValidationError, match="starts too long before") as err:
        expand_recurrence(
            "FREQ=DAILY;BYHOUR=0,6,12,18",
            dtstart_local=local(1900, 1, 1, 0, 0),
            tz="UTC",
            after=utc(2026, 1, 1),
            before=utc(2026, 2, 1),
            limit=10,
        )
    assert err.value.field == "rrule"


@pytest.mark.parametrize(
    ("rule", "message"),
    [
        ("", "empty"),
        ("RRULE:", "empty"),
        ("BYDAY=MO", "needs FREQ"),
        ("FREQ=FORTNIGHTLY", "FREQ=FORTNIGHTLY is not one of"),
        ("FREQ=HOURLY", "at most daily"),
        ("FREQ=MINUTELY;COUNT=5", "at most daily"),
        ("FREQ=WEEKLY;BYDAY=XX", "BYDAY=XX is not a list of days"),
        ("FREQ=MONTHLY;BYDAY=6MO", "allowed from 1 to 5"),
        ("FREQ=YEARLY;BYDAY=-54MO", "allowed from 1 to 53"),
        ("FREQ=WEEKLY;BYDAY=1MO", "only with MONTHLY or YEARLY"),
        ("FREQ=WEEKLY;BYDAY=MO,", "is not a list of days"),
        ("FREQ=MONTHLY;BYMONTHDAY=32", "BYMONTHDAY=32 is out of range"),
        ("FREQ=MONTHLY;BYMONTHDAY=0", r"from -31 to 31 \(not 0\)"),
        ("FREQ=DAILY;BYHOUR=9,24", "BYHOUR=9,24 is out of range"),
        ("FREQ=YEARLY;BYMONTH=13", "BYMONTH=13 is out of range"),
        ("FREQ=YEARLY;BYMONTH=X", "BYMONTH=X is out of range"),
        ("FREQ=WEEKLY;COUNT=0", "COUNT must be a whole number from 1 to 10000"),
        ("FREQ=WEEKLY;COUNT=10001", "COUNT must be"),
        ("FREQ=WEEKLY;COUNT=abc", "COUNT must be"),
        ("FREQ=WEEKLY;INTERVAL=0", "INTERVAL must be"),
        ("FREQ=WEEKLY;COUNT=2;UNTIL=20260301", "not both"),
        ("FREQ=WEEKLY;FOO=1", "FOO is not supported"),
        ("FREQ=YEARLY;BYEASTER=0", "BYEASTER is not supported"),
        ("FREQ=WEEKLY;FREQ=DAILY", "FREQ appears twice"),
        ("FREQ=WEEKLY;UNTIL=tomorrow", "UNTIL=TOMORROW is not a date"),
        ("FREQ=WEEKLY;UNTIL=20261332", "UNTIL=20261332 is not a valid date"),
        ("FREQ=WEEKLY;BYDAY", "is not NAME=VALUE"),
        ("DTSTART:20260101T090000\nRRULE:FREQ=DAILY", "one RRULE line"),
        ("DTSTART=20260101T090000;FREQ=DAILY", "comes from the post"),
        ("EXDATE:20260101T090000", "only an RRULE is supported"),
        ("RRULE:FREQ=DAILY;UNTIL=20260101T090000Z;X-Y:1", "only an RRULE is supported"),
    ],
)
def test_bad_rules_are_refused_clearly(rule: str, message: str) -> None:
    with pytest.raises(ValidationError, match=message) as err:
        expand_recurrence(
            rule,
            dtstart_local=local(2026, 1, 1, 9, 0),
            tz=PARIS,
            after=utc(2026, 1, 1),
            before=utc(2027, 1, 1),
            limit=10,
        )
    assert err.value.field == "rrule"


@pytest.mark.parametrize("limit", [0, -1, MAX_EXPANSION + 1])
def test_the_limit_is_bounded(limit: int) -> None:
    with pytest.raises(ValidationError) as err:
        expand_recurrence(
            "FREQ=DAILY",
            dtstart_local=local(2026, 1, 1, 9, 0),
            tz=PARIS,
            after=utc(2026, 1, 1),
            before=utc(2027, 1, 1),
            limit=limit,
        )
    assert err.value.field == "limit"


def test_recurrence_argument_errors() -> None:
    with pytest.raises(ValidationError) as err:
        expand_recurrence(
            "FREQ=DAILY",
            dtstart_local=local(2026, 1, 1, 9),
            tz="Nowhere/City",
            after=utc(2026, 1, 1),
            before=utc(2027, 1, 1),
            limit=10,
        )
    assert err.value.field == "tz"
    with pytest.raises(ValueError, match="naive"):
        expand_recurrence(
            "FREQ=DAILY",
            dtstart_local=utc(2026, 1, 1, 9),
            tz=PARIS,
            after=utc(2026, 1, 1),
            before=utc(2027, 1, 1),
            limit=10,
        )


@settings(max_examples=150, deadline=None)
@given(
    tz=st.sampled_from(AWKWARD_ZONES),
    start=st.datetimes(min_value=local(1990, 1, 1), max_value=local(2035, 1, 1)).map(
        lambda d: d.replace(second=0, microsecond=0)
    ),
    freq=st.sampled_from(["DAILY", "WEEKLY", "MONTHLY"]),
    interval=st.integers(1, 3),
    window_start_days=st.integers(-30, 3000),
    window_days=st.integers(1, 800),
    limit=st.integers(1, 200),
)
def test_every_occurrence_keeps_its_planned_wall_time(
    tz: str,
    start: dt.datetime,
    freq: str,
    interval: int,
    window_start_days: int,
    window_days: int,
    limit: int,
) -> None:
    after = to_utc(start, tz) + dt.timedelta(days=window_start_days)
    before = after + dt.timedelta(days=window_days)
    found = expand_recurrence(
        f"FREQ={freq};INTERVAL={interval}",
        dtstart_local=start,
        tz=tz,
        after=after,
        before=before,
        limit=limit,
    )
    assert len(found) <= limit
    assert all(after < i < before for i in found)
    assert found == sorted(set(found))
    for instant in found:
        wall = to_local(instant, tz)
        planned = dt.datetime.combine(wall.date(), start.time())
        if wall != planned:
            # Only where the planned time does not exist that day (a DST gap): then the
            # post is later than planned, by less than the gap, and never earlier.
            assert to_local(to_utc(planned, tz), tz) != planned
            assert planned < wall <= planned + dt.timedelta(days=1)


# --------------------------------------------------------------------------- validate


@pytest.mark.parametrize(
    ("at", "ok"),
    [
        (utc(2026, 6, 1, 12, 0), True),
        (utc(2026, 6, 1, 11, 59), True),  # within the grace
        (utc(2026, 6, 1, 11, 58), True),  # exactly the grace
        (utc(2026, 6, 1, 11, 57, 59), False),
        (utc(2025, 6, 1, 12, 0), False),
        (dt.datetime(2026, 6, 1, 14, 30, tzinfo=ZoneInfo(PARIS)), True),
    ],
)
def test_validate_schedule(at: dt.datetime, ok: bool) -> None:
    now, grace = utc(2026, 6, 1, 12, 0), dt.timedelta(minutes=2)
    if ok:
        result = validate_schedule(at, now=now, grace=grace)
        assert result == at
        assert result.tzinfo is UTC
    else:
        with pytest.raises(ValidationError, match="is in the past") as err:
            validate_schedule(at, now=now, grace=grace)
        assert err.value.field == "at"


def test_validate_schedule_refuses_a_naive_time() -> None:
    with pytest.raises(ValidationError, match="no UTC offset") as err:
        validate_schedule(local(2027, 1, 1, 9), now=utc(2026, 1, 1), grace=dt.timedelta(0))
    assert err.value.field == "at"
    with pytest.raises(ValueError, match="aware"):
        validate_schedule(utc(2027, 1, 1), now=local(2026, 1, 1), grace=dt.timedelta(0))


def test_a_bad_rule_is_refused_even_for_an_empty_window() -> None:
    with pytest.raises(ValidationError, match="not a valid repeat rule") as err:
        expand_recurrence(
            "FREQ=WEEKLY;WKST=XX",
            dtstart_local=local(2026, 1, 1, 9, 0),
            tz=PARIS,
            after=utc(2026, 2, 1),
            before=utc(2026, 1, 1),
            limit=10,
        )
    assert err.value.field == "rrule"


_RULE_PARTS = st.fixed_dictionaries(
    {"FREQ": st.sampled_from(["DAILY", "WEEKLY", "MONTHLY", "YEARLY", "HOURLY", "X"])},
    optional={
        "INTERVAL": st.integers(-1, 1200).map(str),
        "COUNT": st.integers(-1, 12000).map(str),
        "UNTIL": st.sampled_from(["20260301", "20300101T000000Z", "19991231T235959", "2026"]),
        "BYDAY": st.sampled_from(["MO", "-1FR", "MO,WE,FR", "+2TU", "XX", "53MO"]),
        "BYMONTH": st.sampled_from(["1", "2,8", "12", "13", "0"]),
        "BYMONTHDAY": st.sampled_from(["1", "-1", "15,30", "31", "32", "0", "-31"]),
        "BYYEARDAY": st.sampled_from(["1", "-1", "366", "200,100"]),
        "BYWEEKNO": st.sampled_from(["1", "-1", "53", "20"]),
        "BYHOUR": st.sampled_from(["0", "9,17", "23", "24"]),
        "BYMINUTE": st.sampled_from(["0", "30", "59,1"]),
        "BYSETPOS": st.sampled_from(["1", "-1", "2", "400"]),
        "WKST": st.sampled_from(["MO", "SU", "XX"]),
    },
)


@settings(max_examples=150, deadline=None)
@given(
    parts=_RULE_PARTS,
    tz=st.sampled_from(AWKWARD_ZONES),
    start=st.datetimes(min_value=local(1950, 1, 1), max_value=local(2100, 1, 1)),
    offset_days=st.integers(-400, 20_000),
    window_days=st.integers(0, 2000),
)
def test_any_rule_either_expands_sanely_or_is_refused(
    parts: dict[str, str],
    tz: str,
    start: dt.datetime,
    offset_days: int,
    window_days: int,
) -> None:
    after = to_utc(start, tz) + dt.timedelta(days=offset_days)
    before = after + dt.timedelta(days=window_days)
    rule = ";".join(f"{k}={v}" for k, v in parts.items())
    outcome: list[dt.datetime] | ValidationError
    try:
        outcome = expand_recurrence(
            rule, dtstart_local=start, tz=tz, after=after, before=before, limit=50
        )
    except ValidationError as exc:
        outcome = exc
    if isinstance(outcome, ValidationError):
        assert outcome.field == "rrule"
        return
    assert len(outcome) <= 50
    assert outcome == sorted(set(outcome))
    assert all(after < i < before for i in outcome)
    assert all(to_utc(start.replace(microsecond=0), tz) <= i for i in outcome)
