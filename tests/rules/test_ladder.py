"""The collection ladder (dunning.rules.ladder, through dunning.rules.planner): rules 1-5, 9 and 11 of DESIGN.md.

Dates are spelled out: each scenario's comment gives the step dates of its ladder (config/policy.yaml)
after rule 1 moved them to a business day, so a reader can check the expectation by hand.
"""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from builders import failed, invoice, ledger_entry, receivables, sent, skipped
from dunning.config import Policy, Segment, Step
from dunning.rules.calendar import BusinessCalendar
from dunning.rules.planner import Channel, LedgerStatus, Outcome, step_dates
from planning import (
    AS_OF, CALENDAR, POLICY, assert_held, invoice_due_for_reminder_1, plan, sends, standard_history_up_to_reminder_3,
    superseded_steps, today, with_policy,
)


def test_the_shared_scenario_sends_reminder_1_when_nothing_holds_it():
    decision = today(plan(receivables(invoice_due_for_reminder_1())), "I1")

    assert (decision.outcome, decision.step, decision.channel) == (Outcome.send, Step.reminder_1, Channel.email)
    assert decision.step_date == date(2026, 3, 16)


# -- rule 1: business days ----------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("due", "on_the_day", "moved_to"),
    [
        pytest.param(date(2026, 3, 11), date(2026, 3, 14), date(2026, 3, 16), id="saturday"),
        pytest.param(date(2026, 3, 11), date(2026, 3, 15), date(2026, 3, 16), id="sunday"),
        pytest.param(date(2026, 12, 22), date(2026, 12, 25), date(2026, 12, 28), id="christmas"),
        pytest.param(date(2026, 4, 3), date(2026, 4, 6), date(2026, 4, 7), id="easter-monday-2026"),
    ],
)
def test_rule_1_a_step_on_a_non_business_day_moves_to_the_next_business_day(due, on_the_day, moved_to):
    # reminder_1 is due + 3 days in the standard ladder, which lands on `on_the_day`.
    reminder_1_on_a_closed_day = receivables(invoice("I1", due_date=due))
    pre_due_done = [sent("I1", Step.pre_due, step_dates(due, POLICY.ladder.standard, CALENDAR)[Step.pre_due])]

    assert step_dates(due, POLICY.ladder.standard, CALENDAR)[Step.reminder_1] == moved_to

    on_closed_day = today(plan(reminder_1_on_a_closed_day, as_of=on_the_day, ledger=pre_due_done), "I1")
    assert_held(on_closed_day, "nothing due today", f"reminder_1 on {moved_to}")

    on_next_business_day = today(plan(reminder_1_on_a_closed_day, as_of=moved_to, ledger=pre_due_done), "I1")
    assert (on_next_business_day.outcome, on_next_business_day.step) == (Outcome.send, Step.reminder_1)
    assert on_next_business_day.step_date == moved_to


def test_rule_1_alsace_moselle_good_friday_also_moves_steps():
    # Good Friday (3 April 2026) is a holiday in Moselle only: the Moselle calendar moves a step off it.
    moselle = BusinessCalendar("57")

    assert step_dates(date(2026, 3, 31), POLICY.ladder.standard, moselle)[Step.reminder_1] == date(2026, 4, 7)
    assert step_dates(date(2026, 3, 31), POLICY.ladder.standard, CALENDAR)[Step.reminder_1] == date(2026, 4, 3)


def test_rule_1_a_run_considers_every_step_dated_on_or_before_it():
    # reminder_1 was due on Monday 16 March; a run on Wednesday 18 still sends it.
    late_run = today(plan(receivables(invoice_due_for_reminder_1())), "I1")

    assert (late_run.outcome, late_run.step) == (Outcome.send, Step.reminder_1)


# -- rule 2: the ladder is climbed, never jumped ----------------------------------------------------

# Due Monday 8 December 2025, 100 days before AS_OF: every step of every ladder is due by now.
DUE_100_DAYS_AGO = date(2025, 12, 8)


