"""French late-payment law (dunning.law_fr.penalties): every expected euro is worked out by hand below.

Notation: interest = principal x rate % x days / 365 (actual/365, even in a leap year); days run
from the day after the due date (or after the formal notice, for a consumer) through the date the
penalties are computed to, both included, and are cut at 1 January and 1 July. The commercial rate
of a half-year is the ECB main refinancing rate in force on its first day, plus 10 points:
  2024-H1  4.50 (since 2023-09-20) + 10 = 14.50 %    2024-H2  4.25 (since 2024-06-12) + 10 = 14.25 %
  2025-H1  3.15 (since 2024-12-18) + 10 = 13.15 %    2025-H2  2.15 (since 2025-06-11) + 10 = 12.15 %
  2026-H1  2.15 (unchanged 2025-12-18) + 10 = 12.15 %
and before 2024 (config/legal_fr.yaml names each source):
  2019-H1 .. 2022-H2  0.00 (since 2016-03-16; the hike of 2022-07-27 comes after 1 July) + 10 = 10.00 %
  2023-H1  2.50 (since 2022-12-21) + 10 = 12.50 %    2023-H2  4.00 (since 2023-06-21) + 10 = 14.00 %
Periods are summed unrounded; the invoice total is rounded once to the cent (half up).
A payment received after the due date cuts a period too: interest runs on each day's balance, and
the amount paid bears interest through the day it is received (days late = payment date - due date).
"""

from __future__ import annotations

import re
import shutil
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Callable

import pytest
import yaml

from builders import CONFIG_DIR
from dunning.config import ConfigError
from dunning.law_fr.penalties import (
    ContractualRateError, LegalTables, LegalTablesError, contracts_below_floor, contracts_to_fix,
    check_contractual_rate, commercial_rate, invoice_penalty, is_prescribed, legal_rate, penalty_statement,
    prescription_approaching, prescription_date,
)
from dunning.law_fr.statement import Basis
from dunning.sources.config_files import load_contract_rates, load_legal_tables

D = Decimal


@pytest.fixture(autouse=True)
def no_environment_overrides(monkeypatch):
    monkeypatch.delenv("DUNNING_CONFIG_DIR", raising=False)


@pytest.fixture(scope="module")
def tables() -> LegalTables:
    return load_legal_tables()


@pytest.fixture
def config_copy(tmp_path) -> Path:
    folder = tmp_path / "config"
    shutil.copytree(CONFIG_DIR, folder)
    return folder


def edit_yaml(path: Path, change: Callable[[dict], None]) -> Path:
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    change(data)
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return path


def b2b(tables: LegalTables, principal: str, due: date, to: date, **kwargs):
    return invoice_penalty(tables, number="F-1", principal=D(principal), due_date=due, to_date=to,
                           is_consumer=False, **kwargs)


def consumer(tables: LegalTables, principal: str, due: date, to: date, **kwargs):
    return invoice_penalty(tables, number="F-1", principal=D(principal), due_date=due, to_date=to,
                           is_consumer=True, **kwargs)


def spans(penalty) -> list[tuple[date, date, int, Decimal]]:
    return [(p.start, p.end, p.days, p.rate) for p in penalty.periods]


def balances(penalty) -> list[tuple[date, date, int, Decimal, Decimal]]:
    return [(p.start, p.end, p.days, p.principal, p.rate) for p in penalty.periods]


# -- the shipped tables ------------------------------------------------------------------------------

@pytest.mark.parametrize("day, expected", [
    (date(2019, 1, 1), "10.00"),     # 0.00 since 2016-03-16
    (date(2021, 7, 1), "10.00"),
    (date(2022, 7, 1), "10.00"),     # still 0.00 on 1 July 2022: the hike to 0.50 took effect on 27 July
    (date(2022, 12, 31), "10.00"),   # four hikes in H2 2022 change nothing before 1 January
    (date(2023, 1, 1), "12.50"),     # 2.50 since 2022-12-21
    (date(2023, 6, 30), "12.50"),
    (date(2023, 7, 1), "14.00"),     # 4.00 since 2023-06-21 (4.25 from 2023-08-02 waits for 2024)
    (date(2023, 12, 31), "14.00"),
    (date(2024, 1, 1), "14.50"),
    (date(2024, 6, 30), "14.50"),    # the ECB cut of 2024-06-12 waits for the next half-year
    (date(2024, 7, 1), "14.25"),
    (date(2024, 12, 31), "14.25"),   # three cuts in H2 2024 (3.65, 3.40, 3.15) change nothing before 1 January
    (date(2025, 1, 1), "13.15"),
    (date(2025, 6, 30), "13.15"),    # the ECB rate is 2.15 that day, but H1 uses the rate of 1 January
    (date(2025, 7, 1), "12.15"),
    (date(2025, 12, 31), "12.15"),
    (date(2026, 1, 1), "12.15"),
    (date(2026, 6, 30), "12.15"),
])
def test_commercial_rate_is_the_ecb_rate_of_the_half_years_first_day_plus_10_points(tables, day, expected):
    assert commercial_rate(tables, day) == D(expected)


@pytest.mark.parametrize("day, other_cases, individual_creditor", [
    (date(2019, 1, 1), "0.86", "3.40"),
    (date(2019, 7, 1), "0.87", "3.26"),
    (date(2020, 1, 1), "0.87", "3.15"),
    (date(2020, 7, 1), "0.84", "3.11"),
    (date(2021, 1, 1), "0.79", "3.14"),
    (date(2021, 7, 1), "0.76", "3.12"),
    (date(2022, 1, 1), "0.76", "3.13"),
    (date(2022, 7, 1), "0.77", "3.15"),
    (date(2023, 1, 1), "2.06", "4.47"),
    (date(2023, 12, 31), "4.22", "6.82"),
    (date(2024, 3, 1), "5.07", "8.01"),
    (date(2024, 9, 1), "4.92", "8.16"),
    (date(2025, 1, 1), "3.71", "7.21"),
    (date(2025, 7, 1), "2.76", "6.65"),
    (date(2026, 6, 30), "2.62", "6.67"),
])
def test_legal_rate_per_half_year_and_creditor(tables, day, other_cases, individual_creditor):
    assert legal_rate(tables, day) == D(other_cases)
    assert legal_rate(tables, day, creditor_is_individual=True) == D(individual_creditor)


