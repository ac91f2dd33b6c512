"""Named scenarios of letters and cases, shared by the document tests: Ateliers Demo SAS chases
La Boulangerie du Port (a business), Claire Dubois (a consumer), Harbour Tools (abroad) and others."""

from __future__ import annotations

import io
from dataclasses import replace
from datetime import date
from decimal import Decimal
from pathlib import Path

from pypdf import PdfReader

from builders import CONFIG_DIR
from dunning.config import CompanyIdentity
from dunning.documents.letters import FormalNoticeLetter
from dunning.law_fr.penalties import penalty_statement
from dunning.law_fr.procedure import ChronologyEntry, DossierContext, NoticeSent
from dunning.law_fr.statement import Basis, InvoicePenalty, PenaltyStatement, RatePeriod
from dunning.rules.messages import Debtor, InvoiceLine, MessageContext
from dunning.sources.config_files import load_legal_tables

COMMERCIAL_RATE = Decimal("12.15")   # ECB 2.15 % (since 11 June 2025) + 10 points: H2 2025 and H1 2026
LEGAL_RATE_H1_2026 = Decimal("2.62")  # taux d'intérêt légal, creditor not an individual, H1 2026

LETTER_DATE = date(2026, 1, 7)
DEADLINE = date(2026, 1, 15)
CONSUMER_NOTICE_ON = date(2026, 3, 2)
PART_PAID_LETTER_DATE = date(2026, 2, 10)


TEMPLATES_DIR = Path(__file__).resolve().parent.parent / "templates"


def text_of(pdf: bytes) -> str:
    """The PDF's text with every run of spaces (babel's no-break ones included) and line breaks as one space."""
    reader = PdfReader(io.BytesIO(pdf))
    raw = " ".join(page.extract_text() for page in reader.pages)
    return " ".join(raw.replace("\u202f", " ").replace("\xa0", " ").split())


def page_count(pdf: bytes) -> int:
    return len(PdfReader(io.BytesIO(pdf)).pages)


def ateliers_demo() -> CompanyIdentity:
    """The creditor: a Paris SAS."""
    return CompanyIdentity.model_validate({
        "legal_name": "Ateliers Demo SAS",
        "siren": "552100554",
        "address": {"line": "12 rue de la Paix", "postal_code": "75002", "city": "Paris", "country": "FR"},
        "iban": "FR76 3000 6000 0112 3456 7890 189",
        "bic": "AGRIFRPP",
        "contact": {"name": "Service recouvrement", "email": "recouvrement@ateliers-demo.fr",
                    "phone": "+33 1 23 45 67 89"},
        "from_email": "relances@ateliers-demo.fr",
        "from_name": "Ateliers Demo",
        "legal_form": "SAS",
        "share_capital": "50000.00",
        "rcs_city": "Paris",
        "signatory": {"name": "Marie Dupont", "capacity": "directrice financière"},
        "consumer_mediator": {"name": "Médiation Démo Consommation", "website": "https://mediation-demo.example"},
    })


def boulangerie(**changes: object) -> Debtor:
    """A B2B debtor in Lyon."""
    debtor = Debtor(id="C-0042", name="Boulangerie Martin SARL", email="compta@boulangerie-martin.fr",
                    language="fr", is_consumer=False, address_line="8 place Bellecour",
                    postal_code="69002", city="Lyon", country="FR")
    return replace(debtor, **changes)


def harbour_tools() -> Debtor:
    """An English-speaking B2B debtor in Bristol."""
    return Debtor(id="C-0077", name="Harbour Tools Ltd", email="accounts@harbourtools.co.uk", language="en",
                  is_consumer=False, address_line="4 Dock Street", postal_code="BS1 4RT", city="Bristol",
                  country="GB")


def claire_dubois() -> Debtor:
    """A consumer in Bordeaux."""
    return Debtor(id="P-0310", name="Mme Claire Dubois", email=None, language="fr", is_consumer=True,
                  address_line="14 rue des Lilas", postal_code="33000", city="Bordeaux", country="FR")


def two_overdue_invoices() -> tuple[InvoiceLine, ...]:
    return (
        InvoiceLine(number="F2025-0142", issue_date=date(2025, 10, 24), due_date=date(2025, 11, 23),
                    amount_total=Decimal("1234.56"), residual=Decimal("1234.56"), days_overdue=45),
        InvoiceLine(number="F2025-0157", issue_date=date(2025, 10, 29), due_date=date(2025, 11, 28),
                    amount_total=Decimal("500.00"), residual=Decimal("250.00"), days_overdue=40),
    )


