"""The figures of a mise en demeure, worked out once: what its registered letter and its email copy state.

The PDF (dunning.documents.letters) and the email copy (templates/<language>/formal_notice.*) both read the
FormalNoticeFigures of one MessageContext, so the copy cannot ask for another amount, another
deadline or another court than the letter posted to the debtor (DESIGN.md rule 14).

Pure: no IO, no template. Nothing here imports dunning.documents.rendering, which builds these figures.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import TYPE_CHECKING

from dunning.law_fr.statement import InvoicePenalty

if TYPE_CHECKING:
    from dunning.rules.messages import Debtor, MessageContext

__all__ = ["TRIBUNAL_DE_COMMERCE", "TRIBUNAL_JUDICIAIRE", "FormalNoticeFigures", "debtor_country", "is_abroad",
           "court_for"]

TRIBUNAL_DE_COMMERCE = "tribunal de commerce"
TRIBUNAL_JUDICIAIRE = "tribunal judiciaire"
# France, and the overseas departments, which carry ISO codes of their own in an address.
_DOMESTIC = frozenset({"FR", "GP", "MQ", "GF", "RE", "YT"})
_ZERO = Decimal("0.00")


def debtor_country(debtor: Debtor) -> str | None:
    """The debtor's ISO country code, upper case; None when the accounting data has none (France)."""
    return (debtor.country or "").strip().upper() or None


def is_abroad(debtor: Debtor) -> bool:
    country = debtor_country(debtor)
    return country is not None and country not in _DOMESTIC


def court_for(debtor: Debtor) -> str | None:
    """The court an injonction de payer against this debtor goes to; None for a debtor abroad."""
    # Between merchants the tribunal de commerce; against a consumer (a civil claim) the tribunal
    # judiciaire. A professional who is not a merchant (liberal profession, association, SCI) also
    # goes to the tribunal judiciaire: the dossier says so, since the accounting data cannot tell.
    # A debtor abroad: None, the competent court is for the lawyer to determine.
    if is_abroad(debtor):
        return None
    return TRIBUNAL_JUDICIAIRE if debtor.is_consumer else TRIBUNAL_DE_COMMERCE


@dataclass(frozen=True)
class FormalNoticeFigures:
    """What one mise en demeure claims, to `computed_to`, and what happens if it is not paid."""

    principal: Decimal                 # the open amount of the invoices
    interest: Decimal
    indemnity: Decimal                 # in the message currency, included in total
    separate_eur_indemnity: Decimal    # D441-5 on invoices in another currency: in euros, never in total
    total: Decimal                     # the sum the debtor is given notice to pay
    computed_to: date
    response_deadline: date
    court: str | None                  # None for a debtor abroad
    # The court is named by the district that covers the debtor's domicile, never "of <town>": a
    # town's court may not be the one whose district (ressort) covers it, and no table of courts ships.
    venue_city: str | None
    venue_postal_code: str | None
    is_consumer: bool
    penalty_lines: tuple[InvoicePenalty, ...]   # one per invoice, in the order of the invoices

    @property
    def states_penalties(self) -> bool:
        """Whether anything is owed beyond the principal (a consumer on the day of the notice: nothing)."""
        return bool(self.interest or self.indemnity or self.separate_eur_indemnity)

    @classmethod
    def of(cls, context: MessageContext) -> FormalNoticeFigures:
        if context.response_deadline is None:
            raise ValueError(f"formal notice to debtor {context.debtor.id} needs a response_deadline")
        statement = context.penalties
        order = {invoice.number: index for index, invoice in enumerate(context.invoices)}
        lines = () if statement is None else tuple(
            sorted(statement.lines, key=lambda line: order.get(line.invoice_number, len(order))))
        return cls(
            principal=context.total_due,
            interest=statement.interest if statement is not None else _ZERO,
            indemnity=statement.indemnity if statement is not None else _ZERO,
            separate_eur_indemnity=statement.separate_eur_indemnity if statement is not None else _ZERO,
            total=context.total_with_penalties,
            computed_to=statement.computed_to if statement is not None else context.as_of,
            response_deadline=context.response_deadline,
            court=court_for(context.debtor),
            venue_city=context.debtor.city,
            venue_postal_code=context.debtor.postal_code,
            is_consumer=context.debtor.is_consumer,
            penalty_lines=lines,
        )