def test_the_shipped_contracts_file_has_no_contractual_rate():
    assert load_contract_rates() == {}


# -- business to business: interest day by day, each day at its half-year's rate --------------------

def test_across_1_january_each_half_year_its_own_period(tables):
    # 10,000.00 EUR due 2025-12-15, computed to 2026-01-20:
    #   2025-12-16 .. 2025-12-31 = 16 days at 12.15 %: 10,000 x 0.1215 x 16 / 365 = 19,440 / 365 =  53.2603
    #   2026-01-01 .. 2026-01-20 = 20 days at 12.15 %: 10,000 x 0.1215 x 20 / 365 = 24,300 / 365 =  66.5753
    #   total 43,740 / 365 = 119.8356 -> 119.84; indemnity 40.00
    penalty = b2b(tables, "10000.00", date(2025, 12, 15), date(2026, 1, 20))

    assert spans(penalty) == [
        (date(2025, 12, 16), date(2025, 12, 31), 16, D("12.15")),
        (date(2026, 1, 1), date(2026, 1, 20), 20, D("12.15")),
    ]
    assert [p.interest.quantize(D("0.0001")) for p in penalty.periods] == [D("53.2603"), D("66.5753")]
    assert penalty.interest == D("119.84")
    assert penalty.indemnity == D("40.00")
    assert penalty.basis is Basis.commercial
    assert penalty.total == D("10159.84")


def test_across_1_july_the_rate_changes_with_the_half_year(tables):
    # 10,000.00 EUR due 2025-06-01, computed to 2025-07-31:
    #   2025-06-02 .. 2025-06-30 = 29 days at 13.15 % (ECB on 2025-01-01: 3.15, although 2.15 since 11 June):
    #       10,000 x 0.1315 x 29 / 365 = 38,135 / 365 = 104.4795
    #   2025-07-01 .. 2025-07-31 = 31 days at 12.15 % (ECB on 2025-07-01: 2.15):
    #       10,000 x 0.1215 x 31 / 365 = 37,665 / 365 = 103.1918
    #   total 75,800 / 365 = 207.6712 -> 207.67
    penalty = b2b(tables, "10000.00", date(2025, 6, 1), date(2025, 7, 31))

    assert spans(penalty) == [
        (date(2025, 6, 2), date(2025, 6, 30), 29, D("13.15")),
        (date(2025, 7, 1), date(2025, 7, 31), 31, D("12.15")),
    ]
    assert penalty.interest == D("207.67")


def test_a_leap_year_still_divides_by_365(tables):
    # 5,000.00 EUR due 2024-02-15, computed to 2024-03-15:
    #   2024-02-16 .. 2024-03-15 = 14 days of February (16..29, a leap year) + 15 of March = 29 days at 14.50 %
    #   5,000 x 0.1450 x 29 / 365 = 21,025 / 365 = 57.6027 -> 57.60   (dividing by 366 would give 57.45)
    penalty = b2b(tables, "5000.00", date(2024, 2, 15), date(2024, 3, 15))

    assert spans(penalty) == [(date(2024, 2, 16), date(2024, 3, 15), 29, D("14.50"))]
    assert penalty.interest == D("57.60")


def test_a_whole_leap_year_counts_366_days_over_365(tables):
    # 10,000.00 EUR due 2023-12-31, computed to 2024-12-31 (every day of 2024):
    #   2024-01-01 .. 2024-06-30 = 31+29+31+30+31+30 = 182 days at 14.50 %: 10,000 x 0.1450 x 182 / 365 = 263,900 / 365
    #   2024-07-01 .. 2024-12-31 = 31+31+30+31+30+31 = 184 days at 14.25 %: 10,000 x 0.1425 x 184 / 365 = 262,200 / 365
    #   total 526,100 / 365 = 1,441.3699 -> 1,441.37 (366 days of interest: more than a year's rate)
    penalty = b2b(tables, "10000.00", date(2023, 12, 31), date(2024, 12, 31))

    assert [p.days for p in penalty.periods] == [182, 184]
    assert penalty.interest == D("1441.37")


def test_a_2021_invoice_costed_to_2026_counts_each_half_years_rate_6084_59(tables):
    # 10,000.00 EUR due 2021-03-31, computed to 2026-03-31 (its last actionable day, L110-4):
    # 10,000 x rate % x days / 365 = 100 x rate x days / 365, period by period:
    #   2021-04-01 .. 2021-06-30   91 days at 10.00 %   rate x days =   910.00
    #   2021-H2                   184 days at 10.00 %                 1,840.00
    #   2022-H1                   181 days at 10.00 %                 1,810.00
    #   2022-H2                   184 days at 10.00 %                 1,840.00   (ECB on 2022-07-01: still 0.00)
    #   2023-H1                   181 days at 12.50 %                 2,262.50
    #   2023-H2                   184 days at 14.00 %                 2,576.00
    #   2024-H1                   182 days at 14.50 %                 2,639.00   (leap year, still / 365)
    #   2024-H2                   184 days at 14.25 %                 2,622.00
    #   2025-H1                   181 days at 13.15 %                 2,380.15
    #   2025-H2                   184 days at 12.15 %                 2,235.60
    #   2026-01-01 .. 2026-03-31   90 days at 12.15 %                 1,093.50
    #   1,826 days; sum 22,208.75; interest 100 x 22,208.75 / 365 = 2,220,875 / 365 = 6,084.5890 -> 6,084.59
    #   indemnity 40.00; total 10,000.00 + 6,084.59 + 40.00 = 16,124.59
    penalty = b2b(tables, "10000.00", date(2021, 3, 31), date(2026, 3, 31))

    assert [(p.start, p.days, p.rate) for p in penalty.periods] == [
        (date(2021, 4, 1), 91, D("10.00")), (date(2021, 7, 1), 184, D("10.00")),
        (date(2022, 1, 1), 181, D("10.00")), (date(2022, 7, 1), 184, D("10.00")),
        (date(2023, 1, 1), 181, D("12.50")), (date(2023, 7, 1), 184, D("14.00")),
        (date(2024, 1, 1), 182, D("14.50")), (date(2024, 7, 1), 184, D("14.25")),
        (date(2025, 1, 1), 181, D("13.15")), (date(2025, 7, 1), 184, D("12.15")),
        (date(2026, 1, 1), 90, D("12.15")),
    ]
    assert sum(p.days for p in penalty.periods) == 1826
    assert penalty.interest == D("6084.59")
    assert penalty.indemnity == D("40.00")
    assert penalty.total == D("16124.59")


