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
from typing import Iterable, Mapping, Sequence

from dunning.rules.money import ZERO

__all__ = ["Credit", "Offset", "Compensation", "compensate", "debtor_compensation"]


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

    invoice_number: str
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

    def of(self, numbers: Iterable[str]) -> tuple[Offset, ...]:
        """The offsets set against these invoices, in the order they took effect."""
        return tuple(sorted((o for n in numbers for o in self.offsets.get(n, ())), key=lambda o: (o.on, o.reference)))

    def claim(self, rows: Sequence[Mapping], payments: Mapping[str, Sequence[tuple[date, Decimal]]]
              ) -> tuple[list[tuple[str, Decimal, date]], dict[str, list[tuple[date, Decimal]]]]:
        """What penalty_statement takes for these invoice rows: (number, net principal, due date), and
        their late payments with the offsets added (a set-off reduces the balance like a payment)."""
        claimed = [(r["number"], self.net(r["number"], r["residual"]), r["due_date"]) for r in rows]
        merged = {r["number"]: sorted([*payments.get(r["number"], ()), *self.as_payments().get(r["number"], ())])
                  for r in rows}
        return claimed, {number: found for number, found in merged.items() if found}


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
                Offset(number, credit.reference, credit.kind, max(credit.posted_on, due_date), amount))
        if remaining > ZERO:
            left.append(Credit(credit.reference, credit.posted_on, remaining, credit.kind))
    return Compensation({number: tuple(o) for number, o in offsets.items()}, tuple(left))


def debtor_compensation(invoices: Iterable[Mapping], credits: Sequence[Mapping], debtor_id: str, currency: str,
                        as_of: date) -> Compensation:
    """compensate() over one debtor's open invoices and unapplied credits in one currency, from the
    rows the product reads (invoices: number, due_date, residual; credits: reference, posted_on,
    amount, source)."""
    if not credits:
        return Compensation({}, ())
    mine = [(r["number"], r["due_date"], r["residual"]) for r in invoices
            if r["debtor_id"] == debtor_id and r["currency"] == currency and r.get("status", "posted") == "posted"]
    held = [Credit(str(c["reference"]), c["posted_on"], c["amount"], c["source"]) for c in credits
            if c["debtor_id"] == debtor_id and c["currency"] == currency and c["amount"] > ZERO]
    return compensate(mine, held, as_of)
