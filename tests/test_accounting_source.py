"""The extraction queries against a real accounting database, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from dunning.accounting import AccountingSource
from dunning.receivables import normalize_credits, normalize_history, validate_receivables


@pytest.fixture
def books_with_history(backend):
    books = backend.accounting
    books.customer("ACME")
    books.invoice("OPEN", "ACME", due=date(2026, 10, 1), total="1000.00", residual="400.00")
    books.payment("P1", "ACME", "OPEN", paid_on=date(2026, 10, 20), amount="600.00")
    # Paid in full on 5 November: open on 1 November, gone on 10 November.
    books.invoice("LATE", "ACME", due=date(2026, 10, 1), total="250.00", residual="0.00")
    books.payment("P2", "ACME", "LATE", paid_on=date(2026, 11, 5), amount="250.00")
    books.invoice("FUTURE", "ACME", due=date(2026, 12, 31), issued=date(2026, 11, 15))
    books.invoice("AV", "ACME", due=None, total="80.00", kind="credit_note", issued=date(2026, 9, 1))
    books.payment("P3", "ACME", None, paid_on=date(2026, 10, 2), amount="35.50")
    return AccountingSource.from_url()


def test_open_receivables_are_rebuilt_as_of_the_date(books_with_history):
    on_10th = validate_receivables(books_with_history.open_receivables(date(2026, 11, 10))).invoices
    assert sorted(on_10th["number"]) == ["FA-OPEN"]
    on_1st = validate_receivables(books_with_history.open_receivables(date(2026, 11, 1))).invoices
    residuals = dict(zip(on_1st["number"], on_1st["residual"]))
    assert residuals == {"FA-OPEN": Decimal("400.00"), "FA-LATE": Decimal("250.00")}  # FUTURE not issued yet


def test_unapplied_credits_are_credit_notes_and_unallocated_payments(books_with_history):
    credits = normalize_credits(books_with_history.unapplied_credits(date(2026, 11, 10)), "EUR").invoices
    assert sorted(zip(credits["source"], credits["amount"], credits["currency"])) == [
        ("credit_note", Decimal("80.00"), "EUR"), ("payment", Decimal("35.50"), "EUR")]
    assert normalize_credits(books_with_history.unapplied_credits(date(2026, 8, 1)), "EUR").invoices.empty


def test_payment_history_covers_the_window_only(books_with_history):
    history = normalize_history(books_with_history.payment_history(date(2026, 11, 10), 365))
    assert dict(zip(history["invoice_id"], history["last_paid_on"])) == {
        "OPEN": date(2026, 10, 20), "LATE": date(2026, 11, 5)}
    assert normalize_history(books_with_history.payment_history(date(2026, 11, 10), 15))["invoice_id"].tolist() \
        == ["LATE"]


def test_the_accounting_database_refuses_our_writes(books_with_history):
    with pytest.raises(DBAPIError):
        with books_with_history.engine.begin() as conn:
            conn.execute(text("DELETE FROM invoices"))
