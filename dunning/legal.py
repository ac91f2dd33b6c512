"""Which invoices go to the legal queue, grouped into one case per debtor and currency."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Sequence

import pandas as pd

from .planner import Decision, Outcome

__all__ = ["CaseRequest", "cases_to_open", "recommended_procedure"]


@dataclass(frozen=True)
class CaseRequest:
    """The legal_handoff decisions of one debtor in one currency: what its case receives."""

    debtor_id: str
    debtor_name: str
    currency: str
    decisions: tuple[Decision, ...]
    procedure: str

    @property
    def principal(self) -> Decimal:
        return sum((d.residual for d in self.decisions), Decimal("0.00"))


def recommended_procedure(is_consumer: bool) -> str:
    """Injonction de payer (order for payment): the court depends on who the debtor is."""
    if is_consumer:
        return "injonction de payer - tribunal judiciaire of the debtor's domicile"
    return "injonction de payer - tribunal de commerce of the debtor's registered office"


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
            procedure=recommended_procedure(bool(first["is_consumer"])),
        ))
    return requests
