# SPDX-License-Identifier: AGPL-3.0-or-later
"""When posts go out: local times in, aware UTC instants out (design invariant 2).

People plan in wall-clock time ("every Monday at 09:00 in Paris"); the queue and the
database hold UTC instants. Every conversion between the two happens here, with the two
awkward cases of daylight saving time decided once, the same way everywhere:

* a local time that does not exist (the spring-forward gap, e.g. 02:30 in Paris on the
  last Sunday of March) moves **forward to the first instant that exists**, the end of
  the gap (03:00), so a post is never published before its planned time and never lost;
* a local time that happens twice (the fall-back fold, e.g. 02:30 on the last Sunday of
  October) means **the first of the two** (``fold=0``, still summer time).

Weekly queue slots and recurring posts are expanded in local wall time and converted one
by one, so "09:00" stays 09:00 local across DST changes instead of drifting by an hour.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Callable, Iterable
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from dateutil.rrule import rrule, rrulestr

from socialdesk.errors import ValidationError

__all__ = [
    "DEFAULT_MAX_WEEKS",
    "MAX_EXPANSION",
    "MAX_RECURRENCE_COUNT",
    "QueueSlot",
    "expand_recurrence",
    "get_zone",
    "next_free_slot",
    "parse_instant",
    "to_local",
    "to_utc",
    "validate_schedule",
]

UTC = dt.UTC

#: How far ahead :func:`next_free_slot` looks before saying the queue is full.
DEFAULT_MAX_WEEKS = 104
#: Most occurrences one call of :func:`expand_recurrence` may return.
MAX_EXPANSION = 10_000
#: Largest ``COUNT`` a recurring post may have (daily for 27 years).
MAX_RECURRENCE_COUNT = 10_000
#: Largest ``INTERVAL``; beyond this a rule is a typo, not a plan.
MAX_INTERVAL = 1_000
#: Occurrences looked at (from the rule's start) before giving up on a window.
MAX_SCANNED = 100_000

_ALLOWED_FREQ = ("DAILY", "WEEKLY", "MONTHLY", "YEARLY")
_ALLOWED_PARTS = frozenset(
    {
        "FREQ",
        "INTERVAL",
        "COUNT",
        "UNTIL",
        "WKST",
        "BYMONTH",
        "BYWEEKNO",
        "BYYEARDAY",
        "BYMONTHDAY",
        "BYDAY",
        "BYHOUR",
        "BYMINUTE",
        "BYSECOND",
        "BYSETPOS",
    }
)
#: The Gregorian calendar repeats exactly every 400 years (146,097 days, a whole number
#: of weeks), which :func:`expand_recurrence` relies on.
_GREGORIAN_CYCLE_YEARS = 400


# --------------------------------------------------------------------------- zones


def get_zone(tz: str) -> ZoneInfo:
    """The IANA zone named ``tz`` ("Europe/Paris"); ``ValidationError(field="tz")`` if none."""
    if not isinstance(tz, str) or not tz.strip():
        raise ValidationError("choose a time zone, e.g. Europe/Paris", field="tz")
    try:
        return ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError, OSError) as exc:
        raise ValidationError(
            f"{tz!r} is not a known time zone; use an IANA name such as Europe/Paris "
            "or America/New_York",
            field="tz",
        ) from exc


def to_utc(local: dt.datetime, tz: str) -> dt.datetime:
    """The UTC instant of the naive wall-clock time ``local`` in zone ``tz``.

    Local times in a DST gap (which never happen on the clock) are shifted forward to
    the first instant after the gap: 02:30 on the day Paris springs from 02:00 to 03:00
    becomes 03:00 local (01:00 UTC). Local times in a fold (which happen twice) mean the
    first occurrence. ``local.fold`` is ignored, so both rules hold whatever the caller
    built. Raises ``ValueError`` for an aware ``local`` (a programming error: it already
    is an instant), ``ValidationError`` for an unknown zone or an out-of-range date.
    """
    if local.tzinfo is not None:
        raise ValueError("to_utc() takes a naive wall-clock time; convert aware ones directly")
    zone = get_zone(tz)
    naive = local.replace(fold=0)
    try:
        first = naive.replace(tzinfo=zone).astimezone(UTC)
        if first.astimezone(zone).replace(tzinfo=None) == naive:
            return first
        # In a gap: fold=0 reads the time with the offset from before the gap, fold=1
        # with the offset after it; the transition lies between the two readings.
        second = naive.replace(tzinfo=zone, fold=1).astimezone(UTC)
    except OverflowError as exc:
        raise ValidationError(f"{local.isoformat()} is out of range") from exc
    return _end_of_gap(naive, zone, min(first, second), max(first, second))


def _end_of_gap(
    naive: dt.datetime, zone: ZoneInfo, low: dt.datetime, high: dt.datetime
) -> dt.datetime:
    """The first instant whose wall-clock time in ``zone`` is at or after ``naive``.

    Zone transitions fall on whole seconds, so a binary search over seconds finds the end
    of the gap exactly, whatever its length (an hour, 30 minutes on Lord Howe Island, a
    whole day when Samoa crossed the date line).
    """
    lo, hi = math.floor(low.timestamp()), math.ceil(high.timestamp())
    while hi - lo > 1:
        mid = (lo + hi) // 2
        wall = dt.datetime.fromtimestamp(mid, UTC).astimezone(zone).replace(tzinfo=None)
        if wall >= naive:
            hi = mid
        else:
            lo = mid
    return dt.datetime.fromtimestamp(hi, UTC)


def to_local(instant: dt.datetime, tz: str) -> dt.datetime:
    """The naive wall-clock time of the aware ``instant`` in zone ``tz`` (for display)."""
    _require_aware(instant, "instant")
    return instant.astimezone(get_zone(tz)).replace(tzinfo=None)


def parse_instant(text: str, tz: str | None, *, field: str = "at") -> dt.datetime:
    """An aware UTC instant from ISO 8601 text typed in the CLI, a CSV file or the API.

    Text with an offset or ``Z`` names that instant; text without one is wall-clock time
    in ``tz`` (converted as :func:`to_utc` does). A date without a time is refused rather
    than read as midnight, and so is empty text: callers decide what "no time" means
    (usually "not scheduled") before calling.
    """
    zone_name = tz
    if zone_name is not None:
        get_zone(zone_name)  # a bad zone is an error even when the text has an offset
    raw = text.strip()
    example = "use ISO 8601, e.g. 2026-03-29T09:00 or 2026-03-29T09:00+02:00"
    if not raw:
        raise ValidationError(f"give a date and time; {example}", field=field)
    if raw[-1] in "zZ":
        raw = raw[:-1] + "+00:00"
    try:
        value = dt.datetime.fromisoformat(raw)
    except ValueError as exc:
        raise ValidationError(f"{text!r} is not a date and time; {example}", field=field) from exc
    if not re.search(r"\d[T ]\d", raw, flags=re.IGNORECASE):
        raise ValidationError(f"{text!r} has no time of day; {example}", field=field)
    if value.tzinfo is None:
        if zone_name is None:
            raise ValidationError(
                f"{text!r} has no UTC offset; add one (e.g. +02:00 or Z) or choose a time zone",
                field=field,
            )
        return to_utc(value, zone_name)
    try:
        return value.astimezone(UTC)
    except OverflowError as exc:
        raise ValidationError(f"{text!r} is out of range", field=field) from exc


# --------------------------------------------------------------------------- queue


@dataclass(frozen=True, slots=True, order=True)
class QueueSlot:
    """A weekly posting time: ``weekday`` 0 (Monday) to 6 (Sunday) at wall-clock time."""

    weekday: int
    local_time: dt.time

    def __post_init__(self) -> None:
        if not isinstance(self.weekday, int) or not 0 <= self.weekday <= 6:
            raise ValidationError(
                f"weekday must be 0 (Monday) to 6 (Sunday), not {self.weekday!r}",
                field="weekday",
            )
        if self.local_time.tzinfo is not None:
            raise ValidationError(
                "a posting time is wall-clock time in the channel's zone; give it without "
                "an offset",
                field="local_time",
            )

    @classmethod
    def parse(cls, weekday: int, text: str) -> QueueSlot:
        """A slot from "HH:MM" as a form or the database holds it."""
        if not re.fullmatch(r"\d{1,2}:\d{2}", text.strip()):
            raise ValidationError(
                f"{text!r} is not a time; use HH:MM, e.g. 09:30", field="local_time"
            )
        hours, minutes = (int(part) for part in text.strip().split(":"))
        if hours > 23 or minutes > 59:
            raise ValidationError(f"{text!r} is not a time of day", field="local_time")
        return cls(weekday=weekday, local_time=dt.time(hours, minutes))


def next_free_slot(
    slots: Iterable[QueueSlot],
    tz: str,
    *,
    after: dt.datetime,
    taken: AbstractSet[dt.datetime] | Callable[[dt.datetime], bool],
    max_weeks: int = DEFAULT_MAX_WEEKS,
) -> dt.datetime:
    """The first slot instant strictly after ``after`` that is not ``taken``, in UTC.

    Slots are wall-clock times in ``tz`` (a 09:00 slot is 09:00 local in winter and in
    summer); gap and fold times resolve as in :func:`to_utc`, and two slots that resolve to
    the same instant count once. ``taken`` is a set of aware instants (compared exactly) or
    a predicate. Raises ``ValidationError(field="slots")`` without slots or when every slot
    in the next ``max_weeks`` weeks is taken.
    """
    _require_aware(after, "after")
    if isinstance(taken, AbstractSet):
        if any(t.tzinfo is None for t in taken):
            raise ValueError("taken instants must be aware datetimes")
        is_taken: Callable[[dt.datetime], bool] = taken.__contains__
    else:
        is_taken = taken
    times_by_weekday: dict[int, list[dt.time]] = {}
    for slot in sorted(set(slots)):
        times_by_weekday.setdefault(slot.weekday, []).append(slot.local_time)
    if not times_by_weekday:
        raise ValidationError("the queue has no posting times; add one first", field="slots")
    zone = get_zone(tz)
    # Start a day early: a fold can put the wall clock behind ``after``'s local date.
    day = after.astimezone(zone).date() - dt.timedelta(days=1)
    for _ in range(max_weeks * 7 + 2):
        times = times_by_weekday.get(day.weekday(), [])
        for candidate in sorted({to_utc(dt.datetime.combine(day, t), tz) for t in times}):
            if candidate > after and not is_taken(candidate):
                return candidate
        day += dt.timedelta(days=1)
    raise ValidationError(
        f"every posting time in the next {max_weeks} weeks is taken; add posting times "
        "or choose a time",
        field="slots",
    )


# --------------------------------------------------------------------------- recurrence


def expand_recurrence(
    rrule_text: str,
    *,
    dtstart_local: dt.datetime,
    tz: str,
    after: dt.datetime,
    before: dt.datetime,
    limit: int,
) -> list[dt.datetime]:
    """The UTC instants of an RFC 5545 RRULE strictly between ``after`` and ``before``.

    The rule is expanded in wall-clock time from ``dtstart_local`` (naive, in ``tz``) and
    each occurrence converted with :func:`to_utc`, so a weekly 09:00 post stays at 09:00
    local across DST changes. At most ``limit`` instants are returned, in order; times
    have whole seconds (RFC 5545 has no fractions).

    Accepted: one ``RRULE`` (the ``RRULE:`` prefix is optional) repeating at most daily
    (``FREQ=DAILY|WEEKLY|MONTHLY|YEARLY``; several times a day with ``BYHOUR``), with
    ``COUNT`` up to :data:`MAX_RECURRENCE_COUNT` or ``UNTIL`` (local, UTC with ``Z``, or a
    date meaning the end of that day), not both. ``DTSTART`` belongs to the post, not the
    rule. Anything else raises ``ValidationError(field="rrule")``.
    """
    if dtstart_local.tzinfo is not None:
        raise ValueError("dtstart_local is wall-clock time: pass it naive, with tz")
    dtstart_local = dtstart_local.replace(microsecond=0)  # as dateutil (and RFC 5545) do
    _require_aware(after, "after")
    _require_aware(before, "before")
    if not 1 <= limit <= MAX_EXPANSION:
        raise ValidationError(f"limit must be 1 to {MAX_EXPANSION}, not {limit}", field="limit")
    get_zone(tz)
    parts = _parse_rule(rrule_text)
    until_local = _until_local(parts.pop("UNTIL", None), tz)
    parts.setdefault("WKST", "MO")  # else dateutil asks the process-wide calendar module
    _build_rule(parts, dtstart_local, until_local, rrule_text)  # refuse bad rules always

    # Two days of margin cover any UTC offset (they span 26 hours) between the window's
    # UTC bounds and the wall-clock times that can land inside it.
    margin = dt.timedelta(days=2)
    horizon = _local_bound(before, tz, margin)
    floor = _local_bound(after, tz, -margin)
    if before <= after or dtstart_local > horizon:
        return []
    if until_local is not None and until_local > horizon:
        until_local = None  # ends after the window: irrelevant to it

    # dateutil only stops on its own at year 9999, so a rule that never matches again
    # ("FREQ=DAILY;BYMONTH=2;BYMONTHDAY=30") would spin for seconds. Translating the whole
    # problem by whole 400-year cycles, which leave the calendar identical, puts the
    # window just before 9999: a barren rule then ends within 400 years of the window.
    shift = _GREGORIAN_CYCLE_YEARS * max(
        0, (dt.MAXYEAR - 1 - horizon.year) // _GREGORIAN_CYCLE_YEARS
    )
    rule = _build_rule(
        parts,
        _shift(dtstart_local, shift),
        None if until_local is None else _shift(until_local, shift),
        rrule_text,
    )

    found: list[dt.datetime] = []
    try:
        for scanned, shifted in enumerate(rule, start=1):
            if scanned > MAX_SCANNED:
                raise ValidationError(
                    f"the repeat rule starts too long before the requested dates "
                    f"(more than {MAX_SCANNED:,} occurrences); start it later",
                    field="rrule",
                )
            local = shifted.replace(year=shifted.year - shift)
            if local > horizon:
                break
            if local < floor:
                continue  # surely before the window: skip the conversion
            instant = to_utc(local, tz)
            # Gap times all move to the gap's end, so two occurrences can meet there.
            if after < instant < before and (not found or instant > found[-1]):
                found.append(instant)
                if len(found) >= limit:
                    break
    except (ValueError, OverflowError, IndexError, KeyError, TypeError) as exc:
        raise ValidationError(f"{rrule_text!r} cannot be expanded: {exc}", field="rrule") from exc
    return found


def _build_rule(
    parts: dict[str, str], dtstart: dt.datetime, until: dt.datetime | None, original: str
) -> rrule:
    text = ";".join(f"{name}={value}" for name, value in parts.items())
    if until is not None:
        text += (
            f";UNTIL={until.year:04d}{until.month:02d}{until.day:02d}"
            f"T{until.hour:02d}{until.minute:02d}{until.second:02d}"
        )
    try:
        built = rrulestr(text, dtstart=dtstart)
    except (ValueError, TypeError, KeyError, IndexError, OverflowError) as exc:
        raise ValidationError(
            f"{original!r} is not a valid repeat rule: {exc}", field="rrule"
        ) from exc
    assert isinstance(built, rrule)  # one RRULE line, no set: see _parse_rule
    return built


def _parse_rule(rrule_text: str) -> dict[str, str]:
    """The rule's parts, upper-cased, checked against what socialdesk supports."""
    text = rrule_text.strip()
    if "\n" in text or "\r" in text:
        raise ValidationError(
            "give one RRULE line only (EXDATE, RDATE and DTSTART are not supported)",
            field="rrule",
        )
    if text.upper().startswith("RRULE:"):
        text = text[len("RRULE:") :]
    if ":" in text:
        raise ValidationError(
            "only an RRULE is supported (not DTSTART, EXDATE or RDATE); the start comes "
            "from the post's date and time",
            field="rrule",
        )
    if not text:
        raise ValidationError("the repeat rule is empty; e.g. FREQ=WEEKLY;BYDAY=MO", field="rrule")
    parts: dict[str, str] = {}
    for chunk in filter(None, text.split(";")):
        name, sep, value = chunk.partition("=")
        name, value = name.strip().upper(), value.strip().upper()
        if not sep or not name or not value:
            raise ValidationError(f"{chunk!r} in the repeat rule is not NAME=VALUE", field="rrule")
        if name == "DTSTART":
            raise ValidationError(
                "the start of a repeat comes from the post's date and time, not the rule",
                field="rrule",
            )
        if name not in _ALLOWED_PARTS:
            raise ValidationError(f"{name} is not supported in repeat rules", field="rrule")
        if name in parts:
            raise ValidationError(f"{name} appears twice in the repeat rule", field="rrule")
        parts[name] = value
    freq = parts.get("FREQ")
    if freq is None:
        raise ValidationError("the repeat rule needs FREQ, e.g. FREQ=WEEKLY", field="rrule")
    if freq in ("SECONDLY", "MINUTELY", "HOURLY"):
        raise ValidationError(
            "posts can repeat at most daily; for several times a day use FREQ=DAILY with "
            "BYHOUR, e.g. FREQ=DAILY;BYHOUR=9,17",
            field="rrule",
        )
    if freq not in _ALLOWED_FREQ:
        raise ValidationError(
            f"FREQ={freq} is not one of {', '.join(_ALLOWED_FREQ)}", field="rrule"
        )
    for name, (low, high) in _BY_RANGES.items():
        if name in parts:
            _check_list(name, parts[name], low, high)
    if "BYDAY" in parts:
        _check_byday(parts["BYDAY"], freq)
    _bounded_int(parts, "INTERVAL", MAX_INTERVAL)
    _bounded_int(parts, "COUNT", MAX_RECURRENCE_COUNT)
    if "COUNT" in parts and "UNTIL" in parts:
        raise ValidationError(
            "a repeat rule can end after COUNT times or at UNTIL, not both", field="rrule"
        )
    return parts


