"""Compensation: a debtor's unapplied credit is deducted from what it owes before anything is claimed.

Code civil 1347: two reciprocal debts, fungible, certain, liquid and due, are extinguished up to the
smaller one, on the day both conditions are met (1347 al. 2). A credit note or a payment received
without an invoice is owed back to the debtor from its posting date; an invoice is due from its
due date: the credit extinguishes the invoice on the later of the two, and from that day interest
runs on the balance net of it. Several invoices (1347-4 refers to the rules on imputation, 1342-10):
the due ones first, the oldest due date first (the one bearing interest the longest), then by number.
Several credits: the earliest first.

Pure: the callers read the credits and the invoices, and print what this decides.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Sequence

from .money import ZERO

__all__ = ["Credit", "Offset", "Compensation", "compensate"]


@dataclass(frozen=True)
class Credit:
    """What the debtor holds against us: a credit note or a payment received without an invoice."""

    reference: str           # the credit note's number, or the payment's id
    posted_on: date
    amount: Decimal          # positive, in the currency of the invoices it is set against
    kind: str = "credit_note"   # credit_note | payment


@dataclass(frozen=True)
class Offset:
    """Part of one credit set against one invoice, on the day the compensation took effect."""

    reference: str
    kind: str
    on: date
    amount: Decimal


@dataclass(frozen=True)
class Compensation:
    """The offsets per invoice number, and what is left of each credit afterwards."""

    offsets: dict[str, tuple[Offset, ...]]
    left: tuple[Credit, ...]

    def net(self, number: str, residual: Decimal) -> Decimal:
        """What the invoice still owes once its offsets are deducted."""
        return residual - sum((o.amount for o in self.offsets.get(number, ())), ZERO)

    def as_payments(self) -> dict[str, list[tuple[date, Decimal]]]:
        """The offsets as the penalty computation reads payments: each reduces the balance from its day."""
        return {number: [(o.on, o.amount) for o in offsets] for number, offsets in self.offsets.items()}


def compensate(invoices: Sequence[tuple[str, date, Decimal]], credits: Sequence[Credit], as_of: date) -> Compensation:
    """Set `credits` against the invoices (number, due date, residual) due by `as_of`, in the order of
    Code civil 1342-10; invoices not yet due are left as they are (their debt is not yet due)."""
    if any(c.amount <= ZERO for c in credits):
        raise ValueError("a credit to set off must be a positive amount")
    due = sorted((i for i in invoices if i[1] <= as_of and i[2] > ZERO), key=lambda i: (i[1], i[0]))
    owed = {number: residual for number, _, residual in due}
    offsets: dict[str, list[Offset]] = {}
    left = []
    for credit in sorted(credits, key=lambda c: (c.posted_on, c.reference)):
        remaining = credit.amount
        for number, due_date, _ in due:
            if remaining <= ZERO:
                break
            amount = min(remaining, owed[number])
            if amount <= ZERO:
                continue
            owed[number] -= amount
            remaining -= amount
            offsets.setdefault(number, []).append(
                Offset(credit.reference, credit.kind, max(credit.posted_on, due_date), amount))
        if remaining > ZERO:
            left.append(Credit(credit.reference, credit.posted_on, remaining, credit.kind))
    return Compensation({number: tuple(o) for number, o in offsets.items()}, tuple(left))