def test_a_2021_consumer_invoice_costs_each_half_years_legal_rate_from_its_notice(tables):
    # 2,000.00 EUR due 2021-05-31, formal notice 2021-09-14, computed to 2022-03-31 (taux légal, other cases):
    #   2021-09-15 .. 2021-12-31 = 16 + 31 + 30 + 31 = 108 days at 0.76 %: 2,000 x 0.0076 x 108 / 365 = 1,641.6 / 365
    #   2022-01-01 .. 2022-03-31 = 31 + 28 + 31     =  90 days at 0.76 %: 2,000 x 0.0076 x  90 / 365 = 1,368.0 / 365
    #   total 3,009.6 / 365 = 8.2455 -> 8.25; no indemnity
    penalty = consumer(tables, "2000.00", date(2021, 5, 31), date(2022, 3, 31), formal_notice_on=date(2021, 9, 14))

    assert spans(penalty) == [(date(2021, 9, 15), date(2021, 12, 31), 108, D("0.76")),
                              (date(2022, 1, 1), date(2022, 3, 31), 90, D("0.76"))]
    assert penalty.interest == D("8.25")
    assert penalty.indemnity == D("0.00")


def test_a_leap_day_the_tables_do_not_cover_names_the_file_and_the_half_year(tables):
    # Due 2028-02-20, computed to 2028-03-01 (over 29 February 2028): all of it in 2028-H1, which the
    # shipped tables (through 2026-H1) do not cover: no guessed rate, an error saying what to add.
    with pytest.raises(LegalTablesError) as raised:
        b2b(tables, "1000.00", date(2028, 2, 20), date(2028, 3, 1))

    message = str(raised.value)
    assert "config/legal_fr.yaml" in message
    assert "2028-H1" in message


def test_a_half_year_not_covered_is_named_in_the_error(tables):
    with pytest.raises(LegalTablesError) as raised:
        commercial_rate(tables, date(2028, 2, 29))
    assert "config/legal_fr.yaml" in str(raised.value)
    assert "2028-H1" in str(raised.value)
    assert "covers_through" in str(raised.value)

    with pytest.raises(LegalTablesError, match=r"config/legal_fr\.yaml.*2028-H1"):
        legal_rate(tables, date(2028, 2, 29))

    with pytest.raises(LegalTablesError, match=r"config/legal_fr\.yaml.*2016-H1.*rates start on 2016-03-16"):
        commercial_rate(tables, date(2016, 1, 1))  # before the first ECB row (2016-03-16)
    with pytest.raises(LegalTablesError, match=r"config/legal_fr\.yaml.*2018-H2"):
        legal_rate(tables, date(2018, 12, 31))     # before the first taux de l'intérêt légal row (2019-H1)


def test_a_legal_tables_error_is_a_config_error(tables):
    with pytest.raises(ConfigError):
        commercial_rate(tables, date(2026, 7, 1))


def test_rounding_happens_once_on_the_invoice_not_per_period(tables):
    # 500.00 EUR due 2025-12-29, computed to 2026-01-10, 12.15 % on both sides of 1 January:
    #   2025-12-30 .. 2025-12-31 =  2 days: 500 x 0.1215 x  2 / 365 = 121.5 / 365 = 0.33288 (0.33 if rounded alone)
    #   2026-01-01 .. 2026-01-10 = 10 days: 500 x 0.1215 x 10 / 365 = 607.5 / 365 = 1.66438 (1.66 if rounded alone)
    #   total 729 / 365 = 1.99726 -> 2.00, where rounding per period would give 0.33 + 1.66 = 1.99
    penalty = b2b(tables, "500.00", date(2025, 12, 29), date(2026, 1, 10))

    assert [p.days for p in penalty.periods] == [2, 10]
    assert penalty.interest == D("2.00")


def test_half_a_cent_rounds_up(tables):
    # 365.00 EUR at 12.15 % for 1 day: 365 x 0.1215 x 1 / 365 = 0.1215 -> 0.12;
    # for 25 days: 0.1215 x 25 = 3.0375 -> 3.04 (half up on the third decimal, not banker's rounding)
    assert b2b(tables, "365.00", date(2025, 8, 1), date(2025, 8, 2)).interest == D("0.12")
    assert b2b(tables, "365.00", date(2025, 8, 1), date(2025, 8, 26)).interest == D("3.04")


@pytest.mark.parametrize("to_date", [date(2026, 1, 9), date(2026, 1, 10)])
def test_nothing_is_due_before_the_day_after_the_due_date(tables, to_date):
    penalty = b2b(tables, "1000.00", date(2026, 1, 10), to_date)

    assert penalty.periods == ()
    assert penalty.interest == D("0.00")
    assert penalty.indemnity == D("0.00")


def test_the_first_day_after_the_due_date_already_bears_interest(tables):
    # 1,000.00 EUR due 2026-01-10, to 2026-01-11: 1 day at 12.15 %: 121.5 / 365 = 0.3329 -> 0.33; plus 40.00
    penalty = b2b(tables, "1000.00", date(2026, 1, 10), date(2026, 1, 11))

    assert penalty.interest == D("0.33")
    assert penalty.indemnity == D("40.00")


# -- partial payments: interest on each day's balance -------------------------------------------------

