"""The pure rules of what was agreed: promises kept or broken, payment plans honoured or broken."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from dunning.rules.arrangements import (
    Installment, PaymentPlan, PlanStatus, Promise, PromiseStatus, claim_declaration_deadline,
    promise_outcome, review_plan,
)

PROMISE = Promise(1, "D1", frozenset({"I1"}), Decimal("500.00"), promised_on=date(2026, 3, 20), grace_days=3)


@pytest.mark.parametrize(("paid", "as_of", "status"), [
    ("0.00", date(2026, 3, 20), PromiseStatus.open),       # the promised day itself
    ("0.00", date(2026, 3, 23), PromiseStatus.open),       # last day of grace
    ("499.99", date(2026, 3, 24), PromiseStatus.broken),   # a cent short, grace over
    ("500.00", date(2026, 3, 19), PromiseStatus.kept),     # paid early
    ("500.00", date(2026, 3, 24), PromiseStatus.kept),
])
def test_a_promise_is_kept_by_payments_or_broken_after_grace(paid, as_of, status):
    assert promise_outcome(PROMISE, Decimal(paid), as_of) is status


PLAN = PaymentPlan(7, "D1", "EUR", frozenset({"I1", "I2"}), (
    Installment(1, date(2026, 4, 30), Decimal("600.00")),
    Installment(2, date(2026, 5, 29), Decimal("600.00")),
    Installment(3, date(2026, 6, 30), Decimal("300.00")),
), grace_days=5)


def test_an_honoured_plan_stays_active_and_names_the_next_installment():
    review = review_plan(PLAN, Decimal("600.00"), date(2026, 5, 10))
    assert review.status is PlanStatus.active and review.next_installment.seq == 2 and review.overdue is None


def test_a_late_installment_within_grace_is_overdue_not_broken():
    review = review_plan(PLAN, Decimal("600.00"), date(2026, 6, 3))   # second due 29 May, grace to 3 June
    assert review.status is PlanStatus.active and review.overdue.seq == 2


def test_an_installment_missed_beyond_grace_breaks_the_plan():
    review = review_plan(PLAN, Decimal("1000.00"), date(2026, 6, 4))
    assert review.status is PlanStatus.broken and review.missed.seq == 2


def test_a_plan_paid_in_full_is_completed():
    assert review_plan(PLAN, Decimal("1500.00"), date(2026, 5, 1)).status is PlanStatus.completed


@pytest.mark.parametrize(("published", "deadline"), [
    (date(2026, 3, 15), date(2026, 5, 15)),
    (date(2026, 12, 31), date(2027, 2, 28)),
    (date(2027, 12, 31), date(2028, 2, 29)),    # leap year
])
def test_the_claim_must_be_declared_within_two_months_of_the_bodacc(published, deadline):
    assert claim_declaration_deadline(published) == deadline
