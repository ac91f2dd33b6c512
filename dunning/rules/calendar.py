"""The business calendar: Europe/Paris dates, weekends and French public holidays."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from functools import lru_cache
from zoneinfo import ZoneInfo

import holidays

__all__ = ["PARIS", "BusinessCalendar", "paris_today", "utc_now"]

PARIS = ZoneInfo("Europe/Paris")


def paris_today(now: datetime | None = None) -> date:
    """The business date in Paris, whatever the machine's time zone (a 02:00 run is 'today' there)."""
    return (now or utc_now()).astimezone(PARIS).date()


def utc_now() -> datetime:
    return datetime.now(timezone.utc)


class BusinessCalendar:
    """Weekends and French public holidays (metropolitan, or with a subdivision such as Moselle '57')."""

    def __init__(self, subdivision: str | None = None) -> None:
        self.subdivision = subdivision
        self._holidays = _french_holidays(subdivision)

    def is_business_day(self, day: date) -> bool:
        return day.weekday() < 5 and day not in self._holidays

    def holiday_name(self, day: date) -> str | None:
        return self._holidays.get(day)

    def in_send_window(self, moment: datetime, start_hour: int, end_hour: int, business_days_only: bool) -> bool:
        """Whether a message may go out at `moment` (any timezone-aware time), judged in Paris."""
        local = moment.astimezone(PARIS)
        if business_days_only and not self.is_business_day(local.date()):
            return False
        return start_hour <= local.hour < end_hour

    def next_business_day(self, day: date) -> date:
        """`day` itself when it is a business day, else the first business day after it."""
        while not self.is_business_day(day):
            day += timedelta(days=1)
        return day


@lru_cache(maxsize=8)
def _french_holidays(subdivision: str | None) -> holidays.HolidayBase:
    # Years are filled in lazily by the library as dates are looked up.
    return holidays.country_holidays("FR", subdiv=subdivision, language="fr")