def test_a_partial_payment_after_the_due_date_cuts_the_balance_the_day_after_it(tables):
    # 12,000.00 EUR due 2025-05-20; 2,000.00 received 2025-12-01; 10,000.00 still open; computed to 2026-02-10.
    # The 2,000.00 bears interest through 1 December (the day it is received), the 10,000.00 throughout:
    #   2025-05-21 .. 2025-06-30 =  41 days (11 + 30) on 12,000 at 13.15 %: 12,000 x 0.1315 x  41 / 365 =  64,698 / 365
    #   2025-07-01 .. 2025-12-01 = 154 days (31+31+30+31+30+1) on 12,000 at 12.15 %: 12,000 x 0.1215 x 154 / 365 = 224,532 / 365
    #   2025-12-02 .. 2025-12-31 =  30 days on 10,000 at 12.15 %: 10,000 x 0.1215 x  30 / 365 =  36,450 / 365
    #   2026-01-01 .. 2026-02-10 =  41 days (31 + 10) on 10,000 at 12.15 %: 10,000 x 0.1215 x 41 / 365 = 49,815 / 365
    #   total 375,495 / 365 = 1,028.7534 -> 1,028.75
    # Interest on today's 10,000.00 for the whole period (the old computation) was
    #   (10,000 x 0.1315 x 41 + 10,000 x 0.1215 x 225) / 365 = 327,290 / 365 = 896.6849 -> 896.68.
    # (Had the 2,000.00 stopped bearing interest on the day it is received, 153 days on 12,000 and 31 on
    #  10,000: 375,252 / 365 = 1,028.0877 -> 1,028.09. French practice counts days late as payment date
    #  minus due date, so the payment day bears interest, as to_date itself does.)
    penalty = b2b(tables, "10000.00", date(2025, 5, 20), date(2026, 2, 10),
                  payments=[(date(2025, 12, 1), D("2000.00"))])

    assert balances(penalty) == [
        (date(2025, 5, 21), date(2025, 6, 30), 41, D("12000.00"), D("13.15")),
        (date(2025, 7, 1), date(2025, 12, 1), 154, D("12000.00"), D("12.15")),
        (date(2025, 12, 2), date(2025, 12, 31), 30, D("10000.00"), D("12.15")),
        (date(2026, 1, 1), date(2026, 2, 10), 41, D("10000.00"), D("12.15")),
    ]
    assert penalty.interest == D("1028.75")
    assert penalty.principal == D("10000.00")  # still the amount open on to_date
    assert penalty.total == D("11068.75")      # 10,000.00 + 1,028.75 + 40.00
    assert b2b(tables, "10000.00", date(2025, 5, 20), date(2026, 2, 10)).interest == D("896.68")


def test_a_payment_bears_interest_through_the_day_it_is_received(tables):
    # 1,000.00 EUR due 2026-01-10; 400.00 received 2026-01-20; 600.00 open on 2026-01-31, all at 12.15 %:
    #   2026-01-11 .. 2026-01-20 = 10 days on 1,000; 2026-01-21 .. 2026-01-31 = 11 days on 600
    #   (10,000 + 6,600) x 0.1215 / 365 = 2,016.9 / 365 = 5.5258 -> 5.53
    penalty = b2b(tables, "600.00", date(2026, 1, 10), date(2026, 1, 31), payments=[(date(2026, 1, 20), D("400.00"))])

    assert balances(penalty) == [
        (date(2026, 1, 11), date(2026, 1, 20), 10, D("1000.00"), D("12.15")),
        (date(2026, 1, 21), date(2026, 1, 31), 11, D("600.00"), D("12.15")),
    ]
    assert penalty.interest == D("5.53")


def test_several_payments_and_a_payment_on_the_last_day(tables):
    # 300.00 EUR open on 2026-01-31, due 2026-01-10; received 200.00 on 2026-01-15, 100.00 + 100.00 on
    # 2026-01-25, 100.00 on 2026-01-31 (the day computed to: it still bears interest that day), at 12.15 %:
    #   01-11 .. 01-15 =  5 days on 300 + 200 + 200 + 100 = 800:  4,000
    #   01-16 .. 01-25 = 10 days on 300 + 200 + 100       = 600:  6,000
    #   01-26 .. 01-31 =  6 days on 300 + 100             = 400:  2,400
    #   12,400 x 0.1215 / 365 = 1,506.6 / 365 = 4.1277 -> 4.13
    penalty = b2b(tables, "300.00", date(2026, 1, 10), date(2026, 1, 31), payments=[
        (date(2026, 1, 25), D("100.00")), (date(2026, 1, 15), D("200.00")), (date(2026, 1, 31), D("100.00")),
        (date(2026, 1, 25), D("100.00")),
    ])

    assert [(p.days, p.principal) for p in penalty.periods] == [
        (5, D("800.00")), (10, D("600.00")), (6, D("400.00"))]
    assert penalty.interest == D("4.13")


@pytest.mark.parametrize("paid_on", [date(2026, 1, 5), date(2026, 1, 10)])
def test_a_payment_on_or_before_the_due_date_changes_nothing(tables, paid_on):
    with_payment = b2b(tables, "600.00", date(2026, 1, 10), date(2026, 1, 31), payments=[(paid_on, D("400.00"))])
    assert with_payment == b2b(tables, "600.00", date(2026, 1, 10), date(2026, 1, 31))


def test_a_consumers_payment_counts_only_from_the_formal_notice(tables):
    # 560.00 EUR open on 2026-04-15, due 2026-01-15, formal notice 2026-03-02 at 2.62 %; received 100.00 on
    # 2026-02-10 (before the notice: no moratory interest ran on it) and 300.00 on 2026-03-20:
    #   2026-03-03 .. 2026-03-20 = 18 days on 860; 2026-03-21 .. 2026-04-15 = 11 + 15 = 26 days on 560
    #   (860 x 18 + 560 x 26) x 0.0262 / 365 = 30,040 x 0.0262 / 365 = 787.048 / 365 = 2.1563 -> 2.16
    penalty = consumer(tables, "560.00", date(2026, 1, 15), date(2026, 4, 15), formal_notice_on=date(2026, 3, 2),
                       payments=[(date(2026, 2, 10), D("100.00")), (date(2026, 3, 20), D("300.00"))])

    assert balances(penalty) == [
        (date(2026, 3, 3), date(2026, 3, 20), 18, D("860.00"), D("2.62")),
        (date(2026, 3, 21), date(2026, 4, 15), 26, D("560.00"), D("2.62")),
    ]
    assert penalty.interest == D("2.16")


def test_a_statement_takes_payments_by_invoice_number(tables):
    # F-A: the 12,000.00 case above (1,028.75); F-B 2,500.00 due 2026-01-20, nothing paid, to 2026-02-10:
    #   01-21 .. 02-10 = 11 + 10 = 21 days: 2,500 x 0.1215 x 21 / 365 = 6,378.75 / 365 = 17.4760 -> 17.48
    statement = penalty_statement(
        tables, [("F-A", D("10000.00"), date(2025, 5, 20)), ("F-B", D("2500.00"), date(2026, 1, 20))],
        to_date=date(2026, 2, 10), currency="EUR", is_consumer=False,
        payments={"F-A": [(date(2025, 12, 1), D("2000.00"))]},
    )

    assert [line.interest for line in statement.lines] == [D("1028.75"), D("17.48")]
    assert statement.interest == D("1046.23")
    assert statement.total == D("12500.00") + D("1046.23") + D("80.00")


