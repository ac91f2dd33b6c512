"""Rows no night can use are quarantined by their id; the night goes on, on both state backends.

The accounting database is a SQLite file here, the one place where a name can hold bytes that are
not UTF-8 or a NUL (PostgreSQL text refuses both); the state database is the backend's.
"""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import create_engine, text
from typer.testing import CliRunner

from accounting_db import Accounting
from dunning.documents.exports import export_rows
from dunning.state.store import StateStore, state_engine

pytestmark = pytest.mark.usefixtures("prefect_harness")

AS_OF = date(2026, 3, 18)


@pytest.fixture
def books(backend, tmp_path, monkeypatch):
    url = f"sqlite:///{tmp_path / 'junk-accounting.sqlite'}"
    monkeypatch.setenv("DUNNING_ACCOUNTING_URL", url)
    engine = create_engine(url)
    b = Accounting(engine)
    b.customer("GOOD", name="Martin SARL")
    b.invoice("G1", "GOOD", due=date(2026, 3, 13))
    for customer in ("BYTES", "NUL", "CRLF", "LONG"):
        b.customer(customer, name=f"{customer} SAS")
        b.invoice(f"{customer}1", customer, due=date(2026, 3, 13))
    b.customer("HUGE")
    b.invoice("HUGE1", "HUGE", due=date(2026, 3, 13), total="1000000000000.00")
    # Issued two days after the night being replayed: it did not exist yet.
    b.customer("LATER", name="Lendemain SARL")
    b.invoice("LATER1", "LATER", due=date(2026, 4, 20), issued=date(2026, 3, 20))
    # Payments: one of an invoice the books do not have, one whose date is no date (SQLite keeps the text).
    b.customer("PAYER", name="Payeur Distinct SA")
    b.invoice("PAID1", "PAYER", due=date(2026, 2, 10), total="300.00", residual="0.00")
    b.payment("P-GHOST", "PAYER", "GONE", paid_on=date(2026, 3, 2), amount="120.00")
    b.payment("P-BADDATE", "PAYER", "PAID1", paid_on=date(2026, 2, 27), amount="300.00")
    with engine.begin() as conn:
        conn.execute(text("UPDATE customers SET name = CAST(X'536F6369E974E920E9' AS TEXT) WHERE id = 'BYTES'"))
        conn.execute(text("UPDATE customers SET name = 'Nul' || char(0) || 'SA' WHERE id = 'NUL'"))
        conn.execute(text("UPDATE customers SET name = 'Crlf' || char(13, 10) || 'Bcc: x@y.fr' WHERE id = 'CRLF'"))
        conn.execute(text("UPDATE customers SET name = :name WHERE id = 'LONG'"), {"name": "L" * 108_007})
        conn.execute(text("UPDATE payments SET paid_on = '2026-02-31' WHERE id = 'P-BADDATE'"))
    yield backend
    engine.dispose()


def test_junk_rows_are_quarantined_by_id_and_the_night_goes_on(books, sendgrid):
    from flows.cli import app

    result = CliRunner().invoke(app, ["run", "--as-of", AS_OF.isoformat()])
    assert result.exit_code == 0, result.output
    # The one good invoice was chased, and it alone.
    [message] = sendgrid.accepted
    assert message.payload["personalizations"][0]["to"][0]["email"] == "compta@good.example.fr"
    assert "\r" not in str(message.payload) and "Bcc" not in str(message.payload)

    store = StateStore(state_engine(books.state_url))
    quarantined = {e["subject_id"]: e["message"] for e in export_rows(store, "audit", AS_OF)
                   if e["event"] == "row.quarantined"}
    assert set(quarantined) == {"BYTES1", "NUL1", "CRLF1", "LONG1", "HUGE1", "LATER1", "P-GHOST", "P-BADDATE",
                                "PAID1"}
    assert "not valid UTF-8" in quarantined["BYTES1"] and "control character" in quarantined["NUL1"]
    assert "control character" in quarantined["CRLF1"] and "at most 200" in quarantined["LONG1"]
    assert "amount out of range" in quarantined["HUGE1"]
    assert quarantined["LATER1"] == ("invoice FA-LATER1 quarantined: issued after the as-of date: issued on "
                                     "2026-03-20, as of 2026-03-18.")
    assert quarantined["P-GHOST"] == "payment P-GHOST quarantined: payment of an unknown invoice: invoice id GONE."
    assert quarantined["P-BADDATE"] == ("payment P-BADDATE quarantined: unreadable payment: invoice id PAID1, "
                                        "unreadable date: '2026-02-31'.")
    assert "no lateness evidence" in quarantined["PAID1"]   # the invoice's history cannot say how late it was paid
    # Each reason is counted in the run's summary.
    for line in ("issued after the as-of date", "payment of an unknown invoice", "unreadable payment"):
        assert f"    1  {line}" in result.output
    # Nothing of one debtor in what is recorded about another: the reasons name columns and ids, not text.
    everything = result.output + " ".join(quarantined.values())
    assert "Crlf" not in everything and "Bcc" not in everything and "Nul" not in everything
    assert "Lendemain" not in everything and "Payeur" not in everything and "120.00" not in everything
    [run] = [e for e in export_rows(store, "audit", AS_OF) if e["event"] == "run.completed"]
    assert len(run["message"]) < 200


def test_a_lever_refuses_a_number_that_names_two_invoices(backend, tmp_path, monkeypatch):
    from flows.cli import app

    url = f"sqlite:///{tmp_path / 'no-unique.sqlite'}"
    monkeypatch.setenv("DUNNING_ACCOUNTING_URL", url)
    engine = create_engine(url)
    b = Accounting(engine)
    b.customer("TWIN")
    with engine.begin() as conn:   # an accounting system without the unique constraint on numbers
        conn.execute(text("CREATE TABLE loose AS SELECT * FROM invoices"))
        conn.execute(text("DROP TABLE invoices"))
        conn.execute(text("ALTER TABLE loose RENAME TO invoices"))
    b.invoice("T1", "TWIN", due=date(2026, 3, 13))
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO invoices SELECT 'T2', number, customer_id, kind, status, issue_date, due_date, "
                          "currency, amount_total, amount_residual, disputed, disputed_reason FROM invoices"))
    result = CliRunner().invoke(app, ["dispute", "open", "FA-T1", "--reason", "pricing", "--note", "x",
                                      "--operator", "lea"])
    assert result.exit_code == 2
    assert "invoice number FA-T1 names several documents in the accounting database (ids T1, T2)" in result.output
    assert export_rows(StateStore(state_engine(backend.state_url)), "audit", None) == []
    engine.dispose()