def without_step(segment_name: str, step: Step) -> Policy:
    """The shipped policy with one step removed from one segment's ladder."""
    raw = POLICY.model_dump()
    raw["ladder"][segment_name][step.value] = None
    return Policy.model_validate(raw)


@pytest.mark.parametrize("segment_name", ["standard", "reliable", "chronic", "high_risk", "strategic"])
def test_rule_2_first_contact_of_an_invoice_100_days_overdue_is_reminder_1(segment_name):
    invoice_never_chased = receivables(invoice("I1", due_date=DUE_100_DAYS_AGO))
    ladder = POLICY.ladder.for_segment(Segment(segment_name))

    decisions = plan(invoice_never_chased, segment_name=segment_name)

    decision = today(decisions, "I1")
    assert (decision.outcome, decision.step, decision.channel) == (Outcome.send, Step.reminder_1, Channel.email)
    highest = Step.legal_handoff if ladder.legal_handoff else Step.formal_notice
    assert "first contact: an invoice nothing was sent for starts at reminder_1" in decision.reason
    assert f"one step at a time: {highest.value} is due too" in decision.reason
    assert superseded_steps(decisions, "I1") == ({Step.pre_due} if ladder.pre_due else set())
    for d in decisions:
        if d.outcome is Outcome.superseded:
            assert d.reason == ("superseded: pre_due goes out only before the due date (rule 3); "
                                "first contact starts at reminder_1 (rule 2)")
    assert not [d for d in decisions if d.step in (Step.reminder_2, Step.reminder_3, Step.formal_notice,
                                                   Step.legal_handoff)], "nothing above the first contact is touched"


@pytest.mark.parametrize("first_contact", ["reminder_1", "reminder_2"])
def test_rule_2_first_contact_before_the_due_date_is_pre_due(first_contact):
    # Standard, due Mon 23 March: pre_due Wed 18 March.
    decisions = plan(receivables(invoice("I1", due_date=date(2026, 3, 23))),
                     policy=with_policy(first_contact_step=first_contact))

    assert (today(decisions, "I1").outcome, today(decisions, "I1").step) == (Outcome.send, Step.pre_due)
    assert not superseded_steps(decisions, "I1")


def test_rule_2_a_first_contact_step_of_reminder_2_supersedes_reminder_1_with_the_reason():
    decisions = plan(receivables(invoice("I1", due_date=DUE_100_DAYS_AGO)),
                     policy=with_policy(first_contact_step="reminder_2"))

    assert (today(decisions, "I1").outcome, today(decisions, "I1").step) == (Outcome.send, Step.reminder_2)
    assert superseded_steps(decisions, "I1") == {Step.pre_due, Step.reminder_1}
    [reminder_1] = [d for d in decisions if d.step is Step.reminder_1]
    assert reminder_1.reason == "superseded: first contact starts at reminder_2 (rule 2)"


def test_rule_2_a_first_contact_step_is_the_most_a_first_contact_sends_not_the_least():
    # reminder_1 is due, reminder_2 (30 March) not yet: reminder_1 goes.
    decision = today(plan(receivables(invoice_due_for_reminder_1()), policy=with_policy(first_contact_step="reminder_3")),
                     "I1")

    assert (decision.outcome, decision.step) == (Outcome.send, Step.reminder_1)


@pytest.mark.parametrize(("first_contact", "step"), [("reminder_1", Step.reminder_1), ("reminder_2", Step.reminder_2)])
def test_rule_2_a_pre_due_courtesy_message_is_no_first_contact(first_contact, step):
    # Standard, due Fri 6 Feb 2026: pre_due went out on Mon 2 Feb, nothing since; every reminder is due.
    courtesy_only = [sent("I1", Step.pre_due, date(2026, 2, 2))]

    decisions = plan(receivables(invoice("I1", due_date=date(2026, 2, 6))), ledger=courtesy_only,
                     policy=with_policy(first_contact_step=first_contact))

    assert (today(decisions, "I1").outcome, today(decisions, "I1").step) == (Outcome.send, step)


