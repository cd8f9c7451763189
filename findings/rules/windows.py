"""Time windows on a week: RDS windows (UTC) against business hours (a local time zone).

Everything is turned into intervals of minutes since Monday 00:00 UTC on a
circular week of 10,080 minutes, so windows that cross midnight or the end of the
week ("sun:23:00-mon:01:30") are just intervals that wrap.
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

WEEK = 7 * 24 * 60
DAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]

Interval = tuple[int, int]  # [start, end) in minutes of the week, end may exceed WEEK


def _minutes(hhmm: str) -> int:
    hours, minutes = hhmm.strip().split(":")
    return int(hours) * 60 + int(minutes)


def _span(start: int, end: int) -> Interval:
    # A window ending before it starts wraps past midnight / the end of the week.
    return (start, end if end > start else end + WEEK)


def daily_window(text: str) -> list[Interval]:
    """RDS PreferredBackupWindow "hh24:mi-hh24:mi" (UTC, every day)."""
    start_s, end_s = text.split("-")
    start, end = _minutes(start_s), _minutes(end_s)
    length = (end - start) % (24 * 60) or 24 * 60
    return [(day * 1440 + start, day * 1440 + start + length) for day in range(7)]


def weekly_window(text: str) -> list[Interval]:
    """RDS PreferredMaintenanceWindow "ddd:hh24:mi-ddd:hh24:mi" (UTC)."""
    start_s, end_s = text.lower().split("-")
    sd, st = start_s.split(":", 1)
    ed, et = end_s.split(":", 1)
    start = DAYS.index(sd) * 1440 + _minutes(st)
    end = DAYS.index(ed) * 1440 + _minutes(et)
    return [_span(start, end)]


def business_hours_utc(
    start: dt.time, end: dt.time, weekdays: list[int], tz: str, *, week_of: dt.date | None = None
) -> list[Interval]:
    """Business hours of a local time zone as UTC minutes of the week.

    Converted on the dates of one real week (this one by default) so a zone's
    daylight-saving offset is the one in force.
    """
    zone = ZoneInfo(tz)
    today = week_of or dt.datetime.now(tz=dt.UTC).date()
    monday = today - dt.timedelta(days=today.weekday())
    week_start = dt.datetime.combine(monday, dt.time(0, 0), tzinfo=dt.UTC)
    out = []
    for weekday in weekdays:
        day = monday + dt.timedelta(days=weekday)
        local_start = dt.datetime.combine(day, start, tzinfo=zone)
        local_end = dt.datetime.combine(day, end, tzinfo=zone)
        if local_end <= local_start:  # night shift: ends the next day
            local_end += dt.timedelta(days=1)
        s = int((local_start - week_start).total_seconds() // 60) % WEEK
        length = int((local_end - local_start).total_seconds() // 60)
        out.append((s, s + length))
    return out


def overlap(a: list[Interval], b: list[Interval]) -> bool:
    """Do any two intervals meet, on the circular week?"""
    for a0, a1 in a:
        for b0, b1 in b:
            for shift in (-WEEK, 0, WEEK):
                if a0 < b1 + shift and b0 + shift < a1:
                    return True
    return False