def commercial_statement() -> PenaltyStatement:
    """Both invoices at 12.15 % to 7 January 2026, actual/365, rounded once per invoice.

    F2025-0142: 1 234,56 x 12.15 % x 38/365 (24 Nov - 31 Dec 2025) = 15.6163
              + 1 234,56 x 12.15 % x  7/365 ( 1 Jan -  7 Jan 2026) =  2.8767  -> 18,49 + 40,00
    F2025-0157:   250,00 x 12.15 % x 40/365 (29 Nov 2025 - 7 Jan 2026) = 3.3288 ->  3,33 + 40,00
    Principal 1 484,56 + penalties 21,82 + indemnity 80,00 = 1 586,38
    """
    return PenaltyStatement(computed_to=LETTER_DATE, currency="EUR", lines=(
        InvoicePenalty(
            invoice_number="F2025-0142", principal=Decimal("1234.56"), due_date=date(2025, 11, 23),
            basis=Basis.commercial,
            periods=(
                RatePeriod(start=date(2025, 11, 24), end=date(2025, 12, 31), days=38, principal=Decimal("1234.56"),
                           rate=COMMERCIAL_RATE, interest=Decimal("1234.56") * COMMERCIAL_RATE / 100 * 38 / 365),
                RatePeriod(start=date(2026, 1, 1), end=date(2026, 1, 7), days=7, principal=Decimal("1234.56"),
                           rate=COMMERCIAL_RATE, interest=Decimal("1234.56") * COMMERCIAL_RATE / 100 * 7 / 365),
            ),
            interest=Decimal("18.49"), indemnity=Decimal("40.00"),
        ),
        InvoicePenalty(
            invoice_number="F2025-0157", principal=Decimal("250.00"), due_date=date(2025, 11, 28),
            basis=Basis.commercial,
            periods=(RatePeriod(start=date(2025, 11, 29), end=date(2026, 1, 7), days=40, principal=Decimal("250.00"),
                                rate=COMMERCIAL_RATE, interest=Decimal("250.00") * COMMERCIAL_RATE / 100 * 40 / 365),),
            interest=Decimal("3.33"), indemnity=Decimal("40.00"),
        ),
    ))


def b2b_letter(debtor: Debtor | None = None) -> FormalNoticeLetter:
    """The boulangerie's mise en demeure for its two overdue invoices, posted from Paris on 7 January 2026."""
    context = MessageContext(step="formal_notice", as_of=LETTER_DATE, company=ateliers_demo(),
                             debtor=debtor or boulangerie(), invoices=two_overdue_invoices(), currency="EUR",
                             response_deadline=DEADLINE, penalties=commercial_statement())
    return FormalNoticeLetter(context=context, place="Paris", letter_date=LETTER_DATE)


def consumer_invoice() -> InvoiceLine:
    return InvoiceLine(number="F2025-0201", issue_date=date(2025, 12, 15), due_date=date(2026, 1, 15),
                       amount_total=Decimal("860.00"), residual=Decimal("860.00"), days_overdue=46)


def consumer_statement(computed_to: date) -> PenaltyStatement:
    """Interest at the legal rate from the formal notice of 2 March 2026 only (Code civil 1344-1), no indemnity.

    To 15 April 2026: 860,00 x 2.62 % x 44/365 (3 March - 15 April) = 2.7162 -> 2,72; total 862,72.
    On the day of the formal notice itself nothing has run yet.
    """
    days = (computed_to - CONSUMER_NOTICE_ON).days
    periods = ()
    interest = Decimal("0.00")
    if days > 0:
        periods = (RatePeriod(start=date(2026, 3, 3), end=computed_to, days=days, principal=Decimal("860.00"),
                              rate=LEGAL_RATE_H1_2026,
                              interest=Decimal("860.00") * LEGAL_RATE_H1_2026 / 100 * days / 365),)
        interest = (Decimal("860.00") * LEGAL_RATE_H1_2026 / 100 * days / 365).quantize(Decimal("0.01"))
    return PenaltyStatement(computed_to=computed_to, currency="EUR", lines=(
        InvoicePenalty(invoice_number="F2025-0201", principal=Decimal("860.00"), due_date=date(2026, 1, 15),
                       basis=Basis.consumer, periods=periods, interest=interest, indemnity=Decimal("0.00")),
    ))


def consumer_letter() -> FormalNoticeLetter:
    """Mme Dubois's mise en demeure, posted on 2 March 2026: from today interest runs at the legal rate."""
    context = MessageContext(step="formal_notice", as_of=CONSUMER_NOTICE_ON, company=ateliers_demo(),
                             debtor=claire_dubois(), invoices=(consumer_invoice(),), currency="EUR",
                             response_deadline=date(2026, 3, 10), penalties=consumer_statement(CONSUMER_NOTICE_ON))
    return FormalNoticeLetter(context=context, place="Paris", letter_date=CONSUMER_NOTICE_ON)


