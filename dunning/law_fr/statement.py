"""What a late invoice costs the debtor under French law, as a statement a letter can print.

The figures are computed by dunning.law_fr.penalties; these types are what the rest of the product
(messages, the mise en demeure, the legal dossier, the legal queue) reads.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from enum import Enum

__all__ = ["Basis", "RatePeriod", "InvoicePenalty", "PenaltyStatement", "check_basis"]


class Basis(str, Enum):
    """Why interest runs, which decides the wording of every document."""

    commercial = "commercial"      # Code de commerce L441-10 II: ECB rate + 10 points, from the day after due
    contractual = "contractual"    # the customer's contract rate, replacing the commercial default
    consumer = "consumer"          # Code civil 1344-1: taux d'intérêt légal, from the formal notice only


@dataclass(frozen=True)
class RatePeriod:
    """Consecutive days of one half-year, all at the same annual rate on the same balance.

    A partial payment after the due date cuts a period: the days before it bear interest on a
    larger balance than the days after it.
    """

    start: date            # first day counted (inclusive)
    end: date              # last day counted (inclusive)
    days: int
    principal: Decimal     # the balance interest runs on: the open amount plus payments not yet received
    rate: Decimal          # annual rate in percent, e.g. Decimal("12.15")
    interest: Decimal      # not rounded: rounding happens once, on the invoice total


@dataclass(frozen=True)
class InvoicePenalty:
    invoice_number: str
    principal: Decimal             # the amount open on the date the penalties are computed to
    due_date: date
    basis: Basis
    periods: tuple[RatePeriod, ...]
    interest: Decimal              # sum of the periods, rounded to the cent (actual/365)
    indemnity: Decimal             # 40.00 between professionals (D441-5), 0.00 for a consumer, in the invoice currency
    # D441-5 fixes the indemnity in euros, whatever the invoice currency. On an invoice in another
    # currency `indemnity` is 0.00 (no conversion: whose rate, which day?) and the 40.00 EUR owed
    # is carried here, outside `total`, for the documents to print as a line of its own in euros.
    separate_eur_indemnity: Decimal = Decimal("0.00")
    # Why the debtor's contractual rate was set aside for the commercial one (below the legal floor).
    rate_note: str = ""

    @property
    def total(self) -> Decimal:
        """Principal, interest and indemnity in the invoice currency (never the separate euro indemnity)."""
        return self.principal + self.interest + self.indemnity


@dataclass(frozen=True)
class PenaltyStatement:
    """Penalties for a set of invoices of one debtor, computed to one date."""

    computed_to: date
    currency: str
    lines: tuple[InvoicePenalty, ...]

    @property
    def principal(self) -> Decimal:
        return sum((line.principal for line in self.lines), Decimal("0.00"))

    @property
    def interest(self) -> Decimal:
        return sum((line.interest for line in self.lines), Decimal("0.00"))

    @property
    def indemnity(self) -> Decimal:
        return sum((line.indemnity for line in self.lines), Decimal("0.00"))

    @property
    def total(self) -> Decimal:
        return self.principal + self.interest + self.indemnity

    @property
    def separate_eur_indemnity(self) -> Decimal:
        """The D441-5 indemnities, in EUR, of the overdue invoices not in euros (40.00 each, B2B only).

        Not part of `indemnity` nor `total`, which are in the statement currency: a document shows
        it as a line of its own in euros. Always 0.00 for a statement in EUR.
        """
        return sum((line.separate_eur_indemnity for line in self.lines), Decimal("0.00"))


def check_basis(statement: PenaltyStatement, is_consumer: bool, who: str) -> None:
    """Refuse a statement whose basis does not fit the debtor."""
    # A consumer owes neither commercial penalties nor the 40 EUR indemnity; a business never owes
    # consumer-rate interest instead of them. Printing either would be wrong in law.
    for line in statement.lines:
        basis = Basis(line.basis)
        if is_consumer and (basis is not Basis.consumer or line.indemnity != 0):
            raise ValueError(
                f"{who}: invoice {line.invoice_number}: a consumer owes interest at the legal rate only "
                f"(got basis {basis.value}, indemnity {line.indemnity})"
            )
        if not is_consumer and basis is Basis.consumer:
            raise ValueError(f"{who}: invoice {line.invoice_number}: consumer-rate interest for a business debtor")