#: Allowed values of the numeric BY* parts (RFC 5545 section 3.3.10); negative values
#: count from the end. dateutil accepts out-of-range values and then never matches.
_BY_RANGES = {
    "BYMONTH": (1, 12),
    "BYMONTHDAY": (-31, 31),
    "BYYEARDAY": (-366, 366),
    "BYWEEKNO": (-53, 53),
    "BYHOUR": (0, 23),
    "BYMINUTE": (0, 59),
    "BYSECOND": (0, 59),
    "BYSETPOS": (-366, 366),
}


def _check_list(name: str, value: str, low: int, high: int) -> None:
    for item in value.split(","):
        if (
            not re.fullmatch(r"[+-]?\d{1,3}", item)
            or not (low <= int(item) <= high)
            or (int(item) == 0 and low < 0)
        ):
            raise ValidationError(
                f"{name}={value} is out of range; each value must be from {low} to {high}"
                + (" (not 0)" if low < 0 else ""),
                field="rrule",
            )


def _check_byday(value: str, freq: str) -> None:
    """Ordinals ("-1FR": the last Friday) only where RFC 5545 allows them, within range."""
    limit = {"MONTHLY": 5, "YEARLY": 53}.get(freq, 0)
    for item in value.split(","):
        match = re.fullmatch(r"([+-]?\d{1,2})?(MO|TU|WE|TH|FR|SA|SU)", item)
        if match is None:
            raise ValidationError(
                f"BYDAY={value} is not a list of days such as MO,WE or -1FR", field="rrule"
            )
        if match[1] is not None and not (1 <= abs(int(match[1])) <= limit):
            where = f"from 1 to {limit} (or negative)" if limit else "only with MONTHLY or YEARLY"
            raise ValidationError(
                f"BYDAY={value}: a numbered weekday such as -1FR is allowed {where}",
                field="rrule",
            )


