"""Which invoices go to the legal queue, grouped into one case per debtor and currency."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from enum import Enum
from types import MappingProxyType
from typing import Mapping, Sequence

import pandas as pd

from .compensation import debtor_compensation
from .config import CompanyIdentity, Step
from .dossier import ChronologyEntry, DossierContext, NoticeSent, Procedure
from .legal_fr import LegalTables, penalty_statement, prescription_date
from .planner import Decision, Outcome
from .rendering import Debtor

__all__ = ["CaseStatus", "Resolution", "CaseMove", "CASE_MOVES", "OPEN_STATUSES", "SUSPENDABLE", "CaseRequest",
           "cases_to_open",
           "dossier_context", "procedure_text"]


class CaseStatus(str, Enum):
    queued = "queued"                # handed to the legal queue by a run
    acknowledged = "acknowledged"    # someone (a lawyer, the credit manager) took it
    filed = "filed"                  # the injonction de payer request was filed
    suspended = "suspended"          # a collective procedure: the claim is declared, no injonction de payer
    resolved = "resolved"            # closed, with a Resolution


class Resolution(str, Enum):
    paid = "paid"
    settled = "settled"
    written_off = "written_off"
    abandoned = "abandoned"


OPEN_STATUSES = (CaseStatus.queued, CaseStatus.acknowledged, CaseStatus.filed, CaseStatus.suspended)
# The opening judgment of a collective procedure stops every individual action to be paid (C. com.
# L622-21, L631-14, L641-3): a debtor's open cases are suspended while its collective procedure hold
# lasts, their dossier becomes a claim declaration (L622-24), and they resume, queued, on release.
SUSPENDABLE = (CaseStatus.queued, CaseStatus.acknowledged, CaseStatus.filed)


@dataclass(frozen=True)
class CaseMove:
    allowed_from: tuple[CaseStatus, ...]
    to: CaseStatus


# The only ways a case changes status; every move is recorded with who and why.
CASE_MOVES = {
    "ack": CaseMove((CaseStatus.queued,), CaseStatus.acknowledged),
    "file": CaseMove((CaseStatus.queued, CaseStatus.acknowledged), CaseStatus.filed),
    "resolve": CaseMove(OPEN_STATUSES, CaseStatus.resolved),
}


@dataclass(frozen=True)
class CaseRequest:
    """The legal_handoff decisions of one debtor in one currency: what its case receives."""

    debtor_id: str
    debtor_name: str
    currency: str
    decisions: tuple[Decision, ...]
    is_consumer: bool

    @property
    def principal(self) -> Decimal:
        return sum((d.residual for d in self.decisions), Decimal("0.00"))


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


def cases_to_open(plan: Sequence[Decision], invoices: pd.DataFrame) -> list[CaseRequest]:
    rows = {row["invoice_id"]: row for row in invoices.to_dict("records")}
    grouped: dict[tuple[str, str], list[Decision]] = {}
    for decision in plan:
        if decision.outcome is Outcome.legal_handoff:
            grouped.setdefault((decision.debtor_id, decision.currency), []).append(decision)
    requests = []
    for (debtor_id, currency), members in sorted(grouped.items()):
        first = rows[members[0].invoice_id]
        requests.append(CaseRequest(
            debtor_id=debtor_id, debtor_name=first["debtor_name"], currency=currency,
            decisions=tuple(members),
            is_consumer=bool(first["is_consumer"]),
        ))
    return requests