def test_rule_2_after_reminder_1_comes_reminder_2_however_late_the_run():
    # Standard, due Fri 6 Feb 2026: reminder_1 went out on 9 Feb; reminder_3 is due since 9 March.
    reminded_once = [sent("I1", Step.pre_due, date(2026, 2, 2)), sent("I1", Step.reminder_1, date(2026, 2, 9))]

    decisions = plan(receivables(invoice("I1", due_date=date(2026, 2, 6))), ledger=reminded_once)

    decision = today(decisions, "I1")
    assert (decision.outcome, decision.step) == (Outcome.send, Step.reminder_2)
    assert "one step at a time: reminder_3 is due too" in decision.reason
    assert "first contact" not in decision.reason
    assert not superseded_steps(decisions, "I1"), "reminder_3 waits its turn: it is not superseded"


def test_rule_2_a_step_the_ladder_does_not_have_counts_as_passed():
    # Standard without reminder_2, due Fri 6 Feb 2026: after reminder_1 the next step is reminder_3 (9 March).
    reminded_once = [sent("I1", Step.reminder_1, date(2026, 2, 9))]

    decision = today(plan(receivables(invoice("I1", due_date=date(2026, 2, 6))), ledger=reminded_once,
                          policy=without_step("standard", Step.reminder_2)), "I1")

    assert (decision.outcome, decision.step) == (Outcome.send, Step.reminder_3)


def test_rule_2_a_step_stopped_before_it_was_sent_is_planned_again():
    # reminder_1 was stopped at dispatch (disputed since planning); the dispute was rejected: nothing
    # ever reached the debtor, so the first contact is still reminder_1, not reminder_2.
    stopped_at_dispatch = [skipped("I1", Step.pre_due, date(2026, 2, 9)), skipped("I1", Step.reminder_1, date(2026, 2, 9))]

    decision = today(plan(receivables(invoice("I1", due_date=date(2026, 2, 6))), ledger=stopped_at_dispatch), "I1")

    assert (decision.outcome, decision.step) == (Outcome.send, Step.reminder_1)
    assert "first contact" in decision.reason


def test_rule_2_after_a_stopped_step_the_ladder_resumes_one_above_what_was_sent():
    # reminder_1 sent, reminder_2 stopped at dispatch: reminder_2 goes again, not reminder_3.
    ledger = [sent("I1", Step.reminder_1, date(2026, 2, 9)), skipped("I1", Step.reminder_2, date(2026, 2, 23))]

    decision = today(plan(receivables(invoice("I1", due_date=date(2026, 2, 6))), ledger=ledger), "I1")

    assert (decision.outcome, decision.step) == (Outcome.send, Step.reminder_2)


def run_nights(invoices, first: date, last: date, ledger: list | None = None, **options) -> list[tuple[date, Step, Outcome]]:
    """Plan every night from `first` to `last`, recording each night's ledger rows as a run would
    (a send accepted at once). Returns what each night did: (date, step, outcome)."""
    ledger = list(ledger or [])
    acted = []
    day = first
    while day <= last:
        for d in plan(invoices, as_of=day, ledger=ledger, **options):
            if d.outcome is Outcome.superseded:
                ledger.append(skipped(d.invoice_id, d.step, day))
            elif d.outcome is Outcome.send:
                ledger.append(sent(d.invoice_id, d.step, day, d.channel))
                acted.append((day, d.step, d.outcome))
            elif d.outcome in (Outcome.legal_handoff, Outcome.awaiting_approval, Outcome.phone_task):
                status = LedgerStatus.awaiting_approval if d.outcome is Outcome.awaiting_approval else LedgerStatus.queued
                ledger.append(ledger_entry(d.invoice_id, d.step, status, day, d.channel))
                acted.append((day, d.step, d.outcome))
        day += timedelta(days=1)
    return acted


