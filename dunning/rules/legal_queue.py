"""Which invoices go to the legal queue, grouped into one case per debtor and currency."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from enum import Enum
from typing import Sequence

import pandas as pd

from dunning.rules.frames import records
from dunning.rules.planner import Decision, Outcome

__all__ = ["CaseStatus", "Resolution", "CaseMove", "CASE_MOVES", "OPEN_STATUSES", "SUSPENDABLE", "CaseRequest",
           "cases_to_open"]


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


def cases_to_open(plan: Sequence[Decision], invoices: pd.DataFrame) -> list[CaseRequest]:
    rows = {row["invoice_id"]: row for row in records(invoices)}
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
