"""What a late invoice costs the debtor under French law, as a statement a letter can print.

The figures are computed by dunning.legal_fr; these types are what the rest of the product
(messages, the mise en demeure, the legal dossier, the legal queue) reads.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from enum import Enum

__all__ = ["Basis", "RatePeriod", "InvoicePenalty", "PenaltyStatement"]


class Basis(str, Enum):
    """Why interest runs, which decides the wording of every document."""

    commercial = "commercial"      # Code de commerce L441-10 II: ECB rate + 10 points, from the day after due
    contractual = "contractual"    # the customer's contract rate, replacing the commercial default
    consumer = "consumer"          # Code civil 1344-1: taux d'intérêt légal, from the formal notice only


@dataclass(frozen=True)
class RatePeriod:
    """Consecutive days of one half-year, all at the same annual rate."""

    start: date            # first day counted (inclusive)
    end: date              # last day counted (inclusive)
    days: int
    rate: Decimal          # annual rate in percent, e.g. Decimal("12.15")
    interest: Decimal      # not rounded: rounding happens once, on the invoice total


@dataclass(frozen=True)
class InvoicePenalty:
    invoice_number: str
    principal: Decimal             # the open amount interest runs on
    due_date: date
    basis: Basis
    periods: tuple[RatePeriod, ...]
    interest: Decimal              # sum of the periods, rounded to the cent (actual/365)
    indemnity: Decimal             # 40.00 between professionals (D441-5), 0.00 for a consumer

    @property
    def total(self) -> Decimal:
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
