"""Dates in rules: ISO 8601 dates as the CIB writes them, and ``date_expression``.

Dates are read as Pacemaker reads them: a calendar date (``2019-09-20``), an ordinal
date (``2005-020``) or a week date (``2005-W03-4``), optionally followed (after
``T`` or a blank) by a time of day (``15:10``, ``15:10:52``) and an offset (``Z``,
``+02:00``, ``-0500``, possibly after a blank); without an offset, UTC.

A ``date_expression`` is judged against "now":

- ``gt``: now is after ``start``; ``lt``: now is before ``end``;
- ``in_range`` (the default): now is not before ``start`` and not after ``end``
  (``end`` may instead be ``start`` plus a ``duration`` element); one of the two
  bounds is needed;
- ``date_spec``: every field the ``date_spec`` element gives (``years``,
  ``months``, ``monthdays``, ``hours``, ``minutes``, ``seconds``, ``yeardays``,
  ``weekyears``, ``weeks``, ``weekdays``, ``moon``) holds now's value, as a number
  or an inclusive range ``a-b`` (``a-``: from a; ``-b``: up to b).

Anything unreadable leaves the expression false.
"""

from __future__ import annotations

import calendar
import re
from datetime import UTC, date, datetime, timedelta, timezone

from lxml import etree

_DATE = re.compile(r"(\d{4})-?(?:W(\d{2})-?(\d)|(\d{2})-?(\d{2})|(\d{3}))")
_TIME = re.compile(r"(\d{2})(?::?(\d{2}))?(?::?(\d{2}))?")
_OFFSET = re.compile(r"\s*(?:Z|([+-])(\d{2}):?(\d{2})?)")


def parse_date(text: str | None) -> datetime | None:
    """An ISO 8601 date and time, as an aware datetime; None if unreadable."""
    if text is None:
        return None
    t = text.strip()
    m = _DATE.match(t)
    if m is None:
        return None
    try:
        year = int(m.group(1))
        if m.group(2):
            day = date.fromisocalendar(year, int(m.group(2)), int(m.group(3)))
        elif m.group(4):
            day = date(year, int(m.group(4)), int(m.group(5)))
        else:
            day = date(year, 1, 1) + timedelta(days=int(m.group(6)) - 1)
    except ValueError:
        return None
    rest = t[m.end():]
    hour = minute = second = 0
    if rest[:1] in ("T", " ") and (tm := _TIME.match(rest.lstrip("T "))):
        hour, minute, second = (int(g) if g else 0 for g in tm.groups())
        rest = rest.lstrip("T ")[tm.end():]
    tz = UTC
    if rest.strip():
        om = _OFFSET.fullmatch(rest)
        if om is None:
            return None
        if om.group(1):
            delta = timedelta(hours=int(om.group(2)), minutes=int(om.group(3) or 0))
            tz = timezone(delta if om.group(1) == "+" else -delta)
    if hour > 23 or minute > 59 or second > 60:
        return None
    return datetime(day.year, day.month, day.day, hour, minute, min(second, 59), tzinfo=tz)


def add_months(when: datetime, months: int) -> datetime:
    """``when`` ``months`` later, the day clamped to the month's length."""
    total = when.year * 12 + when.month - 1 + months
    year, month = divmod(total, 12)
    day = min(when.day, calendar.monthrange(year, month + 1)[1])
    return when.replace(year=year, month=month + 1, day=day)


def _number(el: etree._Element, name: str) -> int:
    try:
        return int(el.get(name, "0"))
    except ValueError:
        return 0


def end_of_duration(start: datetime, duration: etree._Element) -> datetime:
    """``start`` plus a ``duration`` element's years, months, weeks, days, hours,
    minutes and seconds."""
    end = add_months(start, 12 * _number(duration, "years") + _number(duration, "months"))
    return end + timedelta(weeks=_number(duration, "weeks"), days=_number(duration, "days"),
                           hours=_number(duration, "hours"),
                           minutes=_number(duration, "minutes"),
                           seconds=_number(duration, "seconds"))


def _moon_phase(now: datetime) -> int:
    """The phase of the moon (0-7) by the nethack rule Pacemaker uses."""
    yday = now.timetuple().tm_yday
    golden = (now.year % 19) + 1
    epact = (11 * golden + 18) % 30
    if (epact == 25 and golden > 11) or epact == 24:
        epact += 1
    return (((((yday + epact) * 6) + 11) % 177) // 22) & 7


def _in_spec_range(value: int, spec: str) -> bool | None:
    m = re.fullmatch(r"\s*(-?\d*)\s*(?:-\s*(\d*))?\s*", spec)
    if m is None or (not m.group(1) and m.group(2) is None):
        return None
    low = int(m.group(1)) if m.group(1) not in ("", "-") else None
    if m.group(2) is None:
        return value == low
    high = int(m.group(2)) if m.group(2) else None
    return (low is None or value >= low) and (high is None or value <= high)


def date_spec_matches(spec: etree._Element | None, now: datetime) -> bool:
    if spec is None:
        return False
    iso = now.isocalendar()
    fields = {"years": now.year, "months": now.month, "monthdays": now.day,
              "hours": now.hour, "minutes": now.minute, "seconds": now.second,
              "yeardays": now.timetuple().tm_yday, "weekyears": iso[0], "weeks": iso[1],
              "weekdays": iso[2], "moon": _moon_phase(now)}
    for name, value in fields.items():
        text = spec.get(name)
        if text is not None and _in_spec_range(value, text) is False:
            return False
    return True


def date_expression_matches(expr: etree._Element, now: datetime | None) -> bool:
    """Whether a ``date_expression`` holds at ``now`` (never, when now is unknown)."""
    if now is None:
        return False
    op = (expr.get("operation") or "in_range").lower()
    start, end = parse_date(expr.get("start")), parse_date(expr.get("end"))
    duration = expr.find("duration")
    if start is not None and end is None and duration is not None:
        end = end_of_duration(start, duration)
    if op == "in_range":
        if start is None and end is None:
            return False
        return not (start is not None and now < start) and not (end is not None and now > end)
    if op == "gt":
        return start is not None and now > start
    if op == "lt":
        return end is not None and now < end
    if op == "date_spec":
        return date_spec_matches(expr.find("date_spec"), now)
    return False