def test_rule_2_an_invoice_100_days_overdue_climbs_one_step_a_week_to_the_legal_queue():
    nights = run_nights(receivables(invoice("I1", due_date=DUE_100_DAYS_AGO)), AS_OF, date(2026, 5, 1))

    assert nights == [
        (date(2026, 3, 18), Step.reminder_1, Outcome.send),
        (date(2026, 3, 25), Step.reminder_2, Outcome.send),       # rule 11: 7 days after the last message
        (date(2026, 4, 1), Step.reminder_3, Outcome.send),
        (date(2026, 4, 8), Step.formal_notice, Outcome.send),     # rule 4: 7 days after reminder_3
        (date(2026, 4, 18), Step.legal_handoff, Outcome.legal_handoff),   # rule 5: 10 days after the notice
    ]


def test_rule_2_a_dispute_just_cleared_resumes_one_step_above_the_last_reminder():
    # Standard, due Fri 6 Feb: reminder_1 went out on 9 Feb, then the debtor disputed the invoice until now.
    invoice_whose_dispute_was_cleared = receivables(invoice("I1", due_date=date(2026, 2, 6)))
    before_the_dispute = [sent("I1", Step.pre_due, date(2026, 2, 2)), sent("I1", Step.reminder_1, date(2026, 2, 9))]

    decisions = plan(invoice_whose_dispute_was_cleared, ledger=before_the_dispute)

    assert (today(decisions, "I1").outcome, today(decisions, "I1").step) == (Outcome.send, Step.reminder_2)
    assert not superseded_steps(decisions, "I1")


# -- rule 3: pre_due --------------------------------------------------------------------------------

# Standard, due Mon 23 March 2026: pre_due Wed 18 March, reminder_1 Thu 26 March.
DUE_MONDAY_23 = date(2026, 3, 23)


@pytest.mark.parametrize("run_on", [date(2026, 3, 18), date(2026, 3, 20)], ids=["on-its-date", "two-days-late"])
def test_rule_3_pre_due_goes_out_before_the_due_date(run_on):
    decision = today(plan(receivables(invoice("I1", due_date=DUE_MONDAY_23)), as_of=run_on), "I1")

    assert (decision.outcome, decision.step, decision.channel) == (Outcome.send, Step.pre_due, Channel.email)


def test_rule_3_no_pre_due_on_the_due_date_itself():
    decisions = plan(receivables(invoice("I1", due_date=DUE_MONDAY_23)), as_of=DUE_MONDAY_23)

    assert not sends(decisions)
    assert_held(today(decisions, "I1"), "nothing due today", "reminder_1 on 2026-03-26")


def test_rule_3_a_missed_pre_due_is_superseded_once_the_invoice_is_overdue():
    decisions = plan(receivables(invoice("I1", due_date=DUE_MONDAY_23)), as_of=date(2026, 3, 26))

    assert today(decisions, "I1").step is Step.reminder_1
    assert superseded_steps(decisions, "I1") == {Step.pre_due}


def test_rule_3_the_reliable_ladder_has_no_pre_due():
    decision = today(plan(receivables(invoice("I1", due_date=DUE_MONDAY_23)), segment_name="reliable"), "I1")

    assert_held(decision, "nothing due today", "reminder_1")


# -- rule 4: the formal notice waits for a reminder ---------------------------------------------------

# Standard, due Mon 2 Feb 2026: reminder_3 Wed 4 Mar, formal_notice Thu 19 Mar.
DUE_FEB_2 = date(2026, 2, 2)
FORMAL_NOTICE_DAY = date(2026, 3, 19)


@pytest.mark.parametrize("reminder_3_on", [date(2026, 3, 4), date(2026, 3, 12)],
                         ids=["15-days-before", "7-days-before"])
def test_rule_4_formal_notice_when_a_reminder_went_out_at_least_7_days_before(reminder_3_on):
    invoice_at_its_formal_notice_date = receivables(invoice("I1", due_date=DUE_FEB_2))

    decision = today(plan(invoice_at_its_formal_notice_date, as_of=FORMAL_NOTICE_DAY,
                          ledger=standard_history_up_to_reminder_3("I1", DUE_FEB_2, reminder_3_on)), "I1")

    assert (decision.outcome, decision.step) == (Outcome.send, Step.formal_notice)
    assert f"reminder_3) sent on {reminder_3_on}" in decision.reason


