"""The legal dossier's figures (dunning.legal.dossier_context): what a case claims and by which route, by hand.

A consumer owes moratory interest at the taux de l'intérêt légal (2026-H1: 2.62 %, the creditor being
a company) from the day after the formal notice of each invoice (Code civil 1344-1), actual/365.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from dunning.config import Step
from dunning.documents.dossier import dossier_context
from dunning.law_fr.penalties import penalty_statement
from dunning.law_fr.procedure import recommended_procedure
from dunning.sources.config_files import load_legal_tables, load_settings

D = Decimal


@pytest.fixture(autouse=True)
def no_environment_overrides(monkeypatch):
    monkeypatch.delenv("DUNNING_CONFIG_DIR", raising=False)
    monkeypatch.delenv("DUNNING_FROM_EMAIL", raising=False)


def consumer_invoice(invoice_id: str, number: str, residual: str, due: date) -> dict:
    return {"invoice_id": invoice_id, "number": number, "residual": D(residual), "due_date": due,
            "is_consumer": True, "debtor_id": "P-7", "debtor_name": "Camille Roux", "email": "camille@example.fr",
            "language": "fr", "address_line": "3 rue des Lilas", "postal_code": "31000", "city": "Toulouse",
            "country": "FR", "siren": None}


def notice(number: str, sent_on: str) -> dict:
    return {"invoice_number": number, "step": Step.formal_notice.value, "as_of": sent_on, "channel": "letter",
            "document_sha256": None, "provider_message_id": f"msg-{number}"}


def test_a_consumer_case_with_two_notices_runs_each_invoices_interest_from_its_own_notice():
    """Camille Roux, consumer; the dossier is computed to 2026-03-31.

    F-A 1,000.00 due 2026-01-15, formal notice 2026-02-02:
        2026-02-03 .. 2026-03-31 = 26 + 31 = 57 days: 1,000 x 0.0262 x 57 / 365 = 1,493.4 / 365 = 4.0915 -> 4.09
    F-B   500.00 due 2026-02-15, its own formal notice 2026-03-02:
        2026-03-03 .. 2026-03-31 = 29 days:           500 x 0.0262 x 29 / 365 =   379.9 / 365 = 1.0408 -> 1.04
        (from the case's first notice it would be 02-16 .. 03-31 = 44 days: 576.4 / 365 = 1.58, too much)
    interest 4.09 + 1.04 = 5.13; no indemnity for a consumer; total 1,500.00 + 5.13 = 1,505.13
    """
    rows = {"A": consumer_invoice("A", "F-A", "1000.00", date(2026, 1, 15)),
            "B": consumer_invoice("B", "F-B", "500.00", date(2026, 2, 15))}
    case = {"id": 7, "status": "queued", "opened_on": date(2026, 3, 31), "currency": "EUR", "debtor_id": "P-7",
            "invoices": [{"invoice_id": "A"}, {"invoice_id": "B"}],
            "evidence": [notice("F-A", "2026-02-02"), notice("F-B", "2026-03-02")]}

    context = dossier_context(case, rows, legal=load_legal_tables(), company=load_settings().company,
                              contract_rate=None, response_days=8, as_of=date(2026, 3, 31))

    first, second = context.statement.lines
    assert [(p.start, p.end, p.days, p.rate) for p in first.periods] == [
        (date(2026, 2, 3), date(2026, 3, 31), 57, D("2.62"))]
    assert [(p.start, p.end, p.days, p.rate) for p in second.periods] == [
        (date(2026, 3, 3), date(2026, 3, 31), 29, D("2.62"))]
    assert (first.interest, second.interest) == (D("4.09"), D("1.04"))
    assert context.statement.interest == D("5.13")
    assert context.statement.indemnity == D("0.00")
    assert context.statement.total == D("1505.13")


def test_an_invoice_of_a_consumer_case_never_put_on_notice_bears_no_moratory_interest():
    """F-A as above (4.09 to 2026-03-31); F-C 300.00 due 2026-02-01 joined the case without a notice: 0.00."""
    rows = {"A": consumer_invoice("A", "F-A", "1000.00", date(2026, 1, 15)),
            "C": consumer_invoice("C", "F-C", "300.00", date(2026, 2, 1))}
    case = {"id": 8, "status": "queued", "opened_on": date(2026, 3, 31), "currency": "EUR", "debtor_id": "P-7",
            "invoices": [{"invoice_id": "A"}, {"invoice_id": "C"}], "evidence": [notice("F-A", "2026-02-02")]}

    context = dossier_context(case, rows, legal=load_legal_tables(), company=load_settings().company,
                              contract_rate=None, response_days=8, as_of=date(2026, 3, 31))

    assert [line.interest for line in context.statement.lines] == [D("4.09"), D("0.00")]


def test_a_statement_takes_formal_notices_by_invoice_and_refuses_an_unknown_one():
    tables = load_legal_tables()
    invoices = [("F-A", D("1000.00"), date(2026, 1, 15)), ("F-B", D("500.00"), date(2026, 2, 15))]
    statement = penalty_statement(tables, invoices, to_date=date(2026, 3, 31), currency="EUR", is_consumer=True,
                                  formal_notices={"F-A": date(2026, 2, 2), "F-B": date(2026, 3, 2)})
    assert [line.interest for line in statement.lines] == [D("4.09"), D("1.04")]   # as in the case above

    with pytest.raises(ValueError, match="formal notices for invoice.*F-Z"):
        penalty_statement(tables, invoices, to_date=date(2026, 3, 31), currency="EUR", is_consumer=True,
                          formal_notices={"F-Z": date(2026, 2, 2)})
    with pytest.raises(ValueError, match="not both"):
        penalty_statement(tables, invoices, to_date=date(2026, 3, 31), currency="EUR", is_consumer=True,
                          formal_notice_on=date(2026, 2, 2), formal_notices={"F-A": date(2026, 2, 2)})


def business_invoice(residual: str, due: date) -> dict:
    return {"invoice_id": "S", "number": "F-S", "residual": D(residual), "due_date": due, "is_consumer": False,
            "debtor_id": "C-9", "debtor_name": "Boulangerie Martin SARL", "email": "compta@boulangerie-martin.fr",
            "language": "fr", "address_line": "8 place Bellecour", "postal_code": "69002", "city": "Lyon",
            "country": "FR", "siren": "552100554"}


@pytest.mark.parametrize("principal, claim, offered", [
    ("4983.40", "4999.99", True),
    ("4983.41", "5000.00", True),     # "n'excède pas": 5 000,00 itself qualifies
    ("4983.42", "5000.01", False),
])
def test_the_small_claims_route_is_offered_up_to_5000_00_principal_and_interest(principal, claim, offered):
    """Procédure simplifiée de recouvrement des petites créances (CPCE L125-1, R125-1).

    R125-1 sets the ceiling "en principal et intérêts": 4 000 euros in the décret n° 2016-285 of
    9 March 2016 ("n'excède pas 4 000 euros", its notice, JORF of 11 March 2016), raised to 5 000 on
    1 January 2020 by the décret n° 2019-1333 of 11 December 2019 ("n'excède pas 5 000 €"). The 40.00
    indemnity is recovery costs, not interest, and does not count.

    Due 2026-01-10, dossier to 2026-01-20: 10 days at 12.15 %, principal x 0.1215 x 10 / 365:
        4,983.40 -> 6,054.831 / 365 = 16.5886 -> 16.59; claim 4,999.99
        4,983.41 -> 6,054.843 / 365 = 16.5886 -> 16.59; claim 5,000.00
        4,983.42 -> 6,054.855 / 365 = 16.5886 -> 16.59; claim 5,000.01
    """
    case = {"id": 9, "status": "queued", "opened_on": date(2026, 1, 20), "currency": "EUR", "debtor_id": "C-9",
            "invoices": [{"invoice_id": "S"}], "evidence": [notice("F-S", "2026-01-12")]}
    context = dossier_context(case, {"S": business_invoice(principal, date(2026, 1, 10))}, legal=load_legal_tables(),
                              company=load_settings().company, contract_rate=None, response_days=8,
                              as_of=date(2026, 1, 20))

    assert context.statement.interest == D("16.59")
    assert context.statement.principal + context.statement.interest == D(claim)
    assert context.statement.indemnity == D("40.00")
    assert recommended_procedure(context).small_claims_alternative is offered


def test_a_case_opened_for_prescription_approaching_on_a_2021_invoice_gets_its_figures():
    """10,000.00 due 2021-03-31, handed over on 2026-03-31, its last actionable day (L110-4, 5 years).

    Interest day by day across eleven periods at 10.00 % (2021-2022), 12.50, 14.00, 14.50, 14.25,
    13.15, 12.15 and 12.15 %: 6,084.59, worked out period by period in test_legal_fr
    (test_a_2021_invoice_costed_to_2026_counts_each_half_years_rate_6084_59); indemnity 40.00;
    claim 16,124.59; principal and interest 16,084.59 > 5,000.00: no small-claims route.
    """
    case = {"id": 10, "status": "queued", "opened_on": date(2026, 3, 31), "currency": "EUR", "debtor_id": "C-9",
            "invoices": [{"invoice_id": "S"}], "evidence": []}
    context = dossier_context(case, {"S": business_invoice("10000.00", date(2021, 3, 31))}, legal=load_legal_tables(),
                              company=load_settings().company, contract_rate=None, response_days=8,
                              as_of=date(2026, 3, 31))

    assert len(context.statement.lines[0].periods) == 11
    assert context.statement.interest == D("6084.59")
    assert context.statement.total == D("16124.59")
    assert context.prescription_date == date(2026, 3, 31)
    assert recommended_procedure(context).small_claims_alternative is False
