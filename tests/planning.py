"""Planning one scenario with the shipped policy, and reading the plan (tests of dunning.rules.planner and dunning.rules.ladder).

Dates are spelled out: each scenario's comment gives the step dates of its ladder (config/policy.yaml)
after rule 1 moved them to a business day, so a reader can check the expectation by hand.
"""

from __future__ import annotations

from collections import Counter
from datetime import date

from builders import everyone_in, invoice, no_credits, sent, shipped_policy
from dunning.config import Policy, Step
from dunning.rules.calendar import BusinessCalendar
from dunning.rules.planner import Decision, Outcome, plan_collection, step_dates

POLICY = shipped_policy()
CALENDAR = BusinessCalendar(POLICY.calendar.subdivision)
AS_OF = date(2026, 3, 18)  # a Wednesday with no holiday near it

# Standard ladder, due Friday 13 March 2026: pre_due Mon 9 Mar, reminder_1 Mon 16 Mar (Sat 14 moved),
# reminder_2 Mon 30 Mar. On AS_OF exactly one step, reminder_1, is due.
DUE_REMINDER_1_DUE = date(2026, 3, 13)


def plan(invoices, *, as_of: date = AS_OF, segment_name: str = "standard", debtor_segments=None, credit=None,
         holds=(), ledger=(), policy=POLICY, address_flags=(), legal=None, company_currency: str = "EUR",
         rates_missing: str | None = None) -> list[Decision]:
    """plan_collection, checking what must hold for every plan: every invoice decided, every decision explained."""
    decisions = plan_collection(
        invoices,
        debtor_segments if debtor_segments is not None else everyone_in(invoices, segment_name),
        credit if credit is not None else no_credits(),
        list(holds), list(ledger), as_of, policy, CALENDAR, legal, address_flags=list(address_flags),
        company_currency=company_currency, rates_missing=rates_missing,
    )
    assert {d.invoice_id for d in decisions} == set(invoices["invoice_id"]), "every invoice gets a decision"
    assert all(d.reason and d.reason.strip() for d in decisions), "every decision has a reason"
    assert not [d.reason for d in decisions if "catch-up" in d.reason], "the ladder is climbed, never caught up"
    final = Counter(d.invoice_id for d in decisions if d.outcome is not Outcome.superseded)
    assert all(count == 1 for count in final.values()), f"one decision for today per invoice: {final}"
    return decisions


def today(decisions: list[Decision], invoice_id: str) -> Decision:
    """The decision that says what happens to the invoice today (not the superseded steps)."""
    [decision] = [d for d in decisions if d.invoice_id == invoice_id and d.outcome is not Outcome.superseded]
    return decision


def superseded_steps(decisions: list[Decision], invoice_id: str) -> set[Step]:
    return {d.step for d in decisions if d.invoice_id == invoice_id and d.outcome is Outcome.superseded}


def sends(decisions: list[Decision]) -> list[Decision]:
    return [d for d in decisions if d.outcome is Outcome.send]


def assert_held(decision: Decision, *words: str) -> None:
    assert decision.outcome is Outcome.held, decision
    assert decision.channel is None
    for word in words:
        assert word in decision.reason, f"{word!r} not in {decision.reason!r}"


def with_limits(**limits) -> Policy:
    return POLICY.model_copy(update={"limits": POLICY.limits.model_copy(update=limits)})


def with_policy(**fields) -> Policy:
    """The shipped policy with some top-level fields changed, validated as the YAML would be."""
    return Policy.model_validate({**POLICY.model_dump(), **fields})


# -- scenarios shared by several rules -------------------------------------------------------------

def invoice_due_for_reminder_1(invoice_id: str = "I1", **fields) -> dict:
    return invoice(invoice_id, due_date=DUE_REMINDER_1_DUE, **fields)


def standard_history_up_to_reminder_3(invoice_id: str, due: date, reminder_3_on: date) -> list:
    """pre_due, reminder_1 and reminder_2 sent on their dates, reminder_3 sent on `reminder_3_on`."""
    dates = step_dates(due, POLICY.ladder.standard, CALENDAR)
    return [sent(invoice_id, Step.pre_due, dates[Step.pre_due]),
            sent(invoice_id, Step.reminder_1, dates[Step.reminder_1]),
            sent(invoice_id, Step.reminder_2, dates[Step.reminder_2]),
            sent(invoice_id, Step.reminder_3, reminder_3_on)]
