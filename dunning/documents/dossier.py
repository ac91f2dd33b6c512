"""The legal dossier of a case in the legal queue: what it claims, the evidence in order, the procedure
recommended (dunning.law_fr.procedure) and the pieces to attach, written as summary.json, summary.html and
dossier.pdf with every formal notice posted.

The dossier is in French only: it is read by a French lawyer and filed with a French court, whatever
the debtor's language. Its template is laid out by dunning.documents.pdf, so summary.html and
dossier.pdf come from one template and cannot disagree.
"""

from __future__ import annotations

import json
import os
import shutil
import uuid
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from types import MappingProxyType
from typing import Any, Mapping, Sequence

from dunning.config import CompanyIdentity, Step
from dunning.documents.letters import ar_cover_path, sha256_hex
from dunning.documents.pdf import html_to_pdf, render_html
from dunning.law_fr.mentions import require_creditor_mentions
from dunning.law_fr.penalties import LegalTables, penalty_statement, prescription_date
from dunning.law_fr.procedure import (
    SMALL_CLAIMS_LIMIT, ChronologyEntry, DossierContext, NoticeSent, Procedure, recommended_procedure,
)
from dunning.law_fr.statement import Basis
from dunning.rules.compensation import debtor_compensation
from dunning.rules.messages import Debtor

__all__ = ["DOSSIER_FILES", "dossier_context", "write_dossier"]

DOSSIER_FILES = ("summary.json", "summary.html", "dossier.pdf")


def dossier_context(case: dict, invoices: dict[str, dict], *, legal: LegalTables, company: CompanyIdentity,
                    contract_rate: Decimal | None, response_days: int, as_of: date,
                    payments: Mapping[str, Sequence[tuple[date, Decimal]]] = MappingProxyType({}),
                    credits: Sequence[Mapping] = ()) -> DossierContext:
    """What the dossier of a case says as of `as_of`: amounts computed to that day, net of the debtor's
    credits set against its due invoices (Code civil 1347), the evidence in order."""
    lines = [invoices[i["invoice_id"]] for i in case["invoices"] if i["invoice_id"] in invoices]
    first = lines[0]
    offsets = debtor_compensation(invoices.values(), credits, case["debtor_id"], case["currency"], as_of)
    claimed, payments = offsets.claim(lines, payments)
    notices = _notices(case["evidence"], response_days)
    # Moratory interest (Code civil 1344-1) runs on each invoice from its own formal notice, not
    # from the case's first one: an invoice put on notice later owes nothing before its notice.
    notice_of: dict[str, date] = {}
    for notice in notices:
        for number in notice.invoice_numbers:
            notice_of.setdefault(number, notice.sent_on)
    statement = penalty_statement(
        legal, claimed, to_date=as_of,
        currency=case["currency"], is_consumer=first["is_consumer"], contractual_rate=contract_rate,
        formal_notices={r["number"]: notice_of[r["number"]] for r in lines if r["number"] in notice_of},
        debtor_id=case["debtor_id"],
        payments=payments)
    return DossierContext(
        case_id=case["id"], status=case["status"], opened_on=case["opened_on"], company=company,
        debtor=Debtor(id=first["debtor_id"], name=first["debtor_name"], email=first["email"],
                      language=first["language"], is_consumer=first["is_consumer"],
                      address_line=first["address_line"], postal_code=first["postal_code"], city=first["city"],
                      country=first["country"]),
        siren=first["siren"], currency=case["currency"], statement=statement,
        credits=offsets.of(r["number"] for r in lines),
        chronology=_chronology(case["evidence"]),
        notices=notices,
        prescription_date=min(prescription_date(r["due_date"], r["is_consumer"], legal) for r in lines),
        is_consumer=first["is_consumer"],
    )


def _reference(entry: Mapping) -> str:
    return entry.get("document_sha256") or entry.get("provider_message_id") or "-"


def _grouped(evidence: Sequence[Mapping]) -> dict[tuple[date, str, str, str], list[Mapping]]:
    """The case's evidence rows (one per invoice and action) gathered per message sent."""
    messages: dict[tuple[date, str, str, str], list[Mapping]] = {}
    for entry in evidence:
        key = (date.fromisoformat(str(entry["as_of"])), entry["step"], entry["channel"], _reference(entry))
        messages.setdefault(key, []).append(entry)
    return messages


def _numbers(entries: Sequence[Mapping]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(e["invoice_number"] for e in entries if e.get("invoice_number")))


def _chronology(evidence: Sequence[Mapping]) -> tuple[ChronologyEntry, ...]:
    return tuple(ChronologyEntry(as_of=on, step=step, channel=channel, reference=reference,
                                 invoice_numbers=_numbers(entries))
                 for (on, step, channel, reference), entries in _grouped(evidence).items())


def _notices(evidence: Sequence[Mapping], response_days: int) -> tuple[NoticeSent, ...]:
    """Every formal notice of the case's invoices, with the PDF the print queue holds for it.

    The deadline is the letter's date plus today's policy.formal_notice.response_days: the ledger
    keeps the letter, not the setting it was printed with (the PDF states the deadline it gave).
    """
    notices = []
    for (on, step, _, reference), entries in _grouped(evidence).items():
        if step != Step.formal_notice.value:
            continue
        pdf = next((e["document"] for e in entries if str(e.get("document") or "").endswith(".pdf")), None)
        notices.append(NoticeSent(sent_on=on, response_deadline=on + timedelta(days=response_days),
                                  invoice_numbers=_numbers(entries),
                                  reference=reference if reference != "-" else None, document=pdf))
    return tuple(sorted(notices, key=lambda notice: notice.sent_on))


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