def _bounded_int(parts: dict[str, str], name: str, maximum: int) -> None:
    value = parts.get(name)
    if value is None:
        return
    if not value.isdigit() or not 1 <= int(value) <= maximum:
        raise ValidationError(f"{name} must be a whole number from 1 to {maximum}", field="rrule")
    parts[name] = str(int(value))


def _until_local(value: str | None, tz: str) -> dt.datetime | None:
    """UNTIL as naive wall-clock time in ``tz`` (RFC 5545 forms only)."""
    if value is None:
        return None
    try:
        if re.fullmatch(r"\d{8}", value):
            day = dt.datetime.strptime(value, "%Y%m%d")  # noqa: DTZ007 - wall-clock date
            return day.replace(hour=23, minute=59, second=59, microsecond=999_999)
        if re.fullmatch(r"\d{8}T\d{6}Z", value):
            instant = dt.datetime.strptime(value, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
            return to_local(instant, tz)
        if re.fullmatch(r"\d{8}T\d{6}", value):
            return dt.datetime.strptime(value, "%Y%m%dT%H%M%S")  # noqa: DTZ007 - wall-clock
    except (ValueError, OverflowError) as exc:
        raise ValidationError(f"UNTIL={value} is not a valid date", field="rrule") from exc
    raise ValidationError(
        f"UNTIL={value} is not a date; use YYYYMMDD, YYYYMMDDTHHMMSS or YYYYMMDDTHHMMSSZ",
        field="rrule",
    )


def _local_bound(instant: dt.datetime, tz: str, margin: dt.timedelta) -> dt.datetime:
    """``instant`` as wall-clock time in ``tz`` plus ``margin``, clamped to the calendar."""
    try:
        return to_local(instant, tz) + margin
    except OverflowError:
        # A wall-clock bound, naive on purpose.
        return dt.datetime.max if margin > dt.timedelta(0) else dt.datetime.min  # noqa: DTZ901


def _shift(value: dt.datetime, years: int) -> dt.datetime:
    return value.replace(year=value.year + years)


# --------------------------------------------------------------------------- checks


def validate_schedule(at: dt.datetime, *, now: dt.datetime, grace: dt.timedelta) -> dt.datetime:
    """``at`` in UTC if a post may be scheduled then; ``ValidationError(field="at")`` if not.

    A time up to ``grace`` in the past is accepted (the form was filled in a minute ago;
    the post goes out at once); anything earlier is refused rather than silently sent now.
    A naive ``at`` is refused: without an offset it is not an instant.
    """
    _require_aware(now, "now")
    if grace < dt.timedelta(0):
        raise ValueError("grace cannot be negative")
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValidationError(
            "the time has no UTC offset; give one (e.g. +02:00 or Z) or a time zone",
            field="at",
        )
    at_utc = at.astimezone(UTC)
    if at_utc < now - grace:
        raise ValidationError(
            f"{at_utc:%Y-%m-%d %H:%M} UTC is in the past (it is now "
            f"{now.astimezone(UTC):%Y-%m-%d %H:%M} UTC); choose a later time",
            field="at",
        )
    return at_utc


def _require_aware(value: dt.datetime, name: str) -> None:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be an aware datetime (UTC inside socialdesk)")