def test_rule_4_no_formal_notice_6_days_after_the_last_reminder_and_nothing_else_to_send():
    reminder_3_six_days_ago = standard_history_up_to_reminder_3("I1", DUE_FEB_2, date(2026, 3, 13))

    decisions = plan(receivables(invoice("I1", due_date=DUE_FEB_2)), as_of=FORMAL_NOTICE_DAY,
                     ledger=reminder_3_six_days_ago)

    assert not sends(decisions)
    assert_held(today(decisions, "I1"), "formal notice waits", "the last reminder (reminder_3) was sent on 2026-03-13",
                "7 days", "not before 2026-03-20", "rule 4")


def test_rule_4_a_pre_due_courtesy_message_is_not_a_reminder():
    # Only pre_due ever went out (reminder_1 failed): at the formal notice date the invoice is still at its
    # first contact, reminder_1, sent again.
    only_pre_due_went_out = [sent("I1", Step.pre_due, date(2026, 1, 28)),
                             failed("I1", Step.reminder_1, date(2026, 2, 5))]

    decisions = plan(receivables(invoice("I1", due_date=DUE_FEB_2)), as_of=FORMAL_NOTICE_DAY,
                     ledger=only_pre_due_went_out)

    decision = today(decisions, "I1")
    assert (decision.outcome, decision.step) == (Outcome.send, Step.reminder_1)
    assert "one step at a time: formal_notice is due too" in decision.reason
    assert not superseded_steps(decisions, "I1")


def test_rule_4_the_formal_notice_follows_the_last_amicable_step_the_ladder_has():
    # Standard without reminder_3: reminder_2 (sent 17 Feb) is the last amicable step.
    up_to_reminder_2 = standard_history_up_to_reminder_3("I1", DUE_FEB_2, date(2026, 3, 4))[:3]

    decision = today(plan(receivables(invoice("I1", due_date=DUE_FEB_2)), as_of=FORMAL_NOTICE_DAY,
                          ledger=up_to_reminder_2, policy=without_step("standard", Step.reminder_3)), "I1")

    assert (decision.outcome, decision.step) == (Outcome.send, Step.formal_notice)
    assert "last reminder (reminder_2) sent on 2026-02-17" in decision.reason


def test_rule_4_a_last_reminder_awaiting_approval_holds_the_formal_notice():
    reminder_3_awaiting = [*standard_history_up_to_reminder_3("I1", DUE_FEB_2, date(2026, 3, 4))[:3],
                           ledger_entry("I1", Step.reminder_3, LedgerStatus.awaiting_approval, date(2026, 3, 4))]

    decision = today(plan(receivables(invoice("I1", due_date=DUE_FEB_2)), as_of=FORMAL_NOTICE_DAY,
                          ledger=reminder_3_awaiting), "I1")

    assert_held(decision, "formal notice waits: the last amicable step (reminder_3) is awaiting_approval since 2026-03-04")
    assert decision.step is Step.formal_notice


def test_rule_4_a_last_reminder_stopped_before_sending_goes_again_before_the_formal_notice():
    # reminder_3 was stopped at dispatch (disputed since planning): the debtor never got it, so it goes
    # again when the invoice is chased again, and the formal notice waits 7 days after it.
    reminder_3_stopped = [*standard_history_up_to_reminder_3("I1", DUE_FEB_2, date(2026, 3, 4))[:3],
                          skipped("I1", Step.reminder_3, date(2026, 3, 4))]

    decision = today(plan(receivables(invoice("I1", due_date=DUE_FEB_2)), as_of=FORMAL_NOTICE_DAY,
                          ledger=reminder_3_stopped), "I1")

    assert (decision.outcome, decision.step) == (Outcome.send, Step.reminder_3)
    assert "formal_notice is due too" in decision.reason


# -- rule 5: the legal handoff waits for the formal notice --------------------------------------------

# Standard, due Fri 16 Jan 2026: reminder_3 Mon 16 Feb, formal_notice Mon 2 Mar, legal_handoff Tue 17 Mar.
DUE_JAN_16 = date(2026, 1, 16)


