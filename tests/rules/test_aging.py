"""The aged balance (dunning.rules.aging): buckets, what is counted, one row per debtor and currency."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from builders import credit_note, credits, days_before, eur, invoice, no_credits, receivables, unallocated_payment
from dunning.rules.aging import AGING_COLUMNS, BUCKETS, bucket_for, compute_aging

AS_OF = date(2026, 3, 18)
TOLERANCE = Decimal("1.00")


def aging_row(aging, debtor_id: str, currency: str = "EUR") -> dict:
    rows = aging[(aging["debtor_id"] == debtor_id) & (aging["currency"] == currency)].to_dict("records")
    assert len(rows) == 1, f"expected one aging row for {debtor_id} {currency}, got {len(rows)}"
    return rows[0]


@pytest.mark.parametrize(
    ("days_overdue", "bucket"),
    [(-10, "not_due"), (0, "not_due"), (1, "d1_30"), (30, "d1_30"), (31, "d31_60"), (60, "d31_60"),
     (61, "d61_90"), (90, "d61_90"), (91, "d90_plus"), (400, "d90_plus")],
)
def test_bucket_boundaries(days_overdue, bucket):
    assert bucket_for(days_overdue) == bucket


@pytest.mark.parametrize(
    ("days_overdue", "bucket"),
    [(0, "not_due"), (1, "d1_30"), (30, "d1_30"), (31, "d31_60"), (60, "d31_60"), (61, "d61_90"),
     (90, "d61_90"), (91, "d90_plus")],
)
def test_an_invoice_lands_in_the_bucket_of_its_days_overdue(days_overdue, bucket):
    one_invoice = receivables(invoice("I1", due_date=days_before(AS_OF, days_overdue), residual="500.00"))

    row = aging_row(compute_aging(one_invoice, no_credits(), AS_OF, TOLERANCE), "C-DUPONT")

    assert row[bucket] == eur("500.00")
    assert all(row[other] == 0 for other in BUCKETS if other != bucket)
    assert row["total_open"] == eur("500.00")


def test_an_invoice_due_today_is_not_due_yet():
    due_today = receivables(invoice("I1", due_date=AS_OF, residual="750.00"))

    row = aging_row(compute_aging(due_today, no_credits(), AS_OF, TOLERANCE), "C-DUPONT")

    assert row["not_due"] == eur("750.00")
    assert row["d1_30"] == 0


@pytest.mark.parametrize(("residual", "counted"), [("0.50", False), ("1.00", False), ("1.01", True)])
def test_a_residual_at_or_below_the_tolerance_is_left_out(residual, counted):
    # The dunning debtor also owes a real invoice, so the row exists whatever the small residual does.
    debtor_with_a_rounding_residual = receivables(
        invoice("I-REAL", due_date=days_before(AS_OF, 45), residual="300.00"),
        invoice("I-CENTS", due_date=days_before(AS_OF, 10), residual=residual, amount_total="980.00"),
    )

    row = aging_row(compute_aging(debtor_with_a_rounding_residual, no_credits(), AS_OF, TOLERANCE), "C-DUPONT")

    assert row["d1_30"] == (eur(residual) if counted else 0)
    assert row["total_open"] == eur("300.00") + (eur(residual) if counted else 0)


@pytest.mark.parametrize("status", ["draft", "cancelled"])
def test_draft_and_cancelled_invoices_are_not_aged(status):
    debtor_with_a_non_posted_invoice = receivables(
        invoice("I-POSTED", due_date=days_before(AS_OF, 5), residual="100.00"),
        invoice("I-OTHER", due_date=days_before(AS_OF, 5), residual="900.00", status=status),
    )

    row = aging_row(compute_aging(debtor_with_a_non_posted_invoice, no_credits(), AS_OF, TOLERANCE), "C-DUPONT")

    assert row["d1_30"] == eur("100.00")
    assert row["total_open"] == eur("100.00")


def test_a_debtor_owing_in_two_currencies_gets_one_row_per_currency():
    debtor_invoiced_in_eur_and_usd = receivables(
        invoice("I-EUR-1", due_date=days_before(AS_OF, 10), residual="100.00"),
        invoice("I-EUR-2", due_date=days_before(AS_OF, 40), residual="200.00"),
        invoice("I-USD-1", due_date=days_before(AS_OF, 10), residual="999.00", currency="USD"),
    )

    aging = compute_aging(debtor_invoiced_in_eur_and_usd, no_credits(), AS_OF, TOLERANCE)

    assert list(aging.columns) == AGING_COLUMNS
    assert len(aging) == 2
    in_eur, in_usd = aging_row(aging, "C-DUPONT", "EUR"), aging_row(aging, "C-DUPONT", "USD")
    assert (in_eur["d1_30"], in_eur["d31_60"], in_eur["total_open"]) == (eur("100.00"), eur("200.00"), eur("300.00"))
    assert (in_usd["d1_30"], in_usd["total_open"]) == (eur("999.00"), eur("999.00"))


def test_two_debtors_get_separate_rows():
    two_debtors = receivables(
        invoice("I1", debtor_id="C-DUPONT", due_date=days_before(AS_OF, 10), residual="100.00"),
        invoice("I2", debtor_id="C-MARTIN", due_date=days_before(AS_OF, 10), residual="250.00"),
    )

    aging = compute_aging(two_debtors, no_credits(), AS_OF, TOLERANCE)

    assert aging_row(aging, "C-DUPONT")["total_open"] == eur("100.00")
    assert aging_row(aging, "C-MARTIN")["total_open"] == eur("250.00")


def test_unapplied_credit_is_a_negative_column_netted_in_the_total():
    debtor_with_a_credit_note_and_an_unallocated_payment = receivables(
        invoice("I1", due_date=days_before(AS_OF, 20), residual="1000.00"),
        invoice("I2", due_date=days_before(AS_OF, 70), residual="500.00"),
    )
    their_credit = credits(credit_note("C-DUPONT", "150.00"), unallocated_payment("C-DUPONT", "49.99"))

    row = aging_row(compute_aging(debtor_with_a_credit_note_and_an_unallocated_payment, their_credit, AS_OF,
                                  TOLERANCE), "C-DUPONT")

    assert row["unapplied_credit"] == eur("-199.99")
    assert row["total_open"] == sum((row[b] for b in BUCKETS), Decimal(0)) + row["unapplied_credit"]
    assert row["total_open"] == eur("1300.01")


def test_credit_in_another_currency_stays_in_its_own_row():
    debtor_with_a_usd_credit_note = receivables(invoice("I1", due_date=days_before(AS_OF, 20), residual="1000.00"))
    usd_credit = credits(credit_note("C-DUPONT", "300.00", currency="USD"))

    aging = compute_aging(debtor_with_a_usd_credit_note, usd_credit, AS_OF, TOLERANCE)

    assert aging_row(aging, "C-DUPONT", "EUR")["total_open"] == eur("1000.00")
    in_usd = aging_row(aging, "C-DUPONT", "USD")
    assert (in_usd["unapplied_credit"], in_usd["total_open"]) == (eur("-300.00"), eur("-300.00"))


def test_a_debtor_with_only_credit_gets_a_row():
    someone_else_owes = receivables(invoice("I1", debtor_id="C-DUPONT", due_date=days_before(AS_OF, 5)))
    credit_only_debtor = credits(credit_note("C-LEROY", "80.00", debtor_name="Leroy et Fils"))

    row = aging_row(compute_aging(someone_else_owes, credit_only_debtor, AS_OF, TOLERANCE), "C-LEROY")

    assert row["debtor_name"] == "Leroy et Fils"
    assert all(row[b] == 0 for b in BUCKETS)
    assert (row["unapplied_credit"], row["total_open"]) == (eur("-80.00"), eur("-80.00"))


def test_amounts_are_exact_decimals():
    # In binary floating point 100.10 + 100.20 is 200.29999999999998.
    cents_that_float_gets_wrong = receivables(
        invoice("I1", due_date=days_before(AS_OF, 3), residual="100.10"),
        invoice("I2", due_date=days_before(AS_OF, 4), residual="100.20"),
    )
    tiny_credit = credits(credit_note("C-DUPONT", "0.30"))

    row = aging_row(compute_aging(cents_that_float_gets_wrong, tiny_credit, AS_OF, TOLERANCE), "C-DUPONT")

    for column in (*BUCKETS, "unapplied_credit", "total_open"):
        assert isinstance(row[column], Decimal), column
    assert row["d1_30"] == Decimal("200.30")
    assert row["total_open"] == Decimal("200.00")
    assert str(row["total_open"]) == "200.00"


def test_no_invoices_and_no_credit_give_an_empty_aged_balance():
    aging = compute_aging(receivables(), no_credits(), AS_OF, TOLERANCE)

    assert aging.empty
    assert list(aging.columns) == AGING_COLUMNS