@pytest.mark.parametrize(("payments", "error", "message"), [
    ([(date(2026, 2, 1), D("100.00"))], ValueError, "after 2026-01-31"),
    ([(date(2026, 1, 20), D("0.00"))], ValueError, "not positive"),
    ([(date(2026, 1, 20), D("-50.00"))], ValueError, "not positive"),
    ([(date(2026, 1, 20), 100.0)], TypeError, "(date, Decimal)"),
], ids=["after-to-date", "zero", "negative", "float"])
def test_a_payment_the_computation_cannot_use_is_refused(tables, payments, error, message):
    with pytest.raises(error, match=re.escape(message)):
        b2b(tables, "600.00", date(2026, 1, 10), date(2026, 1, 31), payments=payments)


def test_payments_for_an_invoice_not_in_the_statement_are_refused(tables):
    with pytest.raises(ValueError, match="not in the statement: F-Z"):
        penalty_statement(tables, [("F-A", D("100.00"), date(2026, 1, 5))], to_date=date(2026, 1, 31),
                          currency="EUR", is_consumer=False, payments={"F-Z": [(date(2026, 1, 20), D("1.00"))]})


# -- contractual rate ---------------------------------------------------------------------------------

def test_a_contractual_rate_replaces_the_commercial_rate(tables):
    # 10,000.00 EUR due 2025-12-15 at a contractual 15.00 %, computed to 2026-01-20:
    #   16 days + 20 days = 36 days: 10,000 x 0.15 x 36 / 365 = 54,000 / 365 = 147.9452 -> 147.95
    #   floors checked: 2025-H2 3 x 2.76 = 8.28 %, 2026-H1 3 x 2.62 = 7.86 %: 15.00 is above both
    penalty = b2b(tables, "10000.00", date(2025, 12, 15), date(2026, 1, 20), contractual_rate=D("15.00"),
                  debtor_id="C0042")

    assert penalty.basis is Basis.contractual
    assert [p.rate for p in penalty.periods] == [D("15.00"), D("15.00")]
    assert penalty.interest == D("147.95")
    assert penalty.indemnity == D("40.00")


def test_a_contractual_rate_below_3_times_the_legal_rate_is_refused(tables):
    # 2026-H1: 3 x 2.62 = 7.86 %; 7.00 % is below it.
    with pytest.raises(ContractualRateError) as raised:
        check_contractual_rate(tables, "C0042", D("7.00"), on=date(2026, 1, 10))

    message = str(raised.value)
    for needed in ("config/contracts.yaml", "C0042", "7.00", "7.86", "2026-H1"):
        assert needed in message, needed


def test_a_contractual_rate_equal_to_the_floor_is_allowed(tables):
    assert check_contractual_rate(tables, "C0042", D("7.86"), on=date(2026, 1, 10)) == D("7.86")


def test_a_contractual_rate_below_the_floor_of_a_half_year_it_covers_is_set_aside_for_the_commercial_rate_11_98(tables):
    """8.00 % is above the 2026-H1 floor (7.86 %) but below the 2025-H2 floor (3 x 2.76 = 8.28 %). On
    1 000,00 due 15 December 2025, costed to 20 January 2026, the commercial rate is claimed instead
    (L441-10 II: a rate below the floor is no valid "disposition contraire"): ECB 2.15 % on 1 July 2025
    and on 1 January 2026 + 10 points = 12.15 %, 16 + 20 = 36 days: 1 000 x 12.15 % x 36 / 365 = 11.98."""
    assert b2b(tables, "1000.00", date(2026, 1, 5), date(2026, 2, 5), contractual_rate=D("8.00")).basis \
        is Basis.contractual

    penalty = b2b(tables, "1000.00", date(2025, 12, 15), date(2026, 1, 20), contractual_rate=D("8.00"),
                  debtor_id="C0042")
    assert penalty.basis is Basis.commercial and penalty.interest == D("11.98") and penalty.indemnity == D("40.00")
    assert [(p.days, p.rate) for p in penalty.periods] == [(16, D("12.15")), (20, D("12.15"))]
    for needed in ("C0042", "8.00", "8.28", "2025-H2"):
        assert needed in penalty.rate_note, needed


def test_a_rate_that_passes_on_the_run_day_is_listed_for_an_earlier_half_year_it_reaches(tables):
    # 8.00 % passes the 2026-H1 floor (3 x 2.62 = 7.86 %), not the 2025-H2 one (8.28 %) of an invoice
    # due 2025-12-15: the run summary lists the contract to fix.
    run_day = date(2026, 1, 20)
    rates = {"C0042": D("8.00"), "C0099": D("15.00")}
    assert contracts_below_floor(tables, rates, run_day, run_day) == []

    message = "\n".join(contracts_below_floor(tables, rates, date(2025, 12, 16), run_day))
    for needed in ("config/contracts.yaml", "late_interest_rates.C0042", "8.00", "8.28", "2025-H2",
                   "claimed at the commercial rate"):
        assert needed in message, needed
    assert "C0099" not in message and "2026-H1" not in message
    # Per debtor, from the day after its own earliest open due date.
    assert contracts_to_fix(tables, rates, {"C0042": date(2026, 1, 5), "C0099": date(2025, 1, 5)}, run_day) == []
    assert len(contracts_to_fix(tables, rates, {"C0042": date(2025, 12, 15)}, run_day)) == 1


def test_every_refused_debtor_and_half_year_is_listed_at_once(tables):
    # Floors: 2024-H2 3 x 4.92 = 14.76; 2025-H1 3 x 3.71 = 11.13; 2025-H2 8.28; 2026-H1 7.86.
    rates = {"C0001": D("12.00"), "C0002": D("9.00")}
    lines = contracts_below_floor(tables, rates, date(2024, 11, 1), date(2026, 2, 1))

    found = [(debtor, half) for line in lines for debtor in rates for half in ("2024-H2", "2025-H1", "2025-H2", "2026-H1")
             if f"late_interest_rates.{debtor}:" in line and f"for {half}" in line]
    assert found == [("C0001", "2024-H2"), ("C0002", "2024-H2"), ("C0002", "2025-H1")]
    assert all("contracts.yaml" in line and "legal floor of" in line for line in lines)
    assert "14.76" in lines[0] and "11.13" in lines[2]