def notice_history(formal_notice: object) -> list:
    return [*standard_history_up_to_reminder_3("I1", DUE_JAN_16, date(2026, 2, 16)), formal_notice]


def test_rule_5_legal_handoff_when_the_formal_notice_went_out_10_days_before():
    decision = today(plan(receivables(invoice("I1", due_date=DUE_JAN_16)),
                          ledger=notice_history(sent("I1", Step.formal_notice, date(2026, 3, 8)))), "I1")

    assert (decision.outcome, decision.step, decision.channel) == (Outcome.legal_handoff, Step.legal_handoff,
                                                                   Channel.legal)
    assert "formal notice sent on 2026-03-08" in decision.reason


def test_rule_5_no_legal_handoff_9_days_after_the_formal_notice():
    decisions = plan(receivables(invoice("I1", due_date=DUE_JAN_16)),
                     ledger=notice_history(sent("I1", Step.formal_notice, date(2026, 3, 9))))

    assert not [d for d in decisions if d.outcome in (Outcome.legal_handoff, Outcome.send)]
    assert_held(today(decisions, "I1"), "legal handoff waits", "2026-03-09", "10 days", "not before 2026-03-19")


def test_rule_5_a_failed_formal_notice_is_sent_again_before_any_handoff():
    decision = today(plan(receivables(invoice("I1", due_date=DUE_JAN_16)),
                          ledger=notice_history(failed("I1", Step.formal_notice, date(2026, 3, 2)))), "I1")

    assert (decision.outcome, decision.step) == (Outcome.send, Step.formal_notice)
    assert "one step at a time: legal_handoff is due too" in decision.reason



# -- rule 9: backfill -----------------------------------------------------------------------------------

def test_rule_9_a_step_recorded_by_a_later_run_is_not_sent_again_by_a_backfill():
    recorded_by_the_run_of_20_march = [skipped("I1", Step.pre_due, date(2026, 3, 20)),
                                       sent("I1", Step.reminder_1, date(2026, 3, 20))]

    decisions = plan(receivables(invoice_due_for_reminder_1()), ledger=recorded_by_the_run_of_20_march)

    assert not sends(decisions)


def test_rule_9_a_reminder_recorded_by_a_later_run_does_not_open_the_formal_notice_gate():
    # Backfill for 19 March; reminder_3 is only in the ledger from the run of 20 March.
    reminder_3_sent_after_the_backfill_date = [
        skipped("I1", Step.pre_due, date(2026, 3, 20)), skipped("I1", Step.reminder_1, date(2026, 3, 20)),
        skipped("I1", Step.reminder_2, date(2026, 3, 20)), sent("I1", Step.reminder_3, date(2026, 3, 20)),
    ]

    decisions = plan(receivables(invoice("I1", due_date=DUE_FEB_2)), as_of=FORMAL_NOTICE_DAY,
                     ledger=reminder_3_sent_after_the_backfill_date)

    assert not sends(decisions)
    assert_held(today(decisions, "I1"), "formal_notice waits", "reminder_1 was recorded by the run of 2026-03-20",
                "a backfill does not build on it (rule 9)")


def test_rule_9_a_formal_notice_recorded_by_a_later_run_does_not_open_the_legal_gate():
    decisions = plan(receivables(invoice("I1", due_date=DUE_JAN_16)),
                     ledger=notice_history(sent("I1", Step.formal_notice, date(2026, 3, 25))))

    assert not [d for d in decisions if d.outcome in (Outcome.legal_handoff, Outcome.send)]
    assert_held(today(decisions, "I1"), "legal_handoff waits", "formal_notice was recorded by the run of 2026-03-25",
                "rule 9")


# -- rule 11: spacing between two messages for one invoice --------------------------------------------

# Standard, due Fri 6 Feb 2026: reminder_2 is due since 23 Feb; reminder_1 went out late, on Wed 11 March.
REMINDED_ON_11_MARCH = [skipped("I1", Step.pre_due, date(2026, 3, 11)), sent("I1", Step.reminder_1, date(2026, 3, 11))]


