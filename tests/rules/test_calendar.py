"""The business calendar: French public holidays move step dates; messages go out in the window only."""

from __future__ import annotations

from datetime import date, datetime, timezone
from zoneinfo import ZoneInfo

import pytest

from dunning.rules.calendar import BusinessCalendar, paris_today

PARIS = ZoneInfo("Europe/Paris")
METROPOLE = BusinessCalendar()
MOSELLE = BusinessCalendar("57")


@pytest.mark.parametrize(("day", "moved_to", "why"), [
    (date(2026, 5, 1), date(2026, 5, 4), "1 May 2026 is a Friday holiday, then the weekend"),
    (date(2026, 7, 14), date(2026, 7, 15), "14 July, a Tuesday"),
    (date(2026, 4, 6), date(2026, 4, 7), "Easter Monday 2026"),
    (date(2026, 12, 25), date(2026, 12, 28), "Christmas on a Friday, then the weekend"),
    (date(2026, 11, 21), date(2026, 11, 23), "a Saturday"),
    (date(2026, 11, 23), date(2026, 11, 23), "a Monday stays"),
])
def test_a_closed_day_moves_to_the_next_business_day(day, moved_to, why):
    assert METROPOLE.next_business_day(day) == moved_to, why


def test_alsace_moselle_days_only_when_configured():
    good_friday, saint_stephen = date(2026, 4, 3), date(2026, 12, 26)
    assert METROPOLE.is_business_day(good_friday)
    assert not MOSELLE.is_business_day(good_friday)
    assert MOSELLE.holiday_name(saint_stephen) and METROPOLE.holiday_name(saint_stephen) is None
    assert MOSELLE.next_business_day(date(2026, 12, 25)) == date(2026, 12, 28)


def _paris(*parts) -> datetime:
    return datetime(*parts, tzinfo=PARIS)


@pytest.mark.parametrize(("moment", "inside"), [
    (_paris(2026, 11, 23, 7, 59), False),
    (_paris(2026, 11, 23, 8, 0), True),
    (_paris(2026, 11, 23, 18, 59), True),
    (_paris(2026, 11, 23, 19, 0), False),
    (_paris(2026, 11, 21, 10, 0), False),     # Saturday
    (_paris(2026, 7, 14, 10, 0), False),      # Bastille Day
    (_paris(2026, 11, 23, 2, 0), False),      # the nightly run's hour
    (datetime(2026, 11, 23, 7, 30, tzinfo=timezone.utc), True),   # 08:30 in Paris in winter
    (datetime(2026, 7, 15, 17, 30, tzinfo=timezone.utc), False),  # 19:30 in Paris in summer
])
def test_the_sending_window_is_judged_in_paris(moment, inside):
    assert METROPOLE.in_send_window(moment, 8, 19, business_days_only=True) is inside


def test_the_window_may_include_weekends():
    assert METROPOLE.in_send_window(_paris(2026, 11, 21, 10, 0), 8, 19, business_days_only=False)


def test_the_business_date_is_the_paris_date():
    late_evening_utc = datetime(2026, 11, 22, 23, 30, tzinfo=timezone.utc)   # 00:30 on the 23rd in Paris
    assert paris_today(late_evening_utc) == date(2026, 11, 23)
