"""The legal dossier of a case in the legal queue: what it claims, the evidence in order, the procedure
recommended and the pieces to attach, written as summary.json, summary.html and dossier.pdf with
the formal notice posted.

The dossier is in French only: it is read by a French lawyer and filed with a French court, whatever
the debtor's language. Its template is laid out by dunning.documents, so summary.html and
dossier.pdf come from one template and cannot disagree.
"""

from __future__ import annotations

import json
import os
import shutil
import uuid
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

from dunning.compensation import Offset
from dunning.config import AMICABLE_STEPS, CompanyIdentity
from dunning.documents import ar_cover_path, check_basis, html_to_pdf, render_html, sha256_hex
from dunning.formal_notice import TRIBUNAL_DE_COMMERCE, TRIBUNAL_JUDICIAIRE, court_for, debtor_country
from dunning.mentions import require_creditor_mentions
from dunning.penalties import Basis, PenaltyStatement
from dunning.rendering import Debtor

__all__ = [
    "SMALL_CLAIMS_LIMIT",
    "DOSSIER_FILES",
    "ChronologyEntry",
    "NoticeSent",
    "DossierContext",
    "Piece",
    "Procedure",
    "INJONCTION_DE_PAYER",
    "EUROPEAN_ORDER_FOR_PAYMENT",
    "FOREIGN_COURT",
    "recommended_procedure",
    "write_dossier",
]

# Procédure simplifiée de recouvrement des petites créances (L125-1 and R125-1 CPCE): a
# commissaire de justice may settle a contractual claim of at most 5,000 EUR "en principal et
# intérêts", with the debtor's agreement. Interest counts; the 40 EUR indemnity (recovery costs) does not.
SMALL_CLAIMS_LIMIT = Decimal("5000.00")
# Which form the requête en injonction de payer uses. The brief this module was written from had
# them the other way round; the form itself is titled "12946*01 Demande en injonction de payer au
# président du tribunal de commerce", and public guides (se-faire-payer.com, matuile.com) give
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

DOSSIER_FILES = ("summary.json", "summary.html", "dossier.pdf")


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


@dataclass(frozen=True)
class _Attachment:
    """A formal notice as the dossier folder holds it: the PDF posted and its AR cover sheet."""

    notice: NoticeSent
    file: str | None = None           # in the case folder; None when the print queue no longer has it
    sha256: str | None = None
    cover_file: str | None = None
    content: bytes | None = None
    cover: bytes | None = None


def _attachments(ctx: DossierContext, who: str) -> list[_Attachment]:
    """Every notice's PDF and cover sheet from the print queue, checked against what the ledger recorded."""
    attachments, names = [], set()
    for notice in ctx.notices:
        posted = Path(notice.document) if notice.document else None
        if posted is None or not posted.is_file():
            attachments.append(_Attachment(notice))
            continue
        content = posted.read_bytes()
        sha = sha256_hex(content)
        if notice.reference and _is_sha256(notice.reference) and notice.reference != sha:
            # The dossier must attach the letter that was posted, not a reprint.
            raise ValueError(f"{who}: {posted} has sha256 {sha}, the ledger recorded {notice.reference}")
        stem = f"formal_notice-{notice.sent_on.isoformat()}"
        while f"{stem}.pdf" in names:
            stem += "-bis"
        names.add(f"{stem}.pdf")
        cover_path = ar_cover_path(posted)
        cover = cover_path.read_bytes() if cover_path.is_file() else None
        attachments.append(_Attachment(notice, f"{stem}.pdf", sha, f"{stem}-ar-cover.pdf" if cover else None,
                                       content, cover))
    return attachments


def write_dossier(ctx: DossierContext, folder: Path, templates_dir: Path,
                  collective_procedure: tuple[date, date] | None = None) -> Path:
    """Write ``folder/case-<id>/``: summary.json, summary.html, dossier.pdf, and each formal notice
    posted with the cover sheet of its registered letter (``formal_notice-<date>.pdf``,
    ``formal_notice-<date>-ar-cover.pdf``).

    With `collective_procedure` (BODACC publication, claim deadline), the dossier is the claim
    declaration to the mandataire judiciaire instead of the injonction de payer request.

    Everything is rendered first, then written to a hidden sibling folder that replaces the case
    folder in two renames: a reader sees the old dossier or the new one, never half of each.
    """
    folder = Path(folder)
    who = f"dossier of case {ctx.case_id}"
    require_creditor_mentions(ctx.company, f"the {who}")
    attachments = _attachments(ctx, who)
    procedure = recommended_procedure(ctx)

    variables = {
        "case": ctx,
        "company": ctx.company,
        "debtor": ctx.debtor,
        "statement": ctx.statement,
        "penalties": ctx.statement,
        "procedure": procedure,
        "notices": attachments,
        "currency": ctx.currency,
        "language": "fr",
        "small_claims_limit": SMALL_CLAIMS_LIMIT,
        "bodacc_published_on": collective_procedure[0] if collective_procedure else None,
        "claim_deadline": collective_procedure[1] if collective_procedure else None,
    }
    template = "claim_declaration.html" if collective_procedure else "dossier.html"
    html = render_html(templates_dir, f"fr/documents/{template}", variables, f"case {ctx.case_id}")
    pdf = html_to_pdf(html, who)
    summary = _summary(ctx, procedure, attachments)
    if collective_procedure:
        summary["claim_declaration"] = {"bodacc_published_on": collective_procedure[0].isoformat(),
                                        "deadline": collective_procedure[1].isoformat()}
    summary = json.dumps(summary, ensure_ascii=False, indent=2) + "\n"

    folder.mkdir(parents=True, exist_ok=True)
    final = folder / f"case-{ctx.case_id}"
    staging = folder / f".{final.name}.tmp-{uuid.uuid4().hex}"
    staging.mkdir()
    try:
        (staging / "summary.json").write_text(summary, encoding="utf-8")
        (staging / "summary.html").write_text(html, encoding="utf-8")
        (staging / "dossier.pdf").write_bytes(pdf)
        for attachment in attachments:
            if attachment.content is not None:
                (staging / attachment.file).write_bytes(attachment.content)
            if attachment.cover is not None:
                (staging / attachment.cover_file).write_bytes(attachment.cover)
        _replace_folder(staging, final)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return final


