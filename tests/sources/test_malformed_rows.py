"""Property-based: whatever junk the accounting database holds, validation never crashes and never
loses a row: each one comes out typed or quarantined with a reason, and no reason quotes a debtor's
text. Then one night on a seeded set of such rows, end to end on both state backends."""

from __future__ import annotations

import random
from datetime import date, timedelta
from decimal import Decimal

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import create_engine, text
from typer.testing import CliRunner

from accounting_db import Accounting
from builders import raw_receivable, raw_receivables
from dunning.documents.exports import export_rows
from dunning.sources.receivables import split_payments, validate_receivables
from dunning.state.store import StateStore, state_engine

AS_OF = date(2026, 3, 18)

junk = st.one_of(
    st.none(), st.text(max_size=12), st.integers(-10**12, 10**12),
    st.floats(allow_nan=True, allow_infinity=True), st.booleans(),
    st.dates(min_value=date(1900, 1, 1), max_value=date(2100, 1, 1)).map(str),
    st.decimals(allow_nan=False, allow_infinity=False, places=4).map(str),
)
columns = st.sampled_from(["kind", "status", "due_date", "issue_date", "currency", "amount_total", "residual_now",
                           "paid_after_as_of", "email", "language", "credit_limit", "customer_id", "disputed",
                           "is_consumer", "strategic", "number", "debtor_name"])
corruption = st.dictionaries(columns, junk, max_size=5)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(corruption, min_size=1, max_size=8))
def test_every_row_comes_out_typed_or_quarantined_with_a_reason(corruptions):
    raw = raw_receivables(*(raw_receivable(f"INV-{i}", **changes) for i, changes in enumerate(corruptions)))
    result = validate_receivables(raw, AS_OF)

    kept, quarantined = set(result.invoices["invoice_id"]), set(result.quarantined["source_id"])
    assert kept | quarantined == set(raw["invoice_id"]) and not kept & quarantined   # nothing lost, nothing twice
    assert all(reason and kind for reason, kind in zip(result.quarantined["reason"], result.quarantined["kind"]))
    for row in result.invoices.to_dict("records"):
        assert isinstance(row["residual"], Decimal) and isinstance(row["amount_total"], Decimal)
        assert Decimal("0") <= row["residual"] <= row["amount_total"]
        assert isinstance(row["due_date"], date) and row["currency"].isalpha() and len(row["currency"]) == 3


# -- every kind of junk the issue lists, each row carrying its own marker ------------------------------------
# A marker stands for what only one debtor's row holds (a name, an address): no quarantine reason, id or
# number may carry any, so nothing of one debtor ever shows in what is logged or recorded about another.

def marker(i: int) -> str:
    return f"Q{i}X"


TEXT_COLUMNS = ["debtor_name", "address_line", "city", "disputed_reason"]
INVOICE_DEFECTS = {
    "none": None, "undecodable": "unreadable text", "nul": "unreadable text", "control": "unreadable text",
    "crlf": "unreadable text", "long": "text too long", "huge": "amount out of range",
    "duplicate": "duplicate invoice number", "issued later": "issued after the as-of date",
}


def junk_invoice(i: int, defect: str, column: str, variant: int) -> dict:
    m = marker(i)
    changes: dict = {"debtor_id": f"C-{i}", "customer_id": f"C-{i}", "number": f"F-{i}",
                     **{c: f"{m} {c}" for c in TEXT_COLUMNS}}
    if defect == "undecodable":
        changes[column] = f"{m} Soci\udce9t\udce9"
    elif defect == "nul":
        changes[column] = f"{m}\x00SA"
    elif defect == "control":
        changes[column] = f"{m}{chr([1, 7, 9, 27, 127, 133][variant % 6])}SA"
    elif defect == "crlf":
        changes[column] = f"{m}\r\nBcc: {m.lower()}@evil.example"
    elif defect == "long":
        changes[column] = m * (600 // len(m) + variant)
    elif defect == "huge":
        changes["amount_total"] = changes["residual_now"] = str(10**12 + variant)
    elif defect == "duplicate":
        changes["number"] = "F-TWIN"
    elif defect == "issued later":
        changes["issue_date"] = str(AS_OF + timedelta(days=1 + variant))
    return raw_receivable(f"INV-{i}", **changes)


invoice_defects = st.tuples(st.sampled_from(sorted(INVOICE_DEFECTS)), st.sampled_from(TEXT_COLUMNS),
                            st.integers(0, 400))


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(invoice_defects, min_size=1, max_size=10))
def test_junk_of_every_kind_is_quarantined_by_kind_and_quotes_no_debtor_text(defects):
    raw = raw_receivables(*(junk_invoice(i, *d) for i, d in enumerate(defects)))
    result = validate_receivables(raw, AS_OF)

    kept, quarantined = set(result.invoices["invoice_id"]), set(result.quarantined["source_id"])
    assert kept | quarantined == set(raw["invoice_id"]) and not kept & quarantined
    twins = sum(defect == "duplicate" for defect, _, _ in defects)
    kinds = dict(zip(result.quarantined["source_id"], result.quarantined["kind"]))
    for i, (defect, _, _) in enumerate(defects):
        expected = None if defect == "duplicate" and twins < 2 else INVOICE_DEFECTS[defect]
        assert kinds.get(f"INV-{i}") == expected, (i, defect)
    recorded = " ".join(str(v) for row in result.quarantined.to_dict("records") for v in row.values())
    assert not any(marker(i) in recorded for i in range(len(defects)))
    for row in result.invoices.to_dict("records"):
        assert not any(ch in str(row[c]) for c in TEXT_COLUMNS for ch in "\x00\r\n\udce9")


