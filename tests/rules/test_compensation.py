"""Compensation (Code civil 1347): a debtor's unapplied credit is deducted, on its date, before anything is claimed."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from dunning.law_fr.penalties import penalty_statement
from dunning.rules.compensation import Credit, compensate
from dunning.sources.config_files import load_legal_tables

D = Decimal


@pytest.fixture(scope="module")
def tables():
    return load_legal_tables()


def test_a_5000_invoice_with_a_1000_credit_note_posted_midway_claims_4000_and_interest_on_both_balances(tables):
    """FA-1: 5 000,00 EUR due 31 January 2025; credit note AV-1 of 1 000,00 posted 2 March 2025; costed to
    31 March 2025 at the 2025-H1 commercial rate, ECB 3,15 % on 1 January + 10 points = 13,15 %:
      1 February - 2 March, 30 days on 5 000,00: 5 000 x 13,15 % x 30 / 365 = 54,0411
      3 March - 31 March, 29 days on 4 000,00: 4 000 x 13,15 % x 29 / 365 = 41,7918
    interest 95,83 (not 5 000 x 13,15 % x 59 / 365 = 106,28), principal claimed 4 000,00, indemnity 40,00."""
    netted = compensate([("FA-1", date(2025, 1, 31), D("5000.00"))],
                        [Credit("AV-1", date(2025, 3, 2), D("1000.00"))], as_of=date(2025, 3, 31))
    assert netted.net("FA-1", D("5000.00")) == D("4000.00") and netted.left == ()
    statement = penalty_statement(tables, [("FA-1", netted.net("FA-1", D("5000.00")), date(2025, 1, 31))],
                                  to_date=date(2025, 3, 31), currency="EUR", is_consumer=False,
                                  payments=netted.as_payments())
    [line] = statement.lines
    assert [(p.days, p.principal, p.rate) for p in line.periods] == [(30, D("5000.00"), D("13.15")),
                                                                      (29, D("4000.00"), D("13.15"))]
    assert (statement.principal, statement.interest, statement.indemnity) == (D("4000.00"), D("95.83"), D("40.00"))


def test_a_credit_posted_before_the_due_date_takes_effect_on_the_due_date():
    """A credit note of 300,00 posted 10 January against FA-1 due 31 January: compensation on 31 January
    (the invoice's debt is not due before), so no day of interest ever runs on the 300,00."""
    netted = compensate([("FA-1", date(2025, 1, 31), D("1000.00"))],
                        [Credit("AV-1", date(2025, 1, 10), D("300.00"))], as_of=date(2025, 3, 1))
    [offset] = netted.offsets["FA-1"]
    assert (offset.on, offset.amount) == (date(2025, 1, 31), D("300.00"))


def test_several_invoices_take_the_credit_oldest_due_first_and_what_is_left_stays_credit():
    """AV-1 1 500,00 (1 March) then payment P-9 200,00 (5 March) against FA-2 1 000,00 due 15 January,
    FA-1 800,00 due 31 January and FA-3 700,00 due 30 April (not due on 31 March):
    FA-2 takes 1 000,00 of AV-1, FA-1 the other 500,00 then 200,00 of P-9; FA-3 is left alone."""
    netted = compensate([("FA-1", date(2025, 1, 31), D("800.00")), ("FA-2", date(2025, 1, 15), D("1000.00")),
                         ("FA-3", date(2025, 4, 30), D("700.00"))],
                        [Credit("P-9", date(2025, 3, 5), D("200.00"), "payment"),
                         Credit("AV-1", date(2025, 3, 1), D("1500.00"))], as_of=date(2025, 3, 31))
    assert [(o.reference, o.amount) for o in netted.offsets["FA-2"]] == [("AV-1", D("1000.00"))]
    assert [(o.reference, o.on, o.amount) for o in netted.offsets["FA-1"]] == [
        ("AV-1", date(2025, 3, 1), D("500.00")), ("P-9", date(2025, 3, 5), D("200.00"))]
    assert "FA-3" not in netted.offsets and netted.net("FA-1", D("800.00")) == D("100.00")
    assert netted.left == ()
    more = compensate([("FA-2", date(2025, 1, 15), D("1000.00"))], [Credit("AV-1", date(2025, 3, 1), D("1500.00"))],
                      as_of=date(2025, 3, 31))
    assert [(c.reference, c.amount) for c in more.left] == [("AV-1", D("500.00"))]


def test_a_credit_that_is_not_positive_is_refused():
    with pytest.raises(ValueError, match="positive"):
        compensate([("FA-1", date(2025, 1, 31), D("100.00"))], [Credit("AV-1", date(2025, 1, 1), D("0.00"))],
                   as_of=date(2025, 3, 1))
