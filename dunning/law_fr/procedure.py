"""Which procedure a case in the legal queue calls for, and what its dossier must hold.

Pure: a DossierContext (the claim, the evidence in order, every formal notice) decides the
procedure (injonction de payer before the court whose district covers the debtor, the small-claims
alternative, the European order for payment abroad) and the pieces to attach. The dossier's files
are written by dunning.documents.dossier.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

from dunning.config import AMICABLE_STEPS, CompanyIdentity
from dunning.law_fr.formal_notice import TRIBUNAL_DE_COMMERCE, TRIBUNAL_JUDICIAIRE, court_for, debtor_country
from dunning.law_fr.statement import PenaltyStatement, check_basis
from dunning.rules.compensation import Offset
from dunning.rules.messages import Debtor

__all__ = [
    "SMALL_CLAIMS_LIMIT",
    "ChronologyEntry",
    "NoticeSent",
    "DossierContext",
    "Piece",
    "Procedure",
    "INJONCTION_DE_PAYER",
    "EUROPEAN_ORDER_FOR_PAYMENT",
    "FOREIGN_COURT",
    "recommended_procedure",
    "procedure_text",
]

# Procédure simplifiée de recouvrement des petites créances (L125-1 and R125-1 CPCE): a
# commissaire de justice may settle a contractual claim of at most 5,000 EUR "en principal et
# intérêts", with the debtor's agreement. Interest counts; the 40 EUR indemnity (recovery costs) does not.
SMALL_CLAIMS_LIMIT = Decimal("5000.00")
# Which form the requête en injonction de payer uses: the form itself is titled "12946*01 Demande
# en injonction de payer au président du tribunal de commerce", and public guides (se-faire-payer.com, matuile.com) give
# 12946 for the tribunal de commerce and 12948 (12948*06) for the tribunal judiciaire, with 16040
# for the juge des contentieux de la protection (rents, consumer credit: not our invoices).
# Since 1 January 2025 some tribunaux de commerce sit as tribunaux des activités économiques
# (an experiment until 2028); the form and the procedure are the same.
_CERFA = {TRIBUNAL_DE_COMMERCE: "Cerfa n°12946", TRIBUNAL_JUDICIAIRE: "Cerfa n°12948"}

INJONCTION_DE_PAYER = "injonction de payer"
# A debtor established abroad: no French court or form can be named from the accounting data alone
# (Brussels I bis, a jurisdiction clause in the terms of sale, where the goods were delivered...).
# Within the EU the European order for payment is the counterpart of the injonction de payer; it
# binds every member state except Denmark (Regulation (EC) 1896/2006, article 2(3)).
EUROPEAN_ORDER_FOR_PAYMENT = (
    "injonction de payer européenne (règlement (CE) n° 1896/2006) ou action devant la juridiction "
    "étrangère compétente"
)
FOREIGN_COURT = "action devant la juridiction étrangère compétente"
_EUROPEAN_ORDER_STATES = frozenset({
    "AT", "BE", "BG", "CY", "CZ", "DE", "EE", "ES", "FI", "FR", "GR", "HR", "HU", "IE", "IT", "LT", "LU",
    "LV", "MT", "NL", "PL", "PT", "RO", "SE", "SI", "SK",
})


@dataclass(frozen=True)
class ChronologyEntry:
    """One action of the case's history, as the ledger recorded it."""

    as_of: date
    step: str
    channel: str
    reference: str       # the provider's message id, or the sha256 of the document printed
    invoice_numbers: tuple[str, ...] = ()   # the case's invoices the message was about

    def __post_init__(self) -> None:
        # Step and Channel are str Enums; keep their plain values for the JSON and the templates.
        for name in ("step", "channel"):
            value = getattr(self, name)
            object.__setattr__(self, name, getattr(value, "value", value))


@dataclass(frozen=True)
class NoticeSent:
    """One formal notice the case's invoices received: the letter posted, its date and deadline.

    A case gathers every invoice of a debtor handed over, night after night, so it may hold several
    notices: each invoice is claimed from its own (the first that named it).
    """

    sent_on: date
    response_deadline: date
    invoice_numbers: tuple[str, ...]
    reference: str | None = None   # what the ledger recorded: the PDF's sha256 when there is one
    document: str | None = None    # the PDF in the print queue; its AR cover sheet lies beside it

    def __post_init__(self) -> None:
        if not self.invoice_numbers:
            raise ValueError(f"the formal notice of {self.sent_on} names no invoice")
        if self.response_deadline < self.sent_on:
            raise ValueError(f"the formal notice of {self.sent_on} has its deadline {self.response_deadline} before it")