PAYMENT_DEFECTS = {
    "none": None, "unknown invoice": "payment of an unknown invoice", "no date": "unreadable payment",
    "unreadable date": "unreadable payment", "unreadable amount": "unreadable payment",
    "huge amount": "unreadable payment",
}
not_a_date = st.text(alphabet=st.characters(blacklist_categories=["Nd", "Cs"]), max_size=50)
payment_defects = st.tuples(st.sampled_from(sorted(PAYMENT_DEFECTS)), not_a_date, st.integers(0, 3))


def junk_payment(i: int, defect: str, junk: str, invoice: int) -> dict:
    row = {"payment_id": f"PAY{i}Z", "invoice_id": f"INV-{invoice}", "paid_on": "2026-03-02", "amount": "150.25"}
    if defect == "unknown invoice":
        row["invoice_id"] = f"GONE-{i}"
    elif defect == "no date":
        row["paid_on"] = None
    elif defect == "unreadable date":
        row["paid_on"] = junk
    elif defect == "unreadable amount":
        row["amount"] = junk or None
    elif defect == "huge amount":
        row["amount"] = str(10**12 + invoice)
    return row


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(payment_defects, min_size=1, max_size=10))
def test_every_payment_is_typed_or_quarantined_by_its_own_id(defects):
    raw = pd.DataFrame([junk_payment(i, *d) for i, d in enumerate(defects)],
                       columns=["payment_id", "invoice_id", "paid_on", "amount"])
    result = split_payments(raw, {f"INV-{k}" for k in range(4)})

    kinds = dict(zip(result.quarantined["source_id"], result.quarantined["kind"]))
    assert set(result.invoices["payment_id"]) | set(kinds) == set(raw["payment_id"])
    assert len(result.invoices) + len(kinds) == len(raw)
    for i, (defect, _, _) in enumerate(defects):
        assert kinds.get(f"PAY{i}Z") == PAYMENT_DEFECTS[defect], (i, defect)
    for row in result.quarantined.to_dict("records"):
        others = [f"PAY{j}Z" for j in range(len(defects)) if f"PAY{j}Z" != row["source_id"]]
        assert not any(other in row["reason"] for other in others)
        assert "150.25" not in row["reason"]   # an amount is not quoted where the row is not at fault for it
    for row in result.invoices.to_dict("records"):
        assert isinstance(row["paid_on"], date) and isinstance(row["amount"], Decimal)


# -- end to end: a fixed, seeded set of such rows through `dunning run`, on both state backends ---------------
# Hypothesis drives the pure validation above; a whole night per example would be minutes, so the
# night runs once per backend on every kind of junk, with columns and variants drawn from a fixed seed.
# The accounting database is SQLite, the one that can hold bytes that are not UTF-8 (see test_bad_rows).

def seeded_junk(seed: int = 20261204) -> tuple[list[tuple], list[tuple]]:
    rng = random.Random(seed)
    kinds = sorted(INVOICE_DEFECTS) + ["duplicate", "none"]
    invoices = [(kind, rng.choice(TEXT_COLUMNS), rng.randint(0, 400)) for kind in kinds]
    junk_dates = ["2026-02-30", "2026-02-31", "2025-99-99", "2025-12-3l"]   # no dates, inside the window as text
    payments = [(kind, rng.choice(junk_dates) if kind == "unreadable date" else "douze", rng.randint(0, 3))
                for kind in sorted(PAYMENT_DEFECTS) if kind != "no date"]   # the reference schema refuses NULL
    return invoices, payments