def brasserie_liegeoise() -> Debtor:
    """A B2B debtor in Liège, Belgium: another EU member state."""
    return Debtor(id="C-0088", name="Brasserie Liégeoise SRL", email="compta@brasserie-liegeoise.be", language="fr",
                  is_consumer=False, address_line="Rue Léopold 12", postal_code="4000", city="Liège", country="BE")


def part_paid_letter() -> FormalNoticeLetter:
    """12 000,00 € due 20 May 2025, 2 000,00 € received 1 December 2025, mise en demeure on 10 February 2026.

    Computed by dunning.law_fr.penalties, each period on the balance of its days (see tests/law_fr/test_legal_fr.py):
      21 May - 30 June 2025      41 days at 13,15 % on 12 000,00 €
      1 July - 1 December 2025  154 days at 12,15 % on 12 000,00 € (the payment bears interest the day it is received)
      2 - 31 December 2025       30 days at 12,15 % on 10 000,00 €
      1 January - 10 February    41 days at 12,15 % on 10 000,00 €
      375 495 / 365 = 1 028,7534 -> 1 028,75; total 10 000,00 + 1 028,75 + 40,00 = 11 068,75
    """
    statement = penalty_statement(
        load_legal_tables(CONFIG_DIR), [("F2025-0090", Decimal("10000.00"), date(2025, 5, 20))],
        to_date=PART_PAID_LETTER_DATE, currency="EUR", is_consumer=False,
        payments={"F2025-0090": [(date(2025, 12, 1), Decimal("2000.00"))]})
    invoice = InvoiceLine(number="F2025-0090", issue_date=date(2025, 4, 20), due_date=date(2025, 5, 20),
                          amount_total=Decimal("12000.00"), residual=Decimal("10000.00"), days_overdue=266)
    context = MessageContext(step="formal_notice", as_of=PART_PAID_LETTER_DATE, company=ateliers_demo(),
                             debtor=boulangerie(), invoices=(invoice,), currency="EUR",
                             response_deadline=date(2026, 2, 18), penalties=statement)
    return FormalNoticeLetter(context=context, place="Paris", letter_date=PART_PAID_LETTER_DATE)


def usd_statement() -> PenaltyStatement:
    """The boulangerie's two invoices billed in US dollars: same days and figures as commercial_statement.

    Interest 18,49 + 3,33 = 21,82 $US; the USD total is 1 484,56 + 21,82 = 1 506,38 $US. D441-5 still owes
    40 € per overdue invoice: 80,00 € in euros, beside that total and never added to it.
    """
    return penalty_statement(
        load_legal_tables(CONFIG_DIR),
        [("F2025-0142", Decimal("1234.56"), date(2025, 11, 23)), ("F2025-0157", Decimal("250.00"), date(2025, 11, 28))],
        to_date=LETTER_DATE, currency="USD", is_consumer=False)


def usd_letter(debtor: Debtor | None = None) -> FormalNoticeLetter:
    context = MessageContext(step="formal_notice", as_of=LETTER_DATE, company=ateliers_demo(),
                             debtor=debtor or boulangerie(), invoices=two_overdue_invoices(), currency="USD",
                             response_deadline=DEADLINE, penalties=usd_statement())
    return FormalNoticeLetter(context=context, place="Paris", letter_date=LETTER_DATE)


def b2b_case(statement: PenaltyStatement | None = None, *, notice_sha: str = "ab" * 32,
             currency: str = "EUR", debtor: Debtor | None = None, posted: Path | None = None) -> DossierContext:
    """Case 12: the boulangerie, after two reminders by email and the registered mise en demeure."""
    statement = statement or commercial_statement()
    return DossierContext(
        case_id=12, status="queued", opened_on=date(2026, 1, 19), company=ateliers_demo(),
        debtor=debtor or boulangerie(), siren="801234567", currency=currency, statement=statement,
        chronology=(
            ChronologyEntry(date(2026, 1, 7), "formal_notice", "email_and_letter", notice_sha),
            ChronologyEntry(date(2025, 11, 26), "reminder_1", "email", "sg-msg-0001"),
            ChronologyEntry(date(2025, 12, 8), "reminder_2", "email", "sg-msg-0002"),
        ),
        notices=(NoticeSent(LETTER_DATE, DEADLINE, ("F2025-0142", "F2025-0157"), notice_sha,
                            str(posted) if posted else None),),
        prescription_date=date(2030, 11, 23), is_consumer=False,
    )