def test_half_years_the_tables_do_not_cover_are_left_to_the_computation(tables):
    # 2018-H2 has no taux de l'intérêt légal row (the tables start at 2019-H1, floor 3 x 0.86 = 2.58):
    # a range reaching into 2019-H1 lists 2.57, a range inside 2018-H2 only cannot judge it.
    assert "2019-H1" in "\n".join(contracts_below_floor(tables, {"C0042": D("2.57")}, date(2018, 10, 1),
                                                        date(2019, 2, 1)))
    assert contracts_below_floor(tables, {"C0042": D("2.57")}, date(2018, 10, 1), date(2018, 12, 31)) == []
    # Nothing overdue yet: an empty range checks nothing, even a rate far below every floor.
    assert contracts_below_floor(tables, {"C0042": D("1.00")}, date(2026, 2, 1), date(2026, 1, 31)) == []


def test_a_contractual_rate_for_a_consumer_is_refused(tables):
    with pytest.raises(ContractualRateError, match="consumer"):
        consumer(tables, "1000.00", date(2026, 1, 5), date(2026, 2, 5), contractual_rate=D("15.00"),
                 formal_notice_on=date(2026, 1, 20))


# -- consumers: moratory interest from the formal notice only ----------------------------------------

def test_a_consumer_owes_the_legal_rate_from_the_day_after_the_formal_notice(tables):
    # 2,000.00 EUR due 2026-01-15, formal notice 2026-02-10, computed to 2026-03-12:
    #   2026-02-11 .. 2026-03-12 = 18 days of February (11..28) + 12 of March = 30 days at 2.62 %
    #   2,000 x 0.0262 x 30 / 365 = 1,572 / 365 = 4.3068 -> 4.31; no indemnity
    penalty = consumer(tables, "2000.00", date(2026, 1, 15), date(2026, 3, 12), formal_notice_on=date(2026, 2, 10))

    assert penalty.basis is Basis.consumer
    assert spans(penalty) == [(date(2026, 2, 11), date(2026, 3, 12), 30, D("2.62"))]
    assert penalty.interest == D("4.31")
    assert penalty.indemnity == D("0.00")


def test_a_consumers_legal_rate_changes_on_1_january(tables):
    # 3,000.00 EUR due 2025-11-01, formal notice 2025-12-01, computed to 2026-01-31:
    #   2025-12-02 .. 2025-12-31 = 30 days at 2.76 %: 3,000 x 0.0276 x 30 / 365 = 2,484.0 / 365 = 6.8055
    #   2026-01-01 .. 2026-01-31 = 31 days at 2.62 %: 3,000 x 0.0262 x 31 / 365 = 2,436.6 / 365 = 6.6756
    #   total 4,920.6 / 365 = 13.4811 -> 13.48
    penalty = consumer(tables, "3000.00", date(2025, 11, 1), date(2026, 1, 31), formal_notice_on=date(2025, 12, 1))

    assert spans(penalty) == [
        (date(2025, 12, 2), date(2025, 12, 31), 30, D("2.76")),
        (date(2026, 1, 1), date(2026, 1, 31), 31, D("2.62")),
    ]
    assert penalty.interest == D("13.48")


def test_a_consumer_without_formal_notice_owes_nothing_but_the_principal(tables):
    penalty = consumer(tables, "2000.00", date(2025, 6, 1), date(2026, 3, 12))

    assert penalty.basis is Basis.consumer
    assert penalty.periods == ()
    assert penalty.interest == D("0.00")
    assert penalty.indemnity == D("0.00")
    assert penalty.total == D("2000.00")


def test_a_formal_notice_before_the_due_date_does_not_start_interest_early(tables):
    # Notice 2026-01-10, due 2026-01-15, to 2026-01-20: interest from 2026-01-16 only, 5 days at 2.62 %
    #   1,000 x 0.0262 x 5 / 365 = 131 / 365 = 0.3589 -> 0.36
    penalty = consumer(tables, "1000.00", date(2026, 1, 15), date(2026, 1, 20), formal_notice_on=date(2026, 1, 10))

    assert spans(penalty) == [(date(2026, 1, 16), date(2026, 1, 20), 5, D("2.62"))]
    assert penalty.interest == D("0.36")


# -- the 40 EUR recovery indemnity, per invoice ------------------------------------------------------

def test_three_overdue_invoices_carry_three_indemnities(tables):
    # Computed to 2026-02-15, all in 2026-H1 at 12.15 %:
    #   F-A 1,000.00 due 2026-01-05: 01-06 .. 02-15 = 26 + 15 = 41 days: 1,000 x 0.1215 x 41 / 365 = 4,981.5 / 365 = 13.6479 -> 13.65
    #   F-B 2,500.00 due 2026-01-20: 01-21 .. 02-15 = 11 + 15 = 26 days: 2,500 x 0.1215 x 26 / 365 = 7,897.5 / 365 = 21.6370 -> 21.64
    #   F-C   400.00 due 2026-02-01: 02-02 .. 02-15 =          14 days:   400 x 0.1215 x 14 / 365 =   680.4 / 365 =  1.8641 ->  1.86
    #   principal 3,900.00; interest 13.65 + 21.64 + 1.86 = 37.15; indemnity 3 x 40.00 = 120.00; total 4,057.15
    statement = penalty_statement(
        tables,
        [("F-A", D("1000.00"), date(2026, 1, 5)), ("F-B", D("2500.00"), date(2026, 1, 20)),
         ("F-C", D("400.00"), date(2026, 2, 1))],
        to_date=date(2026, 2, 15), currency="EUR", is_consumer=False,
    )

    assert [line.invoice_number for line in statement.lines] == ["F-A", "F-B", "F-C"]
    assert [line.interest for line in statement.lines] == [D("13.65"), D("21.64"), D("1.86")]
    assert [line.indemnity for line in statement.lines] == [D("40.00")] * 3
    assert statement.principal == D("3900.00")
    assert statement.interest == D("37.15")
    assert statement.indemnity == D("120.00")
    assert statement.total == D("4057.15")
    assert statement.computed_to == date(2026, 2, 15)
    assert statement.currency == "EUR"