@pytest.mark.parametrize(("run_on", "goes"), [(date(2026, 3, 17), False), (date(2026, 3, 18), True)],
                         ids=["6-days-after", "7-days-after"])
def test_rule_11_no_message_less_than_7_days_after_the_previous_one(run_on, goes):
    decisions = plan(receivables(invoice("I1", due_date=date(2026, 2, 6))), as_of=run_on, ledger=REMINDED_ON_11_MARCH)

    decision = today(decisions, "I1")
    if goes:
        assert (decision.outcome, decision.step) == (Outcome.send, Step.reminder_2)
    else:
        assert_held(decision, "reminder_2 waits: spacing: the last message for this invoice (reminder_1) went out on "
                              "2026-03-11; 7 days between two messages (rule 11), so not before 2026-03-18")
        assert (decision.step, decision.step_date) == (Step.reminder_2, date(2026, 2, 23))
        assert not superseded_steps(decisions, "I1")


def test_rule_11_no_spacing_when_configured_to_0_days():
    decision = today(plan(receivables(invoice("I1", due_date=date(2026, 2, 6))), as_of=date(2026, 3, 12),
                          ledger=REMINDED_ON_11_MARCH, policy=with_policy(min_days_between_messages=0)), "I1")

    assert (decision.outcome, decision.step) == (Outcome.send, Step.reminder_2)


@pytest.mark.parametrize(("run_on", "goes"), [(date(2026, 3, 26), False), (date(2026, 3, 27), True)])
def test_rule_11_a_pre_due_sent_late_counts_as_the_previous_message(run_on, goes):
    # Standard, due Mon 23 March: pre_due (18 March) went out late, on Fri 20; reminder_1 is due on Thu 26.
    late_courtesy = [sent("I1", Step.pre_due, date(2026, 3, 20))]

    decision = today(plan(receivables(invoice("I1", due_date=date(2026, 3, 23))), as_of=run_on,
                          ledger=late_courtesy), "I1")

    if goes:
        assert (decision.outcome, decision.step) == (Outcome.send, Step.reminder_1)
    else:
        assert_held(decision, "the last message for this invoice (pre_due) went out on 2026-03-20", "2026-03-27")


@pytest.mark.parametrize(("spacing", "outcome"), [(7, Outcome.awaiting_approval), (10, Outcome.held)])
def test_rule_11_a_phone_task_counts_and_an_approval_request_waits_too(spacing, outcome):
    # Strategic, due Tue 27 Jan 2026: the reminder_3 call was given on Wed 11 March; formal_notice (approval) is
    # due on 18 March, 7 days after the call: rule 4 lets it go, a 10-day spacing does not.
    called_on_11_march = [sent("I1", Step.pre_due, date(2026, 1, 22)), sent("I1", Step.reminder_1, date(2026, 2, 2)),
                          sent("I1", Step.reminder_2, date(2026, 2, 16)),
                          ledger_entry("I1", Step.reminder_3, LedgerStatus.queued, date(2026, 3, 11), Channel.phone)]

    decision = today(plan(receivables(invoice("I1", due_date=date(2026, 1, 27), strategic=True)),
                          segment_name="strategic", ledger=called_on_11_march,
                          policy=with_policy(min_days_between_messages=spacing)), "I1")

    assert (decision.outcome, decision.step) == (outcome, Step.formal_notice)
    if outcome is Outcome.held:
        assert "the last phone task for this invoice (reminder_3) went out on 2026-03-11" in decision.reason
        assert "not before 2026-03-21" in decision.reason


def test_rule_11_spacing_does_not_hold_the_legal_handoff():
    # The handoff is no message to the debtor: a 14-day spacing does not delay it past rule 5's 10 days.
    decision = today(plan(receivables(invoice("I1", due_date=DUE_JAN_16)),
                          ledger=notice_history(sent("I1", Step.formal_notice, date(2026, 3, 8))),
                          policy=with_policy(min_days_between_messages=14)), "I1")

    assert decision.outcome is Outcome.legal_handoff
