"""Validation of what the accounting database returns (dunning.sources.receivables): typed rows or quarantine."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

import pandas as pd
import pytest
from sqlalchemy import text

from builders import open_receivables_columns, raw_receivable, raw_receivables
from dunning.sources.accounting import SQL_DIR
from dunning.sources.receivables import (
    QUARANTINE_COLUMNS, RECEIVABLE_COLUMNS, normalize_credits, normalize_history, split_history,
    late_payments, quarantine_note, split_payments, validate_receivables,
)

AS_OF = date(2026, 3, 18)   # the raw rows' invoices are issued on 2026-02-01


def validated_row(**overrides) -> dict:
    """The one typed row validate_receivables makes of a raw row; fails if it was quarantined."""
    result = validate_receivables(raw_receivables(raw_receivable("INV-1", **overrides)), AS_OF)
    assert result.quarantined.empty, result.quarantined.to_dict("records")
    [row] = result.invoices.to_dict("records")
    return row


def quarantine_of(**overrides) -> dict:
    result = validate_receivables(raw_receivables(raw_receivable("INV-BAD", **overrides)), AS_OF)
    assert result.invoices.empty
    [row] = result.quarantined.to_dict("records")
    return row


def test_the_builder_has_exactly_the_columns_of_the_extraction_query():
    assert sorted(raw_receivable()) == sorted(open_receivables_columns())
    assert len(open_receivables_columns()) == 25
    assert "kind" in open_receivables_columns()


def test_the_extraction_queries_bind_only_their_date_parameters():
    # SQLAlchemy text() reads any colon-prefixed word, comments included, as a bind parameter.
    def parameters(name: str) -> set[str]:
        return set(text((SQL_DIR / f"{name}.sql").read_text(encoding="utf-8")).compile().params)

    assert parameters("open_receivables") == {"as_of"}
    assert parameters("unapplied_credits") == {"as_of"}
    assert parameters("payment_history") == {"as_of", "since"}
    assert parameters("history_payments") == {"as_of", "since"}
    assert parameters("invoice_payments") == {"ids", "as_of"}


# -- good rows come out typed ---------------------------------------------------------------------------

def test_a_good_row_comes_out_typed():
    row = validated_row(credit_limit=15000)

    assert list(row) == RECEIVABLE_COLUMNS
    assert row["invoice_id"] == "INV-1" and row["number"] == "F-INV-1" and row["debtor_id"] == "C-DUPONT"
    assert (row["issue_date"], row["due_date"]) == (date(2026, 2, 1), date(2026, 3, 3))
    assert type(row["due_date"]) is date
    for money in ("amount_total", "residual", "credit_limit"):
        assert isinstance(row[money], Decimal), money
    assert (row["amount_total"], row["residual"], row["credit_limit"]) == (
        Decimal("1200.00"), Decimal("1200.00"), Decimal("15000.00"))
    assert row["status"] == "posted" and row["currency"] == "EUR"
    assert row["is_consumer"] is False and row["strategic"] is False and row["disputed"] is False


@pytest.mark.parametrize(
    ("stored", "flag"),
    [(1, True), (0, False), ("t", True), ("f", False), ("true", True), ("false", False), (True, True),
     (False, False), (None, False)],
    ids=["int-1", "int-0", "t", "f", "true", "false", "bool-true", "bool-false", "null"],
)
@pytest.mark.parametrize("column", ["is_consumer", "strategic", "disputed"])
def test_flags_become_real_booleans(column, stored, flag):
    assert validated_row(**{column: stored})[column] is flag


def test_a_sqlite_real_becomes_the_exact_decimal():
    # SQLite returns NUMERIC as REAL: 1234.56 must not become 1234.5599999999999.
    row = validated_row(amount_total=1234.56, residual_now=1234.56)

    assert row["amount_total"] == Decimal("1234.56")
    assert str(row["residual"]) == "1234.56"


def test_a_postgresql_numeric_stays_the_same_decimal():
    row = validated_row(amount_total=Decimal("1234.56"), residual_now=Decimal("234.5"), credit_limit=Decimal("5000"))

    assert (row["amount_total"], row["residual"], row["credit_limit"]) == (
        Decimal("1234.56"), Decimal("234.50"), Decimal("5000.00"))


def test_a_residual_rebuilt_from_two_reals_is_exact():
    row = validated_row(amount_total=1234.56, residual_now=1000.1, paid_after_as_of=234.46)

    assert row["residual"] == Decimal("1234.56")


@pytest.mark.parametrize(
    ("residual_now", "paid_after_as_of", "residual"),
    [(0, 500.0, Decimal("500.00")), (200.0, 300.0, Decimal("500.00")), (500.0, 0, Decimal("500.00"))],
    ids=["paid-in-full-since", "partly-paid-since", "nothing-paid-since"],
)
def test_a_backfill_residual_adds_back_the_payments_after_the_as_of_date(residual_now, paid_after_as_of, residual):
    invoice_paid_after_the_backfill_date = validated_row(amount_total=1200.0, residual_now=residual_now,
                                                         paid_after_as_of=paid_after_as_of)

    assert invoice_paid_after_the_backfill_date["residual"] == residual


@pytest.mark.parametrize(("stored", "language"), [("fr", "fr"), ("en", "en"), ("EN", "en"), ("de", "fr"),
                                                  ("es", "fr"), (None, "fr"), ("", "fr")])
def test_a_language_other_than_french_or_english_falls_back_to_french(stored, language):
    assert validated_row(language=stored)["language"] == language


@pytest.mark.parametrize("due", ["2026-03-03", "2026-03-03 00:00:00", date(2026, 3, 3), datetime(2026, 3, 3, 0, 0),
                                 pd.Timestamp("2026-03-03")], ids=["iso-text", "sqlite-timestamp-text", "date",
                                                                   "datetime", "pandas-timestamp"])
def test_dates_of_either_database_become_dates(due):
    row = validated_row(due_date=due)

    assert row["due_date"] == date(2026, 3, 3)
    assert type(row["due_date"]) is date


def test_text_is_trimmed_and_currency_upper_cased():
    row = validated_row(currency="eur", email="  compta@dupont-sa.fr ", debtor_name=" Dupont SA ", siren="")

    assert (row["currency"], row["email"], row["debtor_name"], row["siren"]) == (
        "EUR", "compta@dupont-sa.fr", "Dupont SA", None)


def test_a_customer_without_email_or_country_is_kept():
    row = validated_row(email=None, country=None, debtor_name=None)

    assert row["email"] is None
    assert row["country"] == "FR"
    assert row["debtor_name"] == "C-DUPONT"


# -- bad rows are quarantined with their kind ------------------------------------------------------------

@pytest.mark.parametrize(
    ("defect", "kind"),
    [
        pytest.param({"residual_now": -5.0}, "negative residual", id="negative-residual"),
        pytest.param({"residual_now": 1300.0}, "residual above the invoice total", id="residual-above-total"),
        pytest.param({"residual_now": 1100.0, "paid_after_as_of": 200.0}, "residual above the invoice total",
                     id="backfill-residual-above-total"),
        pytest.param({"currency": "EUX"}, "unknown currency code", id="unknown-currency"),
        pytest.param({"currency": None}, "unknown currency code", id="no-currency"),
        pytest.param({"due_date": None}, "missing due date", id="missing-due-date"),
        pytest.param({"due_date": "le 3 mars"}, "unreadable date", id="unreadable-due-date"),
        pytest.param({"email": "compta@dupont"}, "malformed customer email", id="email-without-domain-dot"),
        pytest.param({"email": "compta dupont@dupont-sa.fr"}, "malformed customer email", id="email-with-space"),
        pytest.param({"customer_id": None, "debtor_name": None, "email": None}, "unknown customer",
                     id="unknown-customer"),
        pytest.param({"amount_total": 0, "residual_now": 0}, "amount total not positive", id="zero-total"),
        pytest.param({"amount_total": -1200.0, "residual_now": 0}, "amount total not positive",
                     id="negative-total"),
        pytest.param({"amount_total": "douze cents"}, "unreadable amount total", id="unreadable-total"),
        pytest.param({"status": "paid"}, "unknown invoice status", id="unknown-status"),
        pytest.param({"kind": "pro_forma"}, "unknown document kind", id="pro-forma-document"),
        pytest.param({"kind": "down_payment"}, "unknown document kind", id="down-payment-document"),
        pytest.param({"kind": None}, "unknown document kind", id="document-without-kind"),
    ],
)
def test_a_row_that_makes_no_sense_is_quarantined_with_its_kind(defect, kind):
    row = quarantine_of(**defect)

    assert list(row) == QUARANTINE_COLUMNS
    assert row["kind"] == kind
    assert row["reason"].startswith(kind)
    assert (row["source"], row["source_id"], row["number"], row["debtor_id"]) == (
        "invoice", "INV-BAD", "F-INV-BAD", "C-DUPONT")


def test_a_bad_row_does_not_stop_the_good_ones():
    raw = raw_receivables(
        raw_receivable("INV-1"),
        raw_receivable("INV-2", currency="EUX"),
        raw_receivable("INV-3", debtor_id="C-MARTIN", customer_id="C-MARTIN", is_consumer=1),
        raw_receivable("INV-4", residual_now=-1.0),
    )

    result = validate_receivables(raw, AS_OF)

    assert list(result.invoices["invoice_id"]) == ["INV-1", "INV-3"]
    assert list(result.invoices.columns) == RECEIVABLE_COLUMNS
    assert dict(zip(result.quarantined["source_id"], result.quarantined["kind"])) == {
        "INV-2": "unknown currency code", "INV-4": "negative residual"}


def test_an_empty_extraction_gives_empty_typed_frames():
    result = validate_receivables(raw_receivables(), AS_OF)

    assert result.invoices.empty and list(result.invoices.columns) == RECEIVABLE_COLUMNS
    assert result.quarantined.empty and list(result.quarantined.columns) == QUARANTINE_COLUMNS


# -- unapplied credits and payment history ---------------------------------------------------------------

CREDIT_COLUMNS = ["debtor_id", "debtor_name", "currency", "amount", "source", "reference", "posted_on"]


def raw_credits(*rows: dict) -> pd.DataFrame:
    return pd.DataFrame(list(rows), columns=CREDIT_COLUMNS)


def test_unallocated_payments_take_the_company_currency_and_credit_notes_keep_theirs():
    raw = raw_credits(
        {"debtor_id": "C-DUPONT", "debtor_name": "Dupont SA", "currency": None, "amount": 49.99,
         "source": "payment", "reference": 17, "posted_on": "2026-03-02"},
        {"debtor_id": "C-DUPONT", "debtor_name": "Dupont SA", "currency": "USD", "amount": 300.1,
         "source": "credit_note", "reference": "AV-2026-0003", "posted_on": date(2026, 2, 27)},
    )

    result = normalize_credits(raw, "EUR")

    assert result.quarantined.empty
    assert result.invoices.to_dict("records") == [
        {"debtor_id": "C-DUPONT", "debtor_name": "Dupont SA", "currency": "EUR", "amount": Decimal("49.99"),
         "source": "payment", "reference": "17", "posted_on": date(2026, 3, 2)},
        {"debtor_id": "C-DUPONT", "debtor_name": "Dupont SA", "currency": "USD", "amount": Decimal("300.10"),
         "source": "credit_note", "reference": "AV-2026-0003", "posted_on": date(2026, 2, 27)},
    ]


def test_a_credit_without_a_date_is_quarantined_it_could_not_be_set_off_on_a_day():
    result = normalize_credits(raw_credits(raw_credit("credit_note", "100.00", "AV-8", posted_on=None),
                                           raw_credit("payment", "50.00", "18", posted_on="le 3 mars")), "EUR")
    assert result.invoices.empty
    assert sorted((r["source_id"], r["kind"]) for r in result.quarantined.to_dict("records")) == [
        ("18", "unreadable date"), ("AV-8", "credit without a date")]


def test_a_credit_note_in_an_unknown_currency_is_quarantined():
    raw = raw_credits({"debtor_id": "C-DUPONT", "debtor_name": "Dupont SA", "currency": "EUX", "amount": 10.0,
                       "source": "credit_note", "reference": "AV-9", "posted_on": "2026-03-02"})

    result = normalize_credits(raw, "EUR")

    assert result.invoices.empty
    [row] = result.quarantined.to_dict("records")
    assert (row["source"], row["source_id"], row["kind"]) == ("credit_note", "AV-9", "unknown currency code")


def raw_credit(source: str, amount: object, reference: str, posted_on: object = "2026-03-02") -> dict:
    return {"debtor_id": "C-DUPONT", "debtor_name": "Dupont SA", "currency": "EUR", "amount": amount,
            "source": source, "reference": reference, "posted_on": posted_on}


@pytest.mark.parametrize(
    ("source", "amount", "kind"),
    [
        pytest.param("credit_note", -80.0, "negative credit", id="credit-note-more-than-consumed"),
        pytest.param("credit_note", Decimal("-0.01"), "negative credit", id="credit-note-one-cent-below-zero"),
        pytest.param("payment", -35.5, "non-positive unallocated payment", id="negative-payment"),
        pytest.param("payment", 0, "non-positive unallocated payment", id="zero-payment"),
        pytest.param("credit_note", None, "unreadable credit amount", id="credit-note-without-residual"),
    ],
)
def test_credit_that_is_not_credit_is_quarantined_not_netted(source, amount, kind):
    result = normalize_credits(raw_credits(raw_credit(source, amount, "REF-BAD"),
                                           raw_credit("credit_note", 80.0, "AV-GOOD")), "EUR")

    assert result.invoices["reference"].tolist() == ["AV-GOOD"]
    [row] = result.quarantined.to_dict("records")
    assert list(row) == QUARANTINE_COLUMNS
    assert (row["source"], row["source_id"], row["debtor_id"], row["kind"]) == (source, "REF-BAD", "C-DUPONT", kind)
    assert row["reason"].startswith(kind)


def test_a_consumed_credit_note_is_not_junk():
    result = normalize_credits(raw_credits(raw_credit("credit_note", 0.0, "AV-USED")), "EUR")

    assert result.quarantined.empty
    assert result.invoices["amount"].tolist() == [Decimal("0.00")]


HISTORY_RAW_COLUMNS = ["debtor_id", "invoice_id", "number", "due_date", "amount_total", "last_paid_on", "paid_amount"]


def raw_history_row(invoice_id: str, **overrides) -> dict:
    return {"debtor_id": "C-DUPONT", "invoice_id": invoice_id, "number": f"F-{invoice_id}",
            "due_date": "2026-01-10", "amount_total": 500.1, "last_paid_on": "2026-02-01", "paid_amount": 500.1,
            **overrides}


def history_with_gaps() -> pd.DataFrame:
    """One invoice with the evidence the segmentation needs, and four that cannot say how late it was paid."""
    return pd.DataFrame([
        raw_history_row("H1"),
        raw_history_row("H2", due_date=None),
        raw_history_row("H3", due_date="janvier"),
        raw_history_row("H4", last_paid_on=None),
        raw_history_row("H5", paid_amount="cinq cents"),
    ], columns=HISTORY_RAW_COLUMNS)


GOOD_HISTORY_ROW = {"debtor_id": "C-DUPONT", "invoice_id": "H1", "due_date": date(2026, 1, 10),
                    "last_paid_on": date(2026, 2, 1), "amount_total": Decimal("500.10"),
                    "paid_amount": Decimal("500.10")}


def test_history_is_typed_and_rows_without_dates_are_left_out():
    [row] = normalize_history(history_with_gaps()).to_dict("records")

    assert row == GOOD_HISTORY_ROW


def test_history_rows_without_lateness_evidence_are_reported_with_their_reason():
    result = split_history(history_with_gaps())

    assert result.invoices.to_dict("records") == [GOOD_HISTORY_ROW]
    assert list(result.quarantined.columns) == QUARANTINE_COLUMNS
    excluded = {row["source_id"]: row for row in result.quarantined.to_dict("records")}
    assert {(row["source"], row["kind"], row["number"], row["debtor_id"]) for row in excluded.values()} == {
        ("history", "no lateness evidence", f"F-{invoice_id}", "C-DUPONT") for invoice_id in ("H2", "H3", "H4", "H5")}
    assert excluded["H2"]["reason"] == "no lateness evidence: missing due date"
    assert excluded["H3"]["reason"] == "no lateness evidence: unreadable date: 'janvier'"
    assert excluded["H4"]["reason"] == "no lateness evidence: missing payment date"
    assert excluded["H5"]["reason"].startswith("no lateness evidence: unreadable paid amount")


def test_an_empty_history_gives_empty_typed_frames():
    result = split_history(pd.DataFrame(columns=HISTORY_RAW_COLUMNS))

    assert result.invoices.empty and list(result.invoices.columns) == list(GOOD_HISTORY_ROW)
    assert result.quarantined.empty and list(result.quarantined.columns) == QUARANTINE_COLUMNS


def test_an_amount_beyond_decimal_precision_is_quarantined_not_a_crash():
    from builders import raw_receivable, raw_receivables

    result = validate_receivables(raw_receivables(raw_receivable("INV-HUGE", amount_total=1e26)), AS_OF)
    assert result.invoices.empty
    assert "out of range" in result.quarantined["reason"].iloc[0]


# -- text and amounts the state database and a message can hold -------------------------------------

@pytest.mark.parametrize(("column", "value", "reason"), [
    ("debtor_name", "Dupont\x00SA", "debtor_name holds a control character at position 7"),
    ("debtor_name", "Dupont\r\nBcc: x", "debtor_name holds a control character at position 7"),
    ("debtor_name", "Dupont \udce9SA", "debtor_name holds text that is not valid UTF-8 at position 8"),
    ("city", "x" * 101, "city has 101 characters, at most 100"),
    ("debtor_name", "D" * 108_007, "debtor_name has 108007 characters, at most 200"),
])
def test_text_a_message_or_the_state_cannot_hold_is_quarantined_without_quoting_it(column, value, reason):
    row = quarantine_of(**{column: value})
    assert row["kind"] in ("unreadable text", "text too long")
    assert reason in row["reason"]
    assert value.strip() not in row["reason"]


@pytest.mark.parametrize("column", ["amount_total", "residual_now"])
def test_an_amount_beyond_twelve_digits_is_quarantined(column):
    row = quarantine_of(**{column: "1000000000000.00", **({"amount_total": "1000000000000.00"}
                                                          if column == "residual_now" else {})})
    assert row["kind"] == "amount out of range"
    assert validated_row(amount_total="999999999999.99", residual_now="999999999999.99")["residual"] == \
        Decimal("999999999999.99")


def test_two_invoices_with_one_number_are_both_quarantined():
    result = validate_receivables(raw_receivables(raw_receivable("INV-1", number="FA-7"),
                                                  raw_receivable("INV-2", number="FA-7"),
                                                  raw_receivable("INV-3", number="FA-8")), AS_OF)
    assert result.invoices["invoice_id"].tolist() == ["INV-3"]
    reasons = dict(zip(result.quarantined["source_id"], result.quarantined["reason"]))
    assert reasons == {"INV-1": "duplicate invoice number: also invoice id INV-2",
                       "INV-2": "duplicate invoice number: also invoice id INV-1"}


def test_a_junk_credit_reference_is_quarantined_by_an_id_that_can_be_logged():
    result = normalize_credits(raw_credits({**raw_credit("credit_note", "10.00", "AV\x001"),
                                            "debtor_name": "ok"}), "EUR")
    [row] = result.quarantined.to_dict("records")
    assert row["kind"] == "unreadable text" and "\x00" not in row["source_id"] + row["reason"]


# -- an invoice issued after the as-of date ---------------------------------------------------------------

def test_an_invoice_issued_after_the_as_of_date_is_quarantined_not_chased():
    row = quarantine_of(issue_date="2026-03-19")

    assert (row["source"], row["source_id"], row["kind"]) == ("invoice", "INV-BAD", "issued after the as-of date")
    assert row["reason"] == "issued after the as-of date: issued on 2026-03-19, as of 2026-03-18"


def test_an_invoice_issued_on_the_as_of_date_or_without_issue_date_is_chased():
    assert validated_row(issue_date="2026-03-18")["issue_date"] == AS_OF
    assert validated_row(issue_date=None)["issue_date"] is None


def test_an_unreadable_issue_date_is_quarantined_by_measure_when_long():
    assert quarantine_of(issue_date="le 3 mars")["reason"] == "unreadable date: 'le 3 mars'"
    assert quarantine_of(issue_date="9" * 500)["reason"] == "unreadable date: a text of 500 characters"


# -- payments lettered to invoices (penalties, promises, plans, history) ------------------------------------

PAYMENT_RAW_COLUMNS = ["payment_id", "invoice_id", "paid_on", "amount"]


def raw_payments(*rows: tuple) -> pd.DataFrame:
    return pd.DataFrame(list(rows), columns=PAYMENT_RAW_COLUMNS)


def test_readable_payments_of_known_invoices_come_out_typed():
    result = split_payments(raw_payments(("P1", "INV-1", "2026-03-10", 200.1), ("P2", "INV-1", date(2026, 3, 12), "5")),
                            {"INV-1"})

    assert result.quarantined.empty
    assert result.invoices.to_dict("records") == [
        {"payment_id": "P1", "invoice_id": "INV-1", "paid_on": date(2026, 3, 10), "amount": Decimal("200.10")},
        {"payment_id": "P2", "invoice_id": "INV-1", "paid_on": date(2026, 3, 12), "amount": Decimal("5.00")}]


@pytest.mark.parametrize(("row", "kind", "reason"), [
    (("P9", "GHOST", "2026-03-10", 10), "payment of an unknown invoice",
     "payment of an unknown invoice: invoice id GHOST"),
    (("P9", None, "2026-03-10", 10), "payment of an unknown invoice",
     "payment of an unknown invoice: invoice id (unreadable id of 4 characters)"),
    (("P9", "INV-1", "10/03/2026", 10), "unreadable payment",
     "unreadable payment: invoice id INV-1, unreadable date: '10/03/2026'"),
    (("P9", "INV-1", None, 10), "unreadable payment", "unreadable payment: invoice id INV-1, missing payment date"),
    (("P9", "INV-1", "2026-03-10", "dix"), "unreadable payment",
     "unreadable payment: invoice id INV-1, unreadable payment amount"),
    (("P9", "INV-1", "2026-03-10", "1000000000000.00"), "unreadable payment",
     "unreadable payment: invoice id INV-1, amount out of range"),
    (("P\x009", "INV-1", "2026-03-10", 10), "unreadable payment",
     "unreadable payment: invoice id INV-1, unreadable text: payment_id holds a control character at position 2"),
])
def test_a_payment_that_says_nothing_certain_is_quarantined_by_its_id(row, kind, reason):
    result = split_payments(raw_payments(row), {"INV-1"})

    assert result.invoices.empty
    [quarantined] = result.quarantined.to_dict("records")
    assert list(quarantined) == QUARANTINE_COLUMNS
    assert (quarantined["source"], quarantined["kind"]) == ("payment", kind)
    assert quarantined["reason"].startswith(reason)
    assert quarantined["source_id"] == ("P9" if row[0] == "P9" else "(unreadable id of 3 characters)")
    assert quarantine_note(quarantined) == f"payment {quarantined['source_id']}: {quarantined['reason']}"


def test_late_payments_are_the_typed_payments_after_the_due_date():
    invoices = {"INV-1": {"number": "FA-1", "due_date": date(2026, 3, 3)}}
    payments = split_payments(raw_payments(("P1", "INV-1", "2026-03-01", 100), ("P2", "INV-1", "2026-03-10", 200),
                                           ("P3", "INV-1", "2026-03-11", 0), ("P4", "INV-1", "mars", 50)),
                              {"INV-1"})

    assert late_payments(payments.invoices, invoices) == {"FA-1": [(date(2026, 3, 10), Decimal("200.00"))]}
    assert payments.quarantined["source_id"].tolist() == ["P4"]
