"""Invoices paid in full but late still owe their penalties (L441-10 II, D441-5 C. com.): the monthly statement.

Rates: the ECB main refinancing rate in force on 1 January 2026 is 2.15 % (config/legal_fr.yaml), so the
commercial rate of 2026-H1 is 12.15 %.
"""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal

import pandas as pd
import pytest

from conftest import edit_policy
from dunning.config import ConfigError, Step
from dunning.documents.exports import export_rows
from dunning.rules.ladder import Channel, LedgerEntry, LedgerStatus
from dunning.rules.paid_late import invoice_claim, plan_statements
from dunning.rules.planner import Hold, Outcome
from dunning.sources.config_files import load_legal_tables, load_settings
from dunning.sources.receivables import paid_late_invoices
from dunning.state.store import StateStore, state_engine

LEGAL = load_legal_tables()
POLICY = load_settings().policy
AS_OF = date(2026, 3, 2)


def _rows(*invoices: tuple[str, str, str, date, list[tuple[date, str]]], consumer: bool = False,
          disputed: bool = False, debtor: str = "PL") -> pd.DataFrame:
    """sql/paid_late_payments.sql rows: (id, total, currency, due date, payments)."""
    return pd.DataFrame([dict(invoice_id=i, number=f"FA-{i}", debtor_id=debtor, due_date=due.isoformat(),
                              currency=currency, amount_total=total, disputed=int(disputed), debtor_name="Société PL",
                              email="compta@pl.example.fr", language="fr", is_consumer=int(consumer),
                              address_line="1 rue", postal_code="69001", city="Lyon", country="FR",
                              paid_on=paid.isoformat(), amount=amount)
                         for i, total, currency, due, payments in invoices for paid, amount in payments])


def _plan(raw, ledger=(), holds=(), disputed=frozenset(), tonight=None, policy=POLICY, as_of=AS_OF):
    invoices, unreadable = paid_late_invoices(raw)
    assert unreadable == []
    return plan_statements(invoices, list(ledger), list(holds), set(disputed), tonight or {}, as_of, policy, LEGAL, {})


def test_1200_paid_in_full_30_days_late_owes_11_98_interest_and_40_00_indemnity():
    """Due 15 January 2026, paid in full 14 February 2026 (30 days late): 1 200,00 x 12,15 % x 30/365 =
    11,9836 -> 11,98 €, plus the 40,00 € indemnity (D441-5): 51,98 €. Nothing more runs after the payment."""
    [invoice], _ = paid_late_invoices(_rows(("P1", "1200.00", "EUR", date(2026, 1, 15),
                                             [(date(2026, 2, 14), "1200.00")])))
    claim = invoice_claim(LEGAL, invoice, AS_OF)
    assert claim.principal == Decimal("0.00")
    assert [(p.start, p.end, p.days, p.principal, p.rate) for p in claim.periods if p.principal] == [
        (date(2026, 1, 16), date(2026, 2, 14), 30, Decimal("1200.00"), Decimal("12.15"))]
    assert (claim.interest, claim.indemnity) == (Decimal("11.98"), Decimal("40.00"))
    [decision] = _plan(_rows(("P1", "1200.00", "EUR", date(2026, 1, 15), [(date(2026, 2, 14), "1200.00")])))
    assert decision.outcome is Outcome.send and decision.residual == Decimal("51.98")
    assert decision.step is Step.paid_late_statement and decision.channel is Channel.email


def test_two_partial_payments_bear_interest_on_each_days_balance():
    """1 000,00 due 15 January 2026: 400,00 paid 25 January (10 days), 600,00 on 14 February (30 days):
    1 000 x 12,15 % x 10/365 = 3,3288 plus 600 x 12,15 % x 20/365 = 3,9945, together 7,3233 -> 7,32 €, + 40,00."""
    [invoice], _ = paid_late_invoices(_rows(("P2", "1000.00", "EUR", date(2026, 1, 15),
                                             [(date(2026, 1, 25), "400.00"), (date(2026, 2, 14), "600.00")])))
    claim = invoice_claim(LEGAL, invoice, AS_OF)
    assert (claim.interest, claim.indemnity) == (Decimal("7.32"), Decimal("40.00"))


def test_an_invoice_paid_on_time_is_not_claimed():
    """Paid on its due date: no interest, no indemnity (D441-5 wants a late payment): nothing to claim."""
    [decision] = _plan(_rows(("OK", "900.00", "EUR", date(2026, 2, 10), [(date(2026, 2, 10), "900.00")])))
    assert decision.outcome is Outcome.held and "nothing is owed" in decision.reason


