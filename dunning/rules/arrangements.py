"""What the debtor and the operator agreed: disputes, promises to pay, payment plans, holds.

Pure types and rules; the state store keeps them and the planner respects them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from enum import Enum

__all__ = [
    "DisputeReason", "DisputeOutcome", "Dispute",
    "PromiseStatus", "Promise", "promise_outcome",
    "PlanStatus", "Installment", "PaymentPlan", "PlanReview", "review_plan",
    "HoldKind", "CLAIM_DECLARATION_MONTHS", "claim_declaration_deadline",
    "Arrangements", "ESCALATION",
]


class DisputeReason(str, Enum):
    pricing = "pricing"
    delivery = "delivery"
    quality = "quality"
    not_received = "not_received"
    duplicate = "duplicate"
    other = "other"
    accounting_flag = "accounting_flag"     # opened by a run: invoices.disputed set in the accounting system


class DisputeOutcome(str, Enum):
    credit_note_issued = "credit_note_issued"
    claim_rejected = "claim_rejected"
    other = "other"
    flag_cleared = "flag_cleared"           # closed by a run: the accounting system cleared invoices.disputed


@dataclass(frozen=True)
class Dispute:
    id: int
    invoice_id: str
    reason: DisputeReason
    opened_on: date
    note: str = ""


class PromiseStatus(str, Enum):
    open = "open"
    kept = "kept"
    broken = "broken"


@dataclass(frozen=True)
class Promise:
    """The debtor said: `amount` on `promised_on` for these invoices."""

    id: int
    debtor_id: str
    invoice_ids: frozenset[str]
    amount: Decimal
    promised_on: date
    grace_days: int = 3
    made_on: date | None = None

    @property
    def pause_until(self) -> date:
        """Reminders on the promised invoices wait until then."""
        return self.promised_on + timedelta(days=self.grace_days)


def promise_outcome(promise: Promise, paid_since_promise: Decimal, as_of: date) -> PromiseStatus:
    """Kept as soon as payments cover the amount; broken once the grace period is over without them."""
    if paid_since_promise >= promise.amount:
        return PromiseStatus.kept
    if as_of > promise.pause_until:
        return PromiseStatus.broken
    return PromiseStatus.open


class PlanStatus(str, Enum):
    active = "active"
    completed = "completed"
    broken = "broken"
    cancelled = "cancelled"


@dataclass(frozen=True)
class Installment:
    seq: int
    due_date: date
    amount: Decimal


@dataclass(frozen=True)
class PaymentPlan:
    """An échéancier: the chosen invoices are paid by installments instead of being chased."""

    id: int
    debtor_id: str
    currency: str
    invoice_ids: frozenset[str]
    installments: tuple[Installment, ...]
    grace_days: int = 3
    created_on: date | None = None

    @property
    def total(self) -> Decimal:
        return sum((i.amount for i in self.installments), Decimal("0.00"))


@dataclass(frozen=True)
class PlanReview:
    status: PlanStatus
    paid: Decimal                           # paid towards the plan since it started
    due_so_far: Decimal                     # installments whose due date has passed
    next_installment: Installment | None    # the first one not covered by payments
    missed: Installment | None = None       # the installment whose grace ran out (plan broken)
    overdue: Installment | None = None      # due, not covered, still within grace


def review_plan(plan: PaymentPlan, paid_since_start: Decimal, as_of: date) -> PlanReview:
    """Payments count towards installments in order; one uncovered beyond its grace breaks the plan."""
    cumulative = Decimal("0.00")
    due_so_far = Decimal("0.00")
    next_installment = overdue = None
    for installment in plan.installments:
        cumulative += installment.amount
        if installment.due_date <= as_of:
            due_so_far += installment.amount
        if paid_since_start >= cumulative:
            continue
        if next_installment is None:
            next_installment = installment
        if installment.due_date < as_of:
            if as_of > installment.due_date + timedelta(days=plan.grace_days):
                return PlanReview(PlanStatus.broken, paid_since_start, due_so_far, next_installment, missed=installment)
            overdue = overdue or installment
    if next_installment is None:
        return PlanReview(PlanStatus.completed, paid_since_start, due_so_far, None)
    return PlanReview(PlanStatus.active, paid_since_start, due_so_far, next_installment, overdue=overdue)


class HoldKind(str, Enum):
    manual = "manual"
    collective_procedure = "collective_procedure"   # procédure collective: claims go to the mandataire


CLAIM_DECLARATION_MONTHS = 2   # Code de commerce L622-24 and R622-24: from the BODACC publication


def claim_declaration_deadline(bodacc_published_on: date) -> date:
    """Two months from the publication of the opening judgment in the BODACC."""
    month = bodacc_published_on.month - 1 + CLAIM_DECLARATION_MONTHS
    year, month = bodacc_published_on.year + month // 12, month % 12 + 1
    day = bodacc_published_on.day
    while True:
        try:
            return date(year, month, day)
        except ValueError:       # 31 December + 2 months: end of February
            day -= 1


# "One segment up the ladder" after a broken promise: the next, stricter ladder.
ESCALATION = {"reliable": "standard", "standard": "chronic", "chronic": "high_risk", "high_risk": "high_risk",
              "strategic": "strategic"}


@dataclass(frozen=True)
class Arrangements:
    """Everything agreed that the planner must respect on one as-of date."""

    disputes: dict[str, Dispute] = field(default_factory=dict)              # open, by invoice id
    promises: tuple[Promise, ...] = ()                                      # open
    plans: tuple[PaymentPlan, ...] = ()                                     # active
    broken_promises: dict[str, date] = field(default_factory=dict)          # debtor id -> promised date
