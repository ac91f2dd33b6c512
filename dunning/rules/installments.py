"""Reminders for the installments of payment plans: a courtesy note before each one falls due, and
one when it is due and unpaid, within its grace period (beyond it the plan breaks)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from enum import Enum

from dunning.rules.arrangements import Installment, PaymentPlan, PlanReview
from dunning.rules.calendar import BusinessCalendar

__all__ = ["InstallmentStep", "InstallmentReminder", "installment_key", "installment_reminders"]


class InstallmentStep(str, Enum):
    installment_pre_due = "installment_pre_due"
    installment_overdue = "installment_overdue"


def installment_key(plan_id: int, seq: int) -> str:
    """What stands for the installment in the ledger (and its payment reference)."""
    return f"PLAN-{plan_id}-{seq}"


@dataclass(frozen=True)
class InstallmentReminder:
    plan: PaymentPlan
    installment: Installment
    step: InstallmentStep

    @property
    def key(self) -> str:
        return installment_key(self.plan.id, self.installment.seq)

    @property
    def reason(self) -> str:
        what = f"installment {self.installment.seq}/{len(self.plan.installments)} of payment plan {self.plan.id}"
        if self.step is InstallmentStep.installment_pre_due:
            return f"{what} ({self.installment.amount}) falls due on {self.installment.due_date}"
        return (f"{what} ({self.installment.amount}) was due on {self.installment.due_date} and is unpaid; "
                f"the plan ends after {self.plan.grace_days} days of grace")


def installment_reminders(plan: PaymentPlan, review: PlanReview, as_of: date, pre_due_days: int,
                          calendar: BusinessCalendar, done: set[tuple[str, str]]) -> list[InstallmentReminder]:
    """The reminders due today for one active plan; `done` holds (key, step) already sent."""
    reminders = []
    upcoming = review.next_installment
    if upcoming is not None and as_of < upcoming.due_date:
        if as_of >= calendar.next_business_day(upcoming.due_date - timedelta(days=pre_due_days)):
            reminders.append(InstallmentReminder(plan, upcoming, InstallmentStep.installment_pre_due))
    if review.overdue is not None:
        reminders.append(InstallmentReminder(plan, review.overdue, InstallmentStep.installment_overdue))
    return [r for r in reminders if (r.key, r.step.value) not in done]