@pytest.mark.parametrize("case, expected", [
    ("consumer", "a consumer owes no late-payment penalties"),
    ("disputed in the books", "disputed"),
    ("disputed with us", "disputed"),
    ("held", "on hold (litige commercial)"),
    ("below the minimum", "below policy.paid_late_min_amount (60.00)"),
    ("statement this month", "a penalty statement went to this debtor on 2026-03-02: at most one a month"),
])
def test_what_is_not_claimed_says_why(case, expected):
    raw = _rows(("P1", "1200.00", "EUR", date(2026, 1, 15), [(date(2026, 2, 14), "1200.00")]),
                consumer=case == "consumer", disputed=case == "disputed in the books")
    other = [("OLD", "500.00", "EUR", date(2026, 1, 5), [(date(2026, 1, 20), "500.00")])]
    ledger, holds, disputed, policy = [], [], set(), POLICY
    if case == "disputed with us":
        disputed = {"P1"}
    if case == "held":
        holds = [Hold(reason="litige commercial", debtor_id="PL")]
    if case == "below the minimum":
        policy = POLICY.model_copy(update={"paid_late_min_amount": Decimal("60.00")})
    if case == "statement this month":
        raw = pd.concat([raw, _rows(*other)])
        ledger = [LedgerEntry("OLD", Step.paid_late_statement, LedgerStatus.sent, Channel.email, date(2026, 3, 2))]
    decisions = _plan(raw, ledger, holds, disputed, policy=policy, as_of=date(2026, 3, 9))
    [decision] = [d for d in decisions if d.invoice_id == "P1"]
    assert decision.outcome is Outcome.held and expected in decision.reason, decision.reason
    assert [d.invoice_id for d in decisions] == ["P1"]   # OLD was claimed: never again, no noise


def test_a_claimed_invoice_is_never_claimed_again_and_a_failed_one_is():
    raw = _rows(("P1", "1200.00", "EUR", date(2026, 1, 15), [(date(2026, 2, 14), "1200.00")]))
    sent = LedgerEntry("P1", Step.paid_late_statement, LedgerStatus.sent, Channel.email, date(2026, 3, 2))
    assert _plan(raw, [sent], as_of=date(2026, 4, 1)) == []
    failed = LedgerEntry("P1", Step.paid_late_statement, LedgerStatus.failed, Channel.email, date(2026, 3, 2))
    [again] = _plan(raw, [failed], as_of=date(2026, 3, 3))
    assert again.outcome is Outcome.send


def test_the_statement_counts_towards_the_daily_limit_after_the_reminders():
    """Rule 10: five reminders to this debtor tonight already: the statement waits for the next night."""
    raw = _rows(("P1", "1200.00", "EUR", date(2026, 1, 15), [(date(2026, 2, 14), "1200.00")]))
    [decision] = _plan(raw, tonight={"PL": 5})
    assert decision.outcome is Outcome.deferred and "rule 10" in decision.reason
    [decision] = _plan(raw, tonight={"PL": 4})
    assert decision.outcome is Outcome.send


@pytest.mark.parametrize("value, ok", [("statement", True), ("off", True), (False, True), ("on", False),
                                       (True, False), ("monthly", False)])
def test_claim_paid_late_takes_off_or_statement(config_dir, value, ok):
    edit_policy(config_dir, claim_paid_late=value)
    if ok:
        assert load_settings(config_dir).policy.claim_paid_late.value == ("off" if value is False else value)
    else:
        with pytest.raises(ConfigError, match="claim_paid_late"):
            load_settings(config_dir)


# -- end to end: the real Prefect engine, both databases, SendGrid over HTTP --------------------------------

def _night(as_of: date):
    from flows.nightly import nightly_collection

    state = nightly_collection(as_of=as_of, return_state=True)
    assert state.is_completed(), state.message
    return state


def _statements(sendgrid) -> list[tuple[str, str, str]]:
    return [(m.payload["personalizations"][0]["to"][0]["email"], m.payload["subject"],
             re.sub(r"\s+", " ", next(c["value"] for c in m.payload["content"] if c["type"] == "text/plain")))
            for m in sendgrid.accepted if "paid_late_statement" in m.payload.get("categories", [])]


@pytest.fixture
def paid_late_books(backend):
    """Debtor PL paid two invoices late and one on time; a consumer and a disputed invoice paid late too."""
    books = backend.accounting
    books.customer("PL")
    books.invoice("A", "PL", due=date(2026, 1, 15), total="1200.00", residual="0.00")   # 30 days late
    books.payment("pA", "PL", "A", paid_on=date(2026, 2, 14), amount="1200.00")
    books.invoice("B", "PL", due=date(2026, 1, 20), total="600.00", residual="0.00")    # 15 days late
    books.payment("pB", "PL", "B", paid_on=date(2026, 2, 4), amount="600.00")
    books.invoice("C", "PL", due=date(2026, 2, 10), total="900.00", residual="0.00")    # on time
    books.payment("pC", "PL", "C", paid_on=date(2026, 2, 5), amount="900.00")
    books.invoice("DIS", "PL", due=date(2026, 1, 15), total="700.00", residual="0.00", disputed=True)
    books.payment("pDIS", "PL", "DIS", paid_on=date(2026, 2, 14), amount="700.00")
    books.customer("CONSO", is_consumer=True)
    books.invoice("K", "CONSO", due=date(2026, 1, 15), total="1200.00", residual="0.00")
    books.payment("pK", "CONSO", "K", paid_on=date(2026, 2, 14), amount="1200.00")
    return backend


