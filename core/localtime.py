"""Local time of the platform. It serves China, which keeps one time zone all year (UTC+8, no
daylight saving), so days, months and study-day rules are reckoned in it."""

from datetime import date, datetime, time, timedelta, timezone

CHINA_TIME = timezone(timedelta(hours=8), "UTC+8")


def local_date(moment: datetime) -> date:
    """The calendar day a moment falls on in local time."""
    return moment.astimezone(CHINA_TIME).date()


def local_time(moment: datetime) -> datetime:
    """The moment on the local clock (pages show every time this way: the `local` filter)."""
    return moment.astimezone(CHINA_TIME)


def day_start(day: date) -> datetime:
    """The first moment of a local calendar day."""
    return datetime.combine(day, time(), CHINA_TIME)