def _replace_folder(staging: Path, final: Path) -> None:
    if not final.exists():
        os.rename(staging, final)
        return
    retired = final.with_name(f".{final.name}.old-{uuid.uuid4().hex}")
    os.rename(final, retired)
    try:
        os.rename(staging, final)
    except OSError:
        os.rename(retired, final)  # put the previous dossier back before reporting the failure
        raise
    shutil.rmtree(retired)


def _summary(ctx: DossierContext, procedure: Procedure, attachments: list[_Attachment]) -> dict[str, Any]:
    statement = ctx.statement
    company = ctx.company
    debtor = ctx.debtor
    return {
        "case_id": ctx.case_id,
        "status": ctx.status,
        "opened_on": ctx.opened_on.isoformat(),
        "currency": ctx.currency,
        "is_consumer": ctx.is_consumer,
        # Set off before the amounts below were computed (Code civil 1347).
        "credits_deducted": [{"invoice_number": c.invoice_number, "reference": c.reference, "kind": c.kind,
                              "on": c.on.isoformat(), "amount": str(c.amount)} for c in ctx.credits],
        "creditor": {
            "legal_name": company.legal_name,
            "siren": company.siren,
            "legal_form": company.legal_form,
            "share_capital": _decimal(company.share_capital) if company.share_capital is not None else None,
            "rcs_city": company.rcs_city,
            "signatory": company.signatory.model_dump(mode="json") if company.signatory else None,
            "address": company.address.model_dump(mode="json"),
            "contact": company.contact.model_dump(mode="json"),
            "iban": company.iban,
            "bic": company.bic,
        },
        "debtor": {
            "id": debtor.id,
            "name": debtor.name,
            "siren": ctx.siren,
            "is_consumer": debtor.is_consumer,
            "email": debtor.email,
            "language": debtor.language,
            "address": {"line": debtor.address_line, "postal_code": debtor.postal_code,
                        "city": debtor.city, "country": debtor.country},
        },
        "amounts": {
            "computed_to": statement.computed_to.isoformat(),
            "basis": Basis(statement.lines[0].basis).value,
            "principal": _decimal(statement.principal),
            "penalties": _decimal(statement.interest),
            "indemnity": _decimal(statement.indemnity),
            "total": _decimal(statement.total),
            # In EUR whatever `currency`, and not in `total`: the D441-5 indemnity of non-EUR invoices.
            "separate_eur_indemnity": _decimal(statement.separate_eur_indemnity),
        },
        "invoices": [
            {
                "number": line.invoice_number,
                "due_date": line.due_date.isoformat(),
                "basis": Basis(line.basis).value,
                "principal": _decimal(line.principal),
                "penalties": _decimal(line.interest),
                "indemnity": _decimal(line.indemnity),
                "separate_eur_indemnity": _decimal(line.separate_eur_indemnity),
                "total": _decimal(line.total),
                "formal_notice": _notice_dates(ctx.notice_of(line.invoice_number)),
                "periods": [
                    {"start": period.start.isoformat(), "end": period.end.isoformat(), "days": period.days,
                     "principal": _decimal(period.principal), "rate": _decimal(period.rate),
                     "interest": _decimal(period.interest)}
                    for period in line.periods
                ],
            }
            for line in statement.lines
        ],
        "chronology": [
            {"as_of": entry.as_of.isoformat(), "step": entry.step, "channel": entry.channel,
             "reference": entry.reference, "invoices": list(entry.invoice_numbers)}
            for entry in ctx.chronology
        ],
        "formal_notices": [
            {**_notice_dates(a.notice), "invoices": list(a.notice.invoice_numbers),
             "sha256": a.sha256 or a.notice.reference, "file": a.file, "ar_cover_file": a.cover_file}
            for a in attachments
        ],
        "procedure": {
            "name": procedure.name,
            "court": procedure.court,
            "cerfa": procedure.cerfa,
            "venue": {"city": procedure.venue_city, "postal_code": procedure.venue_postal_code,
                      "country": procedure.venue_country},
            "small_claims_alternative": procedure.small_claims_alternative,
            "european_order_for_payment": procedure.european_order_for_payment,
            "pieces": [
                {"kind": piece.kind, "reference": piece.reference, "on": _iso(piece.on), "step": piece.step,
                 "invoices": list(piece.invoice_numbers)}
                for piece in procedure.pieces
            ],
        },
        "prescription_date": ctx.prescription_date.isoformat(),
    }


def _notice_dates(notice: NoticeSent | None) -> dict[str, str] | None:
    if notice is None:
        return None
    return {"sent_on": notice.sent_on.isoformat(), "response_deadline": notice.response_deadline.isoformat()}


def _decimal(value: Decimal) -> str:
    # 'f' never switches to exponent notation ('0E-10'), which a spreadsheet would misread.
    return format(value, "f")


def _iso(value: date | None) -> str | None:
    return value.isoformat() if value is not None else None


def _is_sha256(reference: str) -> bool:
    return len(reference) == 64 and all(ch in "0123456789abcdef" for ch in reference)