def test_one_statement_a_month_claims_each_invoice_paid_late_once(paid_late_books, sendgrid):
    """FA-A 1 200,00 paid 30 days late: 11,98 + 40,00; FA-B 600,00 paid 15 days late: 600 x 12,15 % x 15/365 =
    2,9959 -> 3,00 + 40,00; together 94,98 €. FA-C (paid on time), the disputed FA-DIS and the consumer's
    invoice are not claimed. In April, FA-D 1 000,00 due 20 February paid 5 March (13 days): 4,33 + 40,00 = 44,33 €."""
    books = paid_late_books.accounting
    edit_policy(paid_late_books.config_dir, claim_paid_late="statement")
    _night(date(2026, 3, 2))
    [(to, subject, text)] = _statements(sendgrid)
    assert to == "compta@pl.example.fr" and "94,98 €" in subject
    assert "FA-A de 1 200,00 €, échue le 15 janvier 2026, réglée le 14 février 2026 (30 jours de retard) : " \
           "pénalités de retard 11,98 €, indemnité forfaitaire 40,00 €" in text
    assert "FA-B de 600,00 €, échue le 20 janvier 2026, réglée le 4 février 2026 (15 jours de retard) : " \
           "pénalités de retard 3,00 €, indemnité forfaitaire 40,00 €" in text
    assert "Total dû, pénalités et indemnités : 94,98 €" in text and "PEN-PL-202603" in text
    assert "FA-C" not in text and "FA-DIS" not in text
    store = StateStore(state_engine(paid_late_books.state_url))
    rows = {r["invoice_numbers"]: r for r in export_rows(store, "actions", None) if r["step"] == "paid_late_statement"}
    assert {n: (r["status"], r["channel"]) for n, r in rows.items()} == {
        "FA-A": ("sent", "email"), "FA-B": ("sent", "email")}
    held = {d["subject_id"]: d["message"] for d in export_rows(store, "audit", None)
            if d["event"] == "decision.held" and "paid in full" in d["message"]}
    assert "disputed" in held["DIS"] and "C" not in held and "K" not in held   # on time, consumer: not even read

    # The same month again, with a new invoice paid late: nothing goes before April.
    books.invoice("D", "PL", due=date(2026, 2, 20), total="1000.00", residual="0.00")
    books.payment("pD", "PL", "D", paid_on=date(2026, 3, 5), amount="1000.00")
    _night(date(2026, 3, 2))
    _night(date(2026, 3, 9))
    assert len(_statements(sendgrid)) == 1

    _night(date(2026, 4, 1))
    [_, (to, subject, text)] = _statements(sendgrid)
    assert "FA-D de 1 000,00 €" in text and "(13 jours de retard) : pénalités de retard 4,33 €" in text
    assert "Total dû, pénalités et indemnités : 44,33 €" in text
    assert "FA-A" not in text and "FA-B" not in text
    _night(date(2026, 5, 4))
    assert len(_statements(sendgrid)) == 2


def test_off_sends_no_statement(paid_late_books, sendgrid):
    _night(date(2026, 3, 2))
    assert _statements(sendgrid) == []
    store = StateStore(state_engine(paid_late_books.state_url))
    assert [r for r in export_rows(store, "actions", None) if r["step"] == "paid_late_statement"] == []


@pytest.mark.parametrize("language, expected", [
    ("fr", ["Relevé de pénalités de retard : facture FA-P1", "51,98 €", "14 février 2026", "PEN-PL-202603"]),
    ("en", ["Statement of late-payment penalties: invoice FA-P1", "€51.98", "February 14, 2026", "PEN-PL-202603"]),
])
def test_the_statement_letter_prints_what_the_email_says(language, expected):
    """A debtor without email gets the same statement on paper: 11,98 + 40,00 = 51,98 for FA-P1."""
    from dataclasses import replace

    from dunning.rules.paid_late import statement_context
    from dunning.paths import TEMPLATES_DIR
    from dunning.documents.rendering import Renderer

    raw = _rows(("P1", "1200.00", "EUR", date(2026, 1, 15), [(date(2026, 2, 14), "1200.00")])).assign(
        email=None, language=language)
    invoices, _ = paid_late_invoices(raw)
    [decision] = plan_statements(invoices, [], [], set(), {}, AS_OF, POLICY, LEGAL, {})
    assert decision.channel is Channel.letter and "sent as a letter" in decision.reason
    context = statement_context([decision], {i.invoice_id: i for i in invoices}, load_settings().company, AS_OF,
                                LEGAL, {})
    letter = re.sub(r"\s+", " ", Renderer(TEMPLATES_DIR).render_letter(context))
    for text in expected:
        assert text in letter, text
    assert "Reste dû" not in letter   # the open-invoice table is not printed: these invoices are paid
    assert replace(context, as_of=AS_OF).payment_reference == "PEN-PL-202603"
