"""The extraction queries against a real accounting database, on SQLite and PostgreSQL."""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from dunning.sources.accounting import AccountingSource
from dunning.sources.receivables import (
    normalize_credits, normalize_history, split_history, split_payments, validate_receivables,
)


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
    on_10th = validate_receivables(books_with_history.open_receivables(date(2026, 11, 10)), date(2026, 11, 10)).invoices
    assert sorted(on_10th["number"]) == ["FA-OPEN"]
    on_1st = validate_receivables(books_with_history.open_receivables(date(2026, 11, 1)), date(2026, 11, 1))
    residuals = dict(zip(on_1st.invoices["number"], on_1st.invoices["residual"]))
    assert residuals == {"FA-OPEN": Decimal("400.00"), "FA-LATE": Decimal("250.00")}
    # FUTURE was not issued yet on 1 November: not chased, and not out of sight either.
    assert on_1st.quarantined[["source_id", "kind"]].values.tolist() == [["FUTURE", "issued after the as-of date"]]


def test_unapplied_credits_are_credit_notes_and_unallocated_payments(books_with_history):
    credits = normalize_credits(books_with_history.unapplied_credits(date(2026, 11, 10)), "EUR").invoices
    assert sorted(zip(credits["source"], credits["amount"], credits["currency"], credits["posted_on"])) == [
        ("credit_note", Decimal("80.00"), "EUR", date(2026, 9, 1)), ("payment", Decimal("35.50"), "EUR", date(2026, 10, 2))]
    assert normalize_credits(books_with_history.unapplied_credits(date(2026, 8, 1)), "EUR").invoices.empty


def test_payment_history_covers_the_window_only(books_with_history):
    history = normalize_history(books_with_history.payment_history(date(2026, 11, 10), 365))
    assert dict(zip(history["invoice_id"], history["last_paid_on"])) == {
        "OPEN": date(2026, 10, 20), "LATE": date(2026, 11, 5)}
    assert normalize_history(books_with_history.payment_history(date(2026, 11, 10), 15))["invoice_id"].tolist() \
        == ["LATE"]


AS_OF = date(2026, 11, 10)


@pytest.fixture
def books_with_junk(backend):
    """Documents and payments a real accounting system holds that are no use for collection as they are."""
    books = backend.accounting
    books.customer("ACME")
    books.invoice("BIG", "ACME", due=date(2026, 10, 1), total="123456789012.34")
    books.invoice("PRO", "ACME", due=date(2026, 10, 1), kind="pro_forma")
    books.invoice("AV-NEG", "ACME", due=None, total="80.00", residual="-15.00", kind="credit_note")
    books.invoice("AV-USED", "ACME", due=None, total="50.00", residual="0.00", kind="credit_note")
    books.invoice("AV-OPEN", "ACME", due=None, total="30.00", kind="credit_note")
    books.payment("P-NEG", "ACME", None, paid_on=date(2026, 10, 2), amount="-35.50")
    books.payment("P-ZERO", "ACME", None, paid_on=date(2026, 10, 2), amount="0.00")
    books.payment("P-GOOD", "ACME", None, paid_on=date(2026, 10, 2), amount="12.00")
    # Paid, but with no due date to measure lateness against.
    books.invoice("NODUE", "ACME", due=None, total="250.00", residual="0.00")
    books.payment("P-NODUE", "ACME", "NODUE", paid_on=date(2026, 11, 2), amount="250.00")
    return AccountingSource.from_url()


# SQLite has no NUMERIC type: it hands back REAL, which dunning.rules.money reads exactly (next test).
# PostgreSQL's rows come through COPY as text: NUMERIC is its exact decimal literal, never a float.
@pytest.mark.parametrize("backend", ["postgresql"], indirect=True)
def test_postgresql_numeric_arrives_as_its_exact_decimal_text_never_float(books_with_junk):
    raw = books_with_junk.open_receivables(AS_OF)
    credits = books_with_junk.unapplied_credits(AS_OF)
    history = books_with_junk.payment_history(AS_OF, 365)

    for frame, column in [(raw, "amount_total"), (raw, "residual_now"), (raw, "paid_after_as_of"),
                          (credits, "amount"), (history, "amount_total"), (history, "paid_amount")]:
        values = frame[column].tolist()
        assert len(values) and all(type(v) is str and re.fullmatch(r"-?\d+(\.\d{2})?", v) for v in values), (column, values)
    assert "123456789012.34" in raw["amount_total"].tolist()