def test_an_invoice_not_yet_overdue_carries_no_indemnity(tables):
    statement = penalty_statement(
        tables,
        [("F-A", D("1000.00"), date(2026, 1, 5)), ("F-D", D("800.00"), date(2026, 2, 15)),
         ("F-E", D("800.00"), date(2026, 3, 1))],
        to_date=date(2026, 2, 15), currency="EUR", is_consumer=False,
    )

    assert [line.indemnity for line in statement.lines] == [D("40.00"), D("0.00"), D("0.00")]
    assert statement.indemnity == D("40.00")


@pytest.mark.parametrize("paid_on", [date(2026, 1, 5), date(2026, 1, 10)])
def test_an_invoice_paid_in_full_on_time_owes_0_00_indemnity_and_0_00_interest(tables, paid_on):
    # 1,000.00 EUR due 2026-01-10, paid in full on 2026-01-05 or on the due date itself, looked at on
    # 2026-02-15: nothing was late (L441-10 II), so no 40.00 and no interest; 0.00 open.
    penalty = b2b(tables, "0.00", date(2026, 1, 10), date(2026, 2, 15), payments=[(paid_on, D("1000.00"))])

    assert penalty.indemnity == D("0.00")
    assert penalty.interest == D("0.00")
    assert penalty.total == D("0.00")


def test_an_invoice_paid_in_full_late_still_owes_40_00_and_its_interest(tables):
    # 1,000.00 EUR due 2026-01-10, paid in full on 2026-01-20 (10 days late), looked at on 2026-02-15:
    #   2026-01-11 .. 2026-01-20 = 10 days at 12.15 % on 1,000: 1,000 x 0.1215 x 10 / 365 = 1,215 / 365 = 3.3288 -> 3.33
    #   indemnity 40.00 (the payment was late); 0.00 open; total 43.33
    penalty = b2b(tables, "0.00", date(2026, 1, 10), date(2026, 2, 15), payments=[(date(2026, 1, 20), D("1000.00"))])

    assert penalty.indemnity == D("40.00")
    assert penalty.interest == D("3.33")
    assert penalty.total == D("43.33")


def test_an_invoice_still_open_a_day_past_due_owes_40_00(tables):
    # 1,000.00 EUR due 2026-01-10, nothing paid, looked at on 2026-01-11: open after its due date -> 40.00
    assert b2b(tables, "1000.00", date(2026, 1, 10), date(2026, 1, 11)).indemnity == D("40.00")


@pytest.mark.parametrize("principal, payments", [
    ("1000.00", []),                                         # still open after its due date
    ("0.00", [(date(2026, 1, 20), D("1000.00"))]),           # paid late
    ("0.00", [(date(2026, 1, 10), D("1000.00"))]),           # paid on time
])
def test_a_consumer_never_owes_the_40_00_indemnity(tables, principal, payments):
    # D441-5 is between professionals; DESIGN.md: "Not for consumers". Formal notice 2026-01-15.
    penalty = consumer(tables, principal, date(2026, 1, 10), date(2026, 2, 15), formal_notice_on=date(2026, 1, 15),
                       payments=payments)
    assert penalty.indemnity == D("0.00") and penalty.separate_eur_indemnity == D("0.00")


def test_a_consumer_statement_has_no_indemnity(tables):
    statement = penalty_statement(
        tables, [("F-A", D("1000.00"), date(2026, 1, 5)), ("F-B", D("2500.00"), date(2026, 1, 20))],
        to_date=date(2026, 2, 15), currency="EUR", is_consumer=True,
    )

    assert statement.indemnity == D("0.00")
    assert statement.interest == D("0.00")
    assert statement.total == D("3500.00")


def test_an_invoice_in_another_currency_bears_interest_but_no_euro_indemnity(tables):
    # 10,000.00 USD, same days as the 1 January case: 119.84 USD of interest, no 40 EUR added to a USD total.
    penalty = b2b(tables, "10000.00", date(2025, 12, 15), date(2026, 1, 20), currency="USD")

    assert penalty.interest == D("119.84")
    assert penalty.indemnity == D("0.00")
    assert penalty.total == D("10119.84")
    assert penalty.separate_eur_indemnity == D("40.00")  # D441-5 owes 40 EUR whatever the currency


def test_a_statement_in_another_currency_owes_the_indemnities_in_euros_outside_its_total(tables):
    # Two overdue USD invoices and one not yet due, to 2026-02-15: 2 x 40.00 EUR, none in the USD amounts.
    statement = penalty_statement(
        tables,
        [("F-A", D("1000.00"), date(2026, 1, 5)), ("F-B", D("2500.00"), date(2026, 1, 20)),
         ("F-E", D("800.00"), date(2026, 3, 1))],
        to_date=date(2026, 2, 15), currency="USD", is_consumer=False,
    )

    assert statement.indemnity == D("0.00")
    assert statement.separate_eur_indemnity == D("80.00")
    assert [line.separate_eur_indemnity for line in statement.lines] == [D("40.00"), D("40.00"), D("0.00")]
    assert statement.interest == D("35.29")              # 13.65 + 21.64, as in EUR above
    assert statement.total == D("4335.29")               # 4,300.00 + 35.29 USD, no euros mixed in


@pytest.mark.parametrize(("currency", "is_consumer"), [("EUR", False), ("USD", True)])
def test_no_separate_euro_indemnity_in_euros_nor_for_a_consumer(tables, currency, is_consumer):
    statement = penalty_statement(tables, [("F-A", D("1000.00"), date(2026, 1, 5))], to_date=date(2026, 2, 15),
                                  currency=currency, is_consumer=is_consumer, formal_notice_on=date(2026, 2, 1))
    assert statement.separate_eur_indemnity == D("0.00")


def test_money_must_be_decimal(tables):
    with pytest.raises(TypeError):
        invoice_penalty(tables, number="F-1", principal=1000.0, due_date=date(2026, 1, 5),  # type: ignore[arg-type]
                        to_date=date(2026, 2, 5), is_consumer=False)


# -- prescription --------------------------------------------------------------------------------------