def write_junk_books(url: str, invoice_defects: list[tuple], payment_defects: list[tuple]) -> None:
    engine = create_engine(url)
    books = Accounting(engine)
    with engine.begin() as conn:   # an accounting system without the unique constraint on numbers
        conn.execute(text("CREATE TABLE loose AS SELECT * FROM invoices"))
        conn.execute(text("DROP TABLE invoices"))
        conn.execute(text("ALTER TABLE loose RENAME TO invoices"))
    raw = [junk_invoice(i, *d) for i, d in enumerate(invoice_defects)]
    for row in raw:
        books.customer(row["customer_id"])
        books.invoice(row["invoice_id"], row["customer_id"], due=date(2026, 3, 3))
    for i, d in enumerate(payment_defects):
        row = junk_payment(i, *d)
        books.payment(row["payment_id"], "C-0", row["invoice_id"], paid_on=date(2026, 3, 2), amount="1.00")
        with engine.begin() as conn:
            conn.execute(text("UPDATE payments SET paid_on = :paid_on, amount = :amount WHERE id = :id"),
                         {"paid_on": row["paid_on"], "amount": row["amount"], "id": row["payment_id"]})

    def as_stored(value: str) -> bytes:   # bytes cast to TEXT: SQLite keeps them as they are, UTF-8 or not
        return value.encode("utf-8", "surrogateescape")

    with engine.begin() as conn:
        for row in raw:
            conn.execute(text("UPDATE customers SET name = CAST(:name AS TEXT), address_line = CAST(:address AS TEXT), "
                              "city = CAST(:city AS TEXT) WHERE id = :id"),
                         {"name": as_stored(row["debtor_name"]), "address": as_stored(row["address_line"]),
                          "city": as_stored(row["city"]), "id": row["customer_id"]})
            conn.execute(text("UPDATE invoices SET number = :number, issue_date = :issued, amount_total = :total, "
                              "amount_residual = :residual, disputed_reason = CAST(:reason AS TEXT) WHERE id = :id"),
                         {"number": row["number"], "issued": row["issue_date"], "total": str(row["amount_total"]),
                          "residual": str(row["residual_now"]), "reason": as_stored(row["disputed_reason"]),
                          "id": row["invoice_id"]})
    engine.dispose()


@pytest.mark.usefixtures("prefect_harness")
def test_a_night_on_seeded_junk_of_every_kind_chases_the_good_rows_alone(backend, tmp_path, monkeypatch, sendgrid):
    from flows.cli import app

    invoice_defects, payment_defects = seeded_junk()
    url = f"sqlite:///{tmp_path / 'junk-accounting.sqlite'}"
    monkeypatch.setenv("DUNNING_ACCOUNTING_URL", url)
    write_junk_books(url, invoice_defects, payment_defects)

    result = CliRunner().invoke(app, ["run", "--as-of", AS_OF.isoformat()])

    assert result.exit_code == 0, result.output
    audit = export_rows(StateStore(state_engine(backend.state_url)), "audit", AS_OF)
    quarantined: dict[str, str] = {}   # one subject's messages: an invoice and its history may both be at fault
    for e in audit:
        if e["event"] == "row.quarantined":
            quarantined[e["subject_id"]] = quarantined.get(e["subject_id"], "") + e["message"]
    twins = sum(kind == "duplicate" for kind, _, _ in invoice_defects)
    good = {i for i, (kind, _, _) in enumerate(invoice_defects) if INVOICE_DEFECTS[kind] is None or twins < 2}
    bad_invoices = {f"INV-{i}" for i in range(len(invoice_defects)) if i not in good}
    bad_payments = {f"PAY{i}Z" for i, (kind, _, _) in enumerate(payment_defects) if kind != "none"}
    # Junk-dated payments lettered to an open invoice also make its history unusable: counted too.
    history = {k for k in quarantined if k.startswith("INV-")} - bad_invoices
    assert set(quarantined) == bad_invoices | bad_payments | history
    assert history <= {f"INV-{k}" for k in range(4)}
    for i, (kind, _, _) in enumerate(invoice_defects):
        if i not in good:
            assert INVOICE_DEFECTS[kind] in quarantined[f"INV-{i}"], (i, kind)
    # Each good row got its one reminder, and no message carries another debtor's text.
    sent_to = {m.payload["personalizations"][0]["to"][0]["email"]: str(m.payload) for m in sendgrid.accepted}
    assert set(sent_to) == {f"compta@c-{i}.example.fr" for i in good}
    for i in good:
        assert not any(marker(j) in sent_to[f"compta@c-{i}.example.fr"] for j in range(len(invoice_defects)) if j != i)
    recorded = result.output + " ".join(quarantined.values())
    assert not any(marker(j) in recorded for j in range(len(invoice_defects)))