@dataclass(frozen=True)
class DossierContext:
    """Everything the dossier of one case says."""

    case_id: int
    status: str
    opened_on: date
    company: CompanyIdentity
    debtor: Debtor
    siren: str | None                      # the debtor's, when known
    currency: str
    statement: PenaltyStatement            # principal, penalties and indemnity of the case's invoices
    chronology: tuple[ChronologyEntry, ...]
    prescription_date: date                # the earliest of the case's invoices
    is_consumer: bool
    credits: tuple[Offset, ...] = ()       # the debtor's credits set against these invoices (C. civ. 1347)
    notices: tuple[NoticeSent, ...] = ()   # every formal notice of the case's invoices, oldest first

    def __post_init__(self) -> None:
        who = f"dossier of case {self.case_id}"
        object.__setattr__(self, "chronology", tuple(sorted(self.chronology, key=lambda entry: entry.as_of)))
        object.__setattr__(self, "notices", tuple(sorted(self.notices, key=lambda notice: notice.sent_on)))
        if self.is_consumer != self.debtor.is_consumer:
            raise ValueError(f"{who}: is_consumer={self.is_consumer} but debtor {self.debtor.id} says {self.debtor.is_consumer}")
        if self.statement.currency != self.currency:
            raise ValueError(f"{who}: statement in {self.statement.currency}, case in {self.currency}")
        if not self.statement.lines:
            raise ValueError(f"{who}: the statement has no invoice")
        check_basis(self.statement, self.is_consumer, who)

    @property
    def formal_notice_on(self) -> date | None:
        """The case's first formal notice, if any."""
        return self.notices[0].sent_on if self.notices else None

    def notice_of(self, invoice_number: str) -> NoticeSent | None:
        """The formal notice the invoice is claimed from: the first that named it."""
        return next((notice for notice in self.notices if invoice_number in notice.invoice_numbers), None)


@dataclass(frozen=True)
class Piece:
    """One piece to attach to the requête; the template words it from its kind."""

    kind: str                  # invoice | contract | reminder | formal_notice | acknowledgement_of_receipt
    reference: str | None = None
    on: date | None = None
    step: str | None = None    # reminders: which step
    invoice_numbers: tuple[str, ...] = ()   # the invoices a reminder or a notice was about


@dataclass(frozen=True)
class Procedure:
    """What the dossier recommends: an injonction de payer (order for payment), and where.

    For a debtor abroad no French court nor form is recommended: court and cerfa are None, the name
    says which route to consider, and the lawyer checks jurisdiction.
    """

    name: str                          # INJONCTION_DE_PAYER, EUROPEAN_ORDER_FOR_PAYMENT or FOREIGN_COURT
    court: str | None                  # "tribunal de commerce" | "tribunal judiciaire"; None abroad
    cerfa: str | None                  # the form of the requête before that court; None abroad
    venue_city: str | None             # the debtor's domicile (or registered office) decides which court
    venue_postal_code: str | None
    small_claims_alternative: bool     # principal and interest at most 5,000 EUR: commissaire de justice
    pieces: tuple[Piece, ...] = field(default_factory=tuple)
    venue_country: str | None = None   # the debtor's ISO country code, when the accounting data has one
    european_order_for_payment: bool = False  # debtor in another EU state bound by Regulation 1896/2006

    @property
    def abroad(self) -> bool:
        """The debtor is established outside France: the competent court is to be determined."""
        return self.court is None


def recommended_procedure(ctx: DossierContext) -> Procedure:
    country = debtor_country(ctx.debtor)
    court = court_for(ctx.debtor)
    if court is None:
        european = country in _EUROPEAN_ORDER_STATES
        return Procedure(
            name=EUROPEAN_ORDER_FOR_PAYMENT if european else FOREIGN_COURT,
            court=None,
            cerfa=None,
            venue_city=ctx.debtor.city,
            venue_postal_code=ctx.debtor.postal_code,
            # L125-1 CPCE is a French enforcement procedure: not offered against a debtor abroad.
            small_claims_alternative=False,
            pieces=_pieces(ctx),
            venue_country=country,
            european_order_for_payment=european,
        )
    claim = ctx.statement.principal + ctx.statement.interest
    return Procedure(
        name=INJONCTION_DE_PAYER,
        court=court,
        cerfa=_CERFA[court],
        venue_city=ctx.debtor.city,
        venue_postal_code=ctx.debtor.postal_code,
        # The threshold is in euros; a claim in another currency is left to the lawyer.
        small_claims_alternative=ctx.currency == "EUR" and claim <= SMALL_CLAIMS_LIMIT,
        pieces=_pieces(ctx),
        venue_country=country,
    )


def _pieces(ctx: DossierContext) -> tuple[Piece, ...]:
    pieces = [Piece("invoice", line.invoice_number) for line in ctx.statement.lines]
    pieces.append(Piece("contract"))
    amicable = {step.value for step in AMICABLE_STEPS}
    pieces += [Piece("reminder", entry.reference, entry.as_of, entry.step, entry.invoice_numbers)
               for entry in ctx.chronology if entry.step in amicable]
    for notice in ctx.notices:
        pieces.append(Piece("formal_notice", notice.reference, notice.sent_on, invoice_numbers=notice.invoice_numbers))
        pieces.append(Piece("acknowledgement_of_receipt", on=notice.sent_on, invoice_numbers=notice.invoice_numbers))
    return tuple(pieces)


def procedure_text(procedure: Procedure) -> str:
    """The recommended procedure in one line, for the legal queue."""
    if procedure.abroad:
        return f"{procedure.name} ({procedure.venue_country}): the lawyer checks jurisdiction"
    # Named by the district that covers the debtor's domicile: the court of the town may be another one.
    place = procedure.venue_city or "the debtor's domicile"
    if procedure.venue_city and procedure.venue_postal_code:
        place += f" ({procedure.venue_postal_code})"
    where = f" whose district covers {place}"
    text = f"{procedure.name} - {procedure.court}{where} ({procedure.cerfa})"
    if procedure.small_claims_alternative:
        text += "; or the simplified small-claims procedure through a commissaire de justice"
    return text