@pytest.mark.parametrize("backend", ["postgresql"], indirect=True)
def test_postgresql_null_and_empty_text_stay_apart(backend):
    books = backend.accounting
    books.customer("BLANK", email="")
    books.invoice("ONE", "BLANK", due=date(2026, 10, 1))
    [row] = AccountingSource.from_url().open_receivables(AS_OF).to_dict("records")

    # An empty text stays one; NULL (no credit limit, no dispute reason) is None, never "nan".
    assert (row["email"], row["credit_limit"], row["disputed_reason"]) == ("", None, None)
    assert (row["number"], row["due_date"], row["disputed"]) == ("FA-ONE", "2026-10-01", "f")


def test_a_large_amount_survives_exactly(books_with_junk):
    invoices = validate_receivables(books_with_junk.open_receivables(AS_OF), AS_OF).invoices

    [big] = invoices.to_dict("records")
    assert (big["amount_total"], big["residual"]) == (Decimal("123456789012.34"), Decimal("123456789012.34"))
    assert str(big["residual"]) == "123456789012.34"


def test_a_document_that_is_neither_invoice_nor_credit_note_is_quarantined_not_dropped(books_with_junk):
    result = validate_receivables(books_with_junk.open_receivables(AS_OF), AS_OF)

    assert result.invoices["number"].tolist() == ["FA-BIG"]
    [row] = result.quarantined.to_dict("records")
    assert (row["source_id"], row["kind"], row["reason"]) == ("PRO", "unknown document kind", "unknown document kind: 'pro_forma'")


def test_negative_credit_is_quarantined_and_consumed_credit_left_out(books_with_junk):
    result = normalize_credits(books_with_junk.unapplied_credits(AS_OF), "EUR")

    assert sorted(zip(result.invoices["reference"], result.invoices["amount"])) == [
        ("FA-AV-OPEN", Decimal("30.00")), ("P-GOOD", Decimal("12.00"))]
    assert sorted(zip(result.quarantined["source_id"], result.quarantined["kind"])) == [
        ("FA-AV-NEG", "negative credit"), ("P-NEG", "non-positive unallocated payment")]


def test_history_without_a_due_date_is_reported_not_skipped(books_with_junk):
    result = split_history(books_with_junk.payment_history(AS_OF, 365))

    assert result.invoices.empty
    [row] = result.quarantined.to_dict("records")
    assert (row["source"], row["source_id"], row["number"], row["kind"], row["reason"]) == (
        "history", "NODUE", "FA-NODUE", "no lateness evidence", "no lateness evidence: missing due date")


def test_the_accounting_database_refuses_our_writes(books_with_history):
    with pytest.raises(DBAPIError):
        with books_with_history.engine.begin() as conn:
            conn.execute(text("DELETE FROM invoices"))


def test_the_history_window_brings_each_lettered_payment_and_those_of_unknown_invoices(backend, books_with_history):
    books = backend.accounting
    if backend.name == "postgresql":   # an accounting system that does not enforce the reference
        with books.engine.begin() as conn:
            conn.execute(text("ALTER TABLE payments DROP CONSTRAINT payments_invoice_id_fkey"))
    books.payment("P-GHOST", "ACME", "GONE", paid_on=date(2026, 11, 3), amount="99.00")
    books.payment("P-OLD", "ACME", "GONE", paid_on=date(2025, 1, 3), amount="1.00")

    raw = books_with_history.history_payments(date(2026, 11, 10), 365)

    assert sorted(raw["payment_id"]) == ["P-GHOST", "P1", "P2"]   # not P3 (unallocated), not P-OLD (before)
    result = split_payments(raw, set(raw["known_invoice_id"].dropna()))
    assert sorted(result.invoices["payment_id"]) == ["P1", "P2"]
    [row] = result.quarantined.to_dict("records")
    assert (row["source_id"], row["debtor_id"], row["kind"], row["reason"]) == (
        "P-GHOST", "ACME", "payment of an unknown invoice", "payment of an unknown invoice: invoice id GONE")