@pytest.mark.parametrize("due_date, is_consumer, expected", [
    (date(2025, 3, 15), False, date(2030, 3, 15)),   # 5 years between merchants (L110-4 C. com.)
    (date(2025, 3, 15), True, date(2027, 3, 15)),    # 2 years against a consumer (L218-2 C. conso.)
    (date(2024, 2, 29), False, date(2029, 2, 28)),   # no 29 February in 2029: the last day of February
    (date(2024, 2, 29), True, date(2026, 2, 28)),
    (date(2023, 2, 28), True, date(2025, 2, 28)),
    (date(2023, 12, 31), False, date(2028, 12, 31)),
])
def test_prescription_date(tables, due_date, is_consumer, expected):
    assert prescription_date(due_date, is_consumer, tables) == expected


@pytest.mark.parametrize("as_of, approaching, prescribed", [
    (date(2029, 12, 14), False, False),   # 91 days before 2030-03-15
    (date(2029, 12, 15), True, False),    # 90 days before: inside the window
    (date(2030, 3, 14), True, False),
    (date(2030, 3, 15), True, False),     # the prescription date itself: an action is still in time
    (date(2030, 3, 16), False, True),     # the day after: prescribed, no longer "approaching"
])
def test_prescription_boundaries_between_merchants(tables, as_of, approaching, prescribed):
    due = date(2025, 3, 15)  # prescription date 2030-03-15
    assert (date(2030, 3, 15) - as_of).days in (91, 90, 1, 0, -1)

    assert prescription_approaching(due, False, as_of, tables) is approaching
    assert is_prescribed(due, False, as_of, tables) is prescribed


def test_prescription_boundaries_against_a_consumer(tables):
    due = date(2024, 2, 29)  # prescription date 2026-02-28
    window_opens = date(2026, 2, 28) - timedelta(days=90)
    assert window_opens == date(2025, 11, 30)

    assert not prescription_approaching(due, True, window_opens - timedelta(days=1), tables)
    assert prescription_approaching(due, True, window_opens, tables)
    assert not is_prescribed(due, True, date(2026, 2, 28), tables)
    assert is_prescribed(due, True, date(2026, 3, 1), tables)


# -- configuration errors name the file and the key --------------------------------------------------

def legal_tables_error(folder: Path) -> str:
    with pytest.raises(ConfigError) as raised:
        load_legal_tables(folder)
    return str(raised.value)


def test_an_unknown_key_names_the_file_and_the_dotted_key(config_copy):
    edit_yaml(config_copy / "legal_fr.yaml", lambda data: data["commercial"].update(margin_point="10.00"))

    message = legal_tables_error(config_copy)
    assert "config/legal_fr.yaml: commercial.margin_point: unknown key" in message


def test_a_missing_key_names_the_file_and_the_dotted_key(config_copy):
    edit_yaml(config_copy / "legal_fr.yaml", lambda data: data["commercial"].pop("recovery_indemnity_eur"))

    assert "config/legal_fr.yaml: commercial.recovery_indemnity_eur: Field required" in legal_tables_error(config_copy)


def test_a_half_year_missing_between_two_rows_is_refused_on_load(config_copy):
    edit_yaml(config_copy / "legal_fr.yaml", lambda data: data["legal_interest_rate"].pop("2025-H1"))

    message = legal_tables_error(config_copy)
    assert "config/legal_fr.yaml: legal_interest_rate:" in message
    assert "no row for 2025-H1" in message


def test_a_misspelt_half_year_names_the_key(config_copy):
    edit_yaml(config_copy / "legal_fr.yaml",
              lambda data: data["legal_interest_rate"].update({"2026-H3": {"other_cases": "1", "individual_creditor": "2"}}))

    message = legal_tables_error(config_copy)
    assert "config/legal_fr.yaml: legal_interest_rate.2026-H3" in message
    assert "2026-H1 or 2026-H2" in message


def test_a_wrong_rate_names_the_effective_date(config_copy):
    edit_yaml(config_copy / "legal_fr.yaml",
              lambda data: data["ecb_main_refinancing_rate"]["rates"].update({date(2025, 6, 11): "two"}))

    assert "config/legal_fr.yaml: ecb_main_refinancing_rate.rates.2025-06-11:" in legal_tables_error(config_copy)


def test_a_half_year_beyond_the_last_legal_rate_row_names_the_file_and_the_half_year(config_copy):
    # The file as a finance admin might leave it in July: ECB moved forward, the new arrêté not entered yet.
    def forget_the_new_arrete(data: dict) -> None:
        data["ecb_main_refinancing_rate"]["covers_through"] = "2026-H2"

    edit_yaml(config_copy / "legal_fr.yaml", forget_the_new_arrete)
    tables = load_legal_tables(config_copy)

    assert commercial_rate(tables, date(2026, 7, 1)) == D("12.15")
    with pytest.raises(LegalTablesError) as raised:
        consumer(tables, "1000.00", date(2026, 6, 1), date(2026, 7, 15), formal_notice_on=date(2026, 6, 20))
    assert str(config_copy / "legal_fr.yaml") in str(raised.value)
    assert "2026-H2" in str(raised.value)


def test_the_legal_tables_file_is_required(config_copy):
    (config_copy / "legal_fr.yaml").unlink()

    assert "config/legal_fr.yaml: file not found" in legal_tables_error(config_copy)


def test_contract_rates_load_by_debtor(config_copy):
    edit_yaml(config_copy / "contracts.yaml", lambda data: data.update(late_interest_rates={"C0042": "15.00"}))

    assert load_contract_rates(config_copy) == {"C0042": D("15.00")}


@pytest.mark.parametrize("content, expected", [
    ({"late_interest_rate": {}}, "config/contracts.yaml: late_interest_rate: unknown key"),
    ({"late_interest_rates": {"C0042": "fifteen"}}, "config/contracts.yaml: late_interest_rates.C0042:"),
    ({"late_interest_rates": {"C0042": "-1"}}, "config/contracts.yaml: late_interest_rates.C0042:"),
    ({"late_interest_rates": {42: "15.00"}}, "must be quoted"),
])
def test_a_wrong_contracts_file_names_the_file_and_the_key(config_copy, content, expected):
    (config_copy / "contracts.yaml").write_text(yaml.safe_dump(content), encoding="utf-8")

    with pytest.raises(ConfigError) as raised:
        load_contract_rates(config_copy)
    assert expected in str(raised.value)
