"""The collection planner (dunning.planner), one scenario per planner rule of DESIGN.md.

Dates are spelled out: each scenario's comment gives the step dates of its ladder (config/policy.yaml)
after rule 1 moved them to a business day, so a reader can check the expectation by hand.
"""

from __future__ import annotations

from collections import Counter
from datetime import date, datetime, timezone

import pytest

from builders import (
    credit_note,
    credits,
    everyone_in,
    failed,
    invoice,
    ledger_entry,
    no_credits,
    receivables,
    segment,
    segments,
    sent,
    shipped_policy,
    skipped,
)
from dunning.calendar import BusinessCalendar
from dunning.config import AMICABLE_STEPS, Segment, Step
from dunning.delivery_events import AddressFlag
from dunning.planner import Channel, Decision, Hold, LedgerStatus, Outcome, plan_collection, step_dates

POLICY = shipped_policy()
CALENDAR = BusinessCalendar(POLICY.calendar.subdivision)
AS_OF = date(2026, 3, 18)  # a Wednesday with no holiday near it

# Standard ladder, due Friday 13 March 2026: pre_due Mon 9 Mar, reminder_1 Mon 16 Mar (Sat 14 moved),
# reminder_2 Mon 30 Mar. On AS_OF exactly one step, reminder_1, is due.
DUE_REMINDER_1_DUE = date(2026, 3, 13)


def plan(invoices, *, as_of: date = AS_OF, segment_name: str = "standard", debtor_segments=None, credit=None,
         holds=(), ledger=(), policy=POLICY, address_flags=()) -> list[Decision]:
    """plan_collection, checking what must hold for every plan: every invoice decided, every decision explained."""
    decisions = plan_collection(
        invoices,
        debtor_segments if debtor_segments is not None else everyone_in(invoices, segment_name),
        credit if credit is not None else no_credits(),
        list(holds), list(ledger), as_of, policy, CALENDAR, address_flags=list(address_flags),
    )
    assert {d.invoice_id for d in decisions} == set(invoices["invoice_id"]), "every invoice gets a decision"
    assert all(d.reason and d.reason.strip() for d in decisions), "every decision has a reason"
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


def with_limits(**limits):
    return POLICY.model_copy(update={"limits": POLICY.limits.model_copy(update=limits)})


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


# -- rule 2: catch-up -------------------------------------------------------------------------------

@pytest.mark.parametrize("segment_name", ["standard", "reliable", "chronic", "high_risk"])
def test_rule_2_first_run_40_days_overdue_sends_only_reminder_3(segment_name):
    # Due Friday 6 February 2026, first run on 18 March (+40). In every automatic ladder reminder_3 is due
    # by then; where formal_notice (and legal_handoff) are due too, rule 4 still wants a reminder first.
    invoice_40_days_overdue = receivables(invoice("I1", due_date=date(2026, 2, 6)))
    ladder = POLICY.ladder.for_segment(Segment(segment_name))

    decisions = plan(invoice_40_days_overdue, segment_name=segment_name)

    decision = today(decisions, "I1")
    assert (decision.outcome, decision.step) == (Outcome.send, Step.reminder_3)
    assert "catch-up" in decision.reason
    lower_steps = {s for s in (Step.pre_due, Step.reminder_1, Step.reminder_2) if ladder.rule(s) is not None}
    assert superseded_steps(decisions, "I1") == lower_steps
    assert all("superseded by reminder_3" in d.reason for d in decisions if d.outcome is Outcome.superseded)
    assert not [d for d in decisions if d.step in (Step.formal_notice, Step.legal_handoff)]


def test_rule_2_first_run_past_the_formal_notice_date_sends_reminder_3_and_the_notice_a_week_later():
    # Standard, due Tue 27 Jan 2026: reminder_3 Thu 26 Feb, formal_notice Fri 13 Mar. First run 18 Mar (+50).
    invoice_50_days_overdue = receivables(invoice("I1", due_date=date(2026, 1, 27)))

    first_run = plan(invoice_50_days_overdue)
    decision = today(first_run, "I1")
    assert (decision.outcome, decision.step) == (Outcome.send, Step.reminder_3)
    assert "formal notice needs a reminder" in decision.reason
    assert superseded_steps(first_run, "I1") == {Step.pre_due, Step.reminder_1, Step.reminder_2}

    what_the_first_run_recorded = [skipped("I1", s, AS_OF) for s in (Step.pre_due, Step.reminder_1, Step.reminder_2)]
    what_the_first_run_recorded.append(sent("I1", Step.reminder_3, AS_OF))
    six_days_later = today(plan(invoice_50_days_overdue, as_of=date(2026, 3, 24),
                                ledger=what_the_first_run_recorded), "I1")
    assert_held(six_days_later, "formal notice waits")
    a_week_later = today(plan(invoice_50_days_overdue, as_of=date(2026, 3, 25),
                              ledger=what_the_first_run_recorded), "I1")
    assert (a_week_later.outcome, a_week_later.step) == (Outcome.send, Step.formal_notice)


def test_rule_2_a_dispute_just_cleared_sends_the_highest_due_reminder():
    # Standard, due Fri 6 Feb: reminder_1 went out on 9 Feb, then the debtor disputed the invoice until now.
    invoice_whose_dispute_was_cleared = receivables(invoice("I1", due_date=date(2026, 2, 6)))
    before_the_dispute = [sent("I1", Step.pre_due, date(2026, 2, 2)), sent("I1", Step.reminder_1, date(2026, 2, 9))]

    decisions = plan(invoice_whose_dispute_was_cleared, ledger=before_the_dispute)

    assert (today(decisions, "I1").outcome, today(decisions, "I1").step) == (Outcome.send, Step.reminder_3)
    assert superseded_steps(decisions, "I1") == {Step.reminder_2}


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
    assert_held(today(decisions, "I1"), "formal notice waits", "last reminder sent on 2026-03-13", "7 days")


def test_rule_4_a_pre_due_courtesy_message_is_not_a_reminder():
    # Only pre_due ever went out (reminder_1 failed); at the formal notice date reminder_3 goes first.
    only_pre_due_went_out = [sent("I1", Step.pre_due, date(2026, 1, 28)),
                             failed("I1", Step.reminder_1, date(2026, 2, 5))]

    decisions = plan(receivables(invoice("I1", due_date=DUE_FEB_2)), as_of=FORMAL_NOTICE_DAY,
                     ledger=only_pre_due_went_out)

    decision = today(decisions, "I1")
    assert (decision.outcome, decision.step) == (Outcome.send, Step.reminder_3)
    assert "formal notice needs a reminder sent 7 days before it" in decision.reason
    assert superseded_steps(decisions, "I1") == {Step.reminder_1, Step.reminder_2}


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
    assert_held(today(decisions, "I1"), "legal handoff waits", "2026-03-09", "10 days")


def test_rule_5_a_failed_formal_notice_is_sent_again_before_any_handoff():
    decision = today(plan(receivables(invoice("I1", due_date=DUE_JAN_16)),
                          ledger=notice_history(failed("I1", Step.formal_notice, date(2026, 3, 2)))), "I1")

    assert (decision.outcome, decision.step) == (Outcome.send, Step.formal_notice)
    assert "legal handoff needs a formal notice first" in decision.reason


# -- rule 6: what gets no message ---------------------------------------------------------------------

def test_rule_6_a_disputed_invoice_is_held_with_the_dispute():
    disputed = receivables(invoice_due_for_reminder_1(disputed=True, disputed_reason="livraison incomplète"))

    assert_held(today(plan(disputed), "I1"), "disputed", "livraison incomplète")


def test_rule_6_a_debtor_hold_holds_all_their_invoices():
    debtor_on_a_payment_plan = receivables(invoice_due_for_reminder_1("I1"), invoice_due_for_reminder_1("I2"))
    payment_plan = Hold(reason="échéancier accordé", until=date(2026, 4, 30), debtor_id="C-DUPONT")

    decisions = plan(debtor_on_a_payment_plan, holds=[payment_plan])

    for invoice_id in ("I1", "I2"):
        assert_held(today(decisions, invoice_id), "on hold until 2026-04-30", "échéancier accordé")


def test_rule_6_an_invoice_hold_holds_that_invoice_only():
    debtor_with_one_invoice_on_hold = receivables(invoice_due_for_reminder_1("I1"), invoice_due_for_reminder_1("I2"))
    credit_note_promised = Hold(reason="avoir promis par le commercial", invoice_id="I1")

    decisions = plan(debtor_with_one_invoice_on_hold, holds=[credit_note_promised])

    assert_held(today(decisions, "I1"), "on hold", "avoir promis")
    assert today(decisions, "I2").outcome is Outcome.send


def test_rule_6_a_hold_on_another_debtor_does_not_hold():
    decision = today(plan(receivables(invoice_due_for_reminder_1()),
                          holds=[Hold(reason="litige", debtor_id="C-MARTIN")]), "I1")

    assert decision.outcome is Outcome.send


@pytest.mark.parametrize(("until", "holds_it"), [(date(2026, 3, 17), False), (AS_OF, True), (None, True)],
                         ids=["expired-yesterday", "ends-today", "open-ended"])
def test_rule_6_an_expired_hold_no_longer_holds(until, holds_it):
    hold = Hold(reason="relance suspendue", until=until, debtor_id="C-DUPONT")

    decision = today(plan(receivables(invoice_due_for_reminder_1()), holds=[hold]), "I1")

    if holds_it:
        assert_held(decision, "on hold", "relance suspendue")
    else:
        assert (decision.outcome, decision.step) == (Outcome.send, Step.reminder_1)


@pytest.mark.parametrize("status", ["draft", "cancelled"])
def test_rule_6_draft_and_cancelled_invoices_are_not_chased(status):
    assert_held(today(plan(receivables(invoice_due_for_reminder_1(status=status))), "I1"),
                f"{status} invoice", "only posted invoices")


@pytest.mark.parametrize(("residual", "chased"), [("0.40", False), ("1.00", False), ("1.01", True)])
def test_rule_6_a_residual_at_or_below_the_tolerance_is_not_chased(residual, chased):
    rounding_residual = receivables(invoice_due_for_reminder_1(residual=residual, amount_total="860.00"))

    decision = today(plan(rounding_residual), "I1")

    if chased:
        assert decision.outcome is Outcome.send
    else:
        assert_held(decision, f"residual {residual}", "tolerance 1.00")


@pytest.mark.parametrize(("credit_amount", "covered"), [("500.00", True), ("650.00", True), ("499.99", False)])
def test_rule_6_a_debtor_whose_credit_covers_the_overdue_total_is_not_chased(credit_amount, covered):
    debtor_with_credit_note_covering_overdue_invoice = receivables(invoice_due_for_reminder_1(residual="500.00"))
    their_credit_note = credits(credit_note("C-DUPONT", credit_amount))

    decision = today(plan(debtor_with_credit_note_covering_overdue_invoice, credit=their_credit_note), "I1")

    if covered:
        assert_held(decision, f"unapplied credit {credit_amount} EUR", "overdue total 500.00 EUR", "allocated")
    else:
        assert decision.outcome is Outcome.send


def test_rule_6_credit_in_another_currency_does_not_cover():
    debtor_with_usd_credit_and_eur_debt = receivables(invoice_due_for_reminder_1(residual="500.00"))

    decision = today(plan(debtor_with_usd_credit_and_eur_debt,
                          credit=credits(credit_note("C-DUPONT", "9000.00", currency="USD"))), "I1")

    assert decision.outcome is Outcome.send


@pytest.mark.parametrize(("credit_amount", "covered"), [("50.00", False), ("1200.00", True)])
def test_rule_6_a_small_credit_does_not_silence_a_courtesy_reminder(credit_amount, covered):
    # Due Friday 20 March: pre_due is Monday 16 March, so on AS_OF only pre_due is due; nothing is overdue.
    debtor_with_credit_and_nothing_overdue = receivables(invoice("I1", due_date=date(2026, 3, 20)))

    decision = today(plan(debtor_with_credit_and_nothing_overdue,
                          credit=credits(credit_note("C-DUPONT", credit_amount))), "I1")

    if covered:
        assert_held(decision, f"unapplied credit {credit_amount} EUR", "covers everything open", "allocated")
    else:
        assert (decision.outcome, decision.step) == (Outcome.send, Step.pre_due)


# -- rule 7: idempotence ------------------------------------------------------------------------------

@pytest.mark.parametrize("sent_on", [AS_OF, date(2026, 3, 16)], ids=["same-day-rerun", "sent-two-days-ago"])
def test_rule_7_a_step_already_sent_is_never_planned_again(sent_on):
    already_reminded = [skipped("I1", Step.pre_due, sent_on), sent("I1", Step.reminder_1, sent_on)]

    decisions = plan(receivables(invoice_due_for_reminder_1()), ledger=already_reminded)

    assert not sends(decisions)
    assert not superseded_steps(decisions, "I1")
    assert_held(today(decisions, "I1"), "nothing due today", "reminder_2 on 2026-03-30")


@pytest.mark.parametrize("status", [LedgerStatus.failed, LedgerStatus.queued],
                         ids=["failed", "queued-by-a-run-that-stopped"])
def test_rule_7_a_step_never_accepted_by_the_provider_is_planned_again(status):
    never_accepted = [skipped("I1", Step.pre_due, date(2026, 3, 16)),
                      ledger_entry("I1", Step.reminder_1, status, date(2026, 3, 16))]

    decision = today(plan(receivables(invoice_due_for_reminder_1()), ledger=never_accepted), "I1")

    assert (decision.outcome, decision.step) == (Outcome.send, Step.reminder_1)


def test_rule_7_a_send_never_confirmed_holds_everything_for_that_invoice():
    unconfirmed = [ledger_entry("I1", Step.reminder_1, LedgerStatus.sending, date(2026, 3, 16))]

    assert_held(today(plan(receivables(invoice_due_for_reminder_1()), ledger=unconfirmed), "I1"),
                "never confirmed", "reminder_1")


# -- rule 8: channels ---------------------------------------------------------------------------------

def test_rule_8_a_debtor_without_email_gets_a_letter():
    debtor_without_email = receivables(invoice_due_for_reminder_1(email=None))

    decision = today(plan(debtor_without_email), "I1")

    assert (decision.outcome, decision.step, decision.channel) == (Outcome.send, Step.reminder_1, Channel.letter)
    assert "letter" in decision.reason


@pytest.mark.parametrize(("email", "channel"), [("compta@dupont-sa.fr", Channel.email_and_letter),
                                                 (None, Channel.letter)], ids=["with-email", "without-email"])
def test_rule_8_the_formal_notice_is_a_registered_letter_with_an_email_copy_when_possible(email, channel):
    decision = today(plan(receivables(invoice("I1", due_date=DUE_FEB_2, email=email)), as_of=FORMAL_NOTICE_DAY,
                          ledger=standard_history_up_to_reminder_3("I1", DUE_FEB_2, date(2026, 3, 4))), "I1")

    assert (decision.step, decision.channel) == (Step.formal_notice, channel)


def bounced(email: str, on: datetime, event: str = "bounce", debtor_id: str = "C-DUPONT") -> AddressFlag:
    """The address as the webhook flagged it (lower case) after a hard bounce or a drop."""
    return AddressFlag(debtor_id=debtor_id, email=email.lower(), event=event, reason="550 5.1.1 user unknown",
                       flagged_at=on)


BOUNCED_ON = datetime(2026, 3, 16, 23, 30, tzinfo=timezone.utc)     # already 17 March in Paris


@pytest.mark.parametrize(("event", "what"), [("bounce", "a hard bounce"), ("dropped", "a dropped message")])
def test_rule_8_a_flagged_address_gets_a_letter_and_the_reason_says_why(event, what):
    accounting_email = receivables(invoice_due_for_reminder_1(email="Compta@Dupont-SA.fr"))

    decision = today(plan(accounting_email, address_flags=[bounced("compta@dupont-sa.fr", BOUNCED_ON, event)]), "I1")

    assert (decision.outcome, decision.step, decision.channel) == (Outcome.send, Step.reminder_1, Channel.letter)
    assert f"address flagged after {what} on 2026-03-17" in decision.reason
    assert "compta@dupont-sa.fr" not in decision.reason.lower()    # reasons are logged: ids only


def test_rule_8_a_flag_on_an_address_the_debtor_no_longer_has_changes_nothing():
    corrected = receivables(invoice_due_for_reminder_1(email="paiements@dupont-sa.fr"))

    decision = today(plan(corrected, address_flags=[bounced("compta@dupont-sa.fr", BOUNCED_ON)]), "I1")

    assert decision.channel is Channel.email and "flagged" not in decision.reason


def test_rule_8_a_flag_on_another_debtor_changes_nothing():
    decision = today(plan(receivables(invoice_due_for_reminder_1()),
                          address_flags=[bounced("compta@dupont-sa.fr", BOUNCED_ON, debtor_id="C-OTHER")]), "I1")

    assert decision.channel is Channel.email


def test_rule_8_the_formal_notice_to_a_flagged_address_is_the_registered_letter_alone():
    decision = today(plan(receivables(invoice("I1", due_date=DUE_FEB_2)), as_of=FORMAL_NOTICE_DAY,
                          ledger=standard_history_up_to_reminder_3("I1", DUE_FEB_2, date(2026, 3, 4)),
                          address_flags=[bounced("compta@dupont-sa.fr", BOUNCED_ON)]), "I1")

    assert (decision.step, decision.channel) == (Step.formal_notice, Channel.letter)
    assert "address flagged after a hard bounce on 2026-03-17" in decision.reason


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
    assert_held(today(decisions, "I1"), "formal notice waits", "no reminder has gone out")


def test_rule_9_a_formal_notice_recorded_by_a_later_run_does_not_open_the_legal_gate():
    decisions = plan(receivables(invoice("I1", due_date=DUE_JAN_16)),
                     ledger=notice_history(sent("I1", Step.formal_notice, date(2026, 3, 25))))

    assert not [d for d in decisions if d.outcome in (Outcome.legal_handoff, Outcome.send)]
    assert_held(today(decisions, "I1"), "legal handoff waits")


# -- rule 10: at most 5 messages per debtor and day --------------------------------------------------------

# Seven invoices of one debtor, all at reminder_1 on AS_OF (reminder_2 is after it for each), numbered so that
# invoice number order is the reverse of due date order, and listed newest first.
SEVEN_DUE_DATES = [date(2026, 3, d) for d in (4, 5, 6, 9, 10, 11, 12)]


def debtor_with_seven_invoices_at_reminder_1(debtor_id: str = "C-DUPONT", currency: str = "EUR") -> list[dict]:
    rows = [invoice(f"{debtor_id}-{currency}-{n}", debtor_id=debtor_id, number=f"F-{debtor_id}-{99 - n}",
                    due_date=due, currency=currency)
            for n, due in enumerate(SEVEN_DUE_DATES)]
    return list(reversed(rows))


def test_rule_10_seven_due_invoices_send_five_oldest_first_and_defer_two():
    seven = receivables(*debtor_with_seven_invoices_at_reminder_1())

    decisions = plan(seven)

    sent_today = sorted(d.due_date for d in sends(decisions))
    deferred = [d for d in decisions if d.outcome is Outcome.deferred]
    assert sent_today == SEVEN_DUE_DATES[:5]
    assert sorted(d.due_date for d in deferred) == SEVEN_DUE_DATES[5:]
    assert all(d.step is Step.reminder_1 for d in deferred)
    assert all("at most 5 messages" in d.reason and "next run" in d.reason for d in deferred)


def test_rule_10_messages_already_sent_today_count():
    two_reminded_this_morning = [invoice(f"EARLY-{n}", due_date=DUE_REMINDER_1_DUE) for n in range(2)]
    nine = receivables(*debtor_with_seven_invoices_at_reminder_1(), *two_reminded_this_morning)
    sent_this_morning = [sent(f"EARLY-{n}", Step.reminder_1, AS_OF) for n in range(2)] + \
                        [skipped(f"EARLY-{n}", Step.pre_due, AS_OF) for n in range(2)]

    decisions = plan(nine, ledger=sent_this_morning)

    assert sorted(d.due_date for d in sends(decisions)) == SEVEN_DUE_DATES[:3]
    assert sorted(d.due_date for d in decisions if d.outcome is Outcome.deferred) == SEVEN_DUE_DATES[3:]


def test_rule_10_messages_sent_on_another_day_do_not_count():
    two_reminded_yesterday = [invoice(f"EARLY-{n}", due_date=DUE_REMINDER_1_DUE) for n in range(2)]
    nine = receivables(*debtor_with_seven_invoices_at_reminder_1(), *two_reminded_yesterday)
    sent_yesterday = [sent(f"EARLY-{n}", Step.reminder_1, date(2026, 3, 17)) for n in range(2)] + \
                     [skipped(f"EARLY-{n}", Step.pre_due, date(2026, 3, 17)) for n in range(2)]

    assert sorted(d.due_date for d in sends(plan(nine, ledger=sent_yesterday))) == SEVEN_DUE_DATES[:5]


def test_rule_10_the_limit_is_per_debtor():
    two_debtors = receivables(*debtor_with_seven_invoices_at_reminder_1("C-DUPONT"),
                              invoice_due_for_reminder_1("MARTIN-1", debtor_id="C-MARTIN"))

    decisions = plan(two_debtors)

    assert today(decisions, "MARTIN-1").outcome is Outcome.send
    assert len([d for d in sends(decisions) if d.debtor_id == "C-DUPONT"]) == 5


def test_rule_10_one_message_per_invoice_when_not_grouped():
    decisions = plan(receivables(*debtor_with_seven_invoices_at_reminder_1()))

    keys = [d.group_key for d in sends(decisions)]
    assert len(set(keys)) == len(keys) == 5


def test_rule_10_grouped_mode_makes_one_message_per_debtor_step_and_currency():
    portfolio = receivables(
        *debtor_with_seven_invoices_at_reminder_1("C-DUPONT", "EUR"),
        *debtor_with_seven_invoices_at_reminder_1("C-DUPONT", "USD"),
        *debtor_with_seven_invoices_at_reminder_1("C-MARTIN", "EUR"),
        invoice("DUPONT-R2", debtor_id="C-DUPONT", due_date=date(2026, 2, 27)),  # reminder_2 on Mon 16 March
    )

    decisions = plan(portfolio, policy=with_limits(group_invoices_per_step=True))

    messages = sends(decisions)
    assert len(messages) == 22, "grouped messages count once: nothing deferred"
    by_key: dict[str, set] = {}
    for d in messages:
        by_key.setdefault(d.group_key, set()).add((d.debtor_id, d.step, d.currency))
    assert all(len(members) == 1 for members in by_key.values()), by_key
    assert sorted(next(iter(m)) for m in by_key.values()) == sorted([
        ("C-DUPONT", Step.reminder_1, "EUR"), ("C-DUPONT", Step.reminder_1, "USD"),
        ("C-DUPONT", Step.reminder_2, "EUR"), ("C-MARTIN", Step.reminder_1, "EUR"),
    ])


# -- the strategic ladder -----------------------------------------------------------------------------

def test_strategic_reminder_3_is_a_phone_task():
    # Strategic, due Wed 11 Feb 2026: reminder_2 Tue 3 March, reminder_3 (+35) Wed 18 March.
    key_account_at_reminder_3 = receivables(invoice("I1", due_date=date(2026, 2, 11), strategic=True))
    reminders_sent = [sent("I1", Step.pre_due, date(2026, 2, 6)), sent("I1", Step.reminder_1, date(2026, 2, 16)),
                      sent("I1", Step.reminder_2, date(2026, 3, 3))]

    decision = today(plan(key_account_at_reminder_3, segment_name="strategic", ledger=reminders_sent), "I1")

    assert (decision.outcome, decision.step, decision.channel) == (Outcome.phone_task, Step.reminder_3, Channel.phone)
    assert "calls" in decision.reason


def test_strategic_formal_notice_waits_for_approval():
    # Strategic, due Tue 27 Jan 2026: reminder_3 phone task Tue 3 March, formal_notice (+50) Wed 18 March.
    key_account_at_formal_notice = receivables(invoice("I1", due_date=date(2026, 1, 27), strategic=True))
    called_on_3_march = [sent("I1", Step.pre_due, date(2026, 1, 22)), sent("I1", Step.reminder_1, date(2026, 2, 2)),
                         sent("I1", Step.reminder_2, date(2026, 2, 16)),
                         ledger_entry("I1", Step.reminder_3, LedgerStatus.queued, date(2026, 3, 3), Channel.phone)]

    decision = today(plan(key_account_at_formal_notice, segment_name="strategic", ledger=called_on_3_march), "I1")

    assert (decision.outcome, decision.step) == (Outcome.awaiting_approval, Step.formal_notice)
    assert decision.channel is Channel.email_and_letter
    assert "approval" in decision.reason


@pytest.mark.parametrize("formal_notice_status", [LedgerStatus.sent, LedgerStatus.awaiting_approval])
def test_strategic_debtor_is_never_handed_to_legal(formal_notice_status):
    # Strategic, due Mon 1 Sep 2025, six months overdue, every step done long ago.
    key_account_long_overdue = receivables(invoice("I1", due_date=date(2025, 9, 1), strategic=True))
    whole_ladder_done = [sent("I1", Step.pre_due, date(2025, 8, 27)), sent("I1", Step.reminder_1, date(2025, 9, 8)),
                         sent("I1", Step.reminder_2, date(2025, 9, 22)),
                         ledger_entry("I1", Step.reminder_3, LedgerStatus.queued, date(2025, 10, 6), Channel.phone),
                         ledger_entry("I1", Step.formal_notice, formal_notice_status, date(2025, 10, 21))]

    decisions = plan(key_account_long_overdue, segment_name="strategic", ledger=whole_ladder_done)

    assert not [d for d in decisions if d.outcome is Outcome.legal_handoff or d.step is Step.legal_handoff]
    assert_held(today(decisions, "I1"), "never handed to legal automatically")


def test_strategic_first_run_long_overdue_starts_with_the_phone_call():
    decisions = plan(receivables(invoice("I1", due_date=date(2025, 9, 1), strategic=True)), segment_name="strategic")

    decision = today(decisions, "I1")
    assert (decision.outcome, decision.step) == (Outcome.phone_task, Step.reminder_3)
    assert not [d for d in decisions if d.outcome is Outcome.legal_handoff]


# -- every invoice, every reason ------------------------------------------------------------------------

def test_a_mixed_portfolio_gets_one_explained_decision_per_invoice_for_today():
    portfolio = receivables(
        invoice_due_for_reminder_1("SEND"),
        invoice_due_for_reminder_1("DISPUTED", disputed=True),
        invoice_due_for_reminder_1("DRAFT", status="draft"),
        invoice_due_for_reminder_1("CENTS", residual="0.50", amount_total="100.00"),
        invoice("NOT-DUE", due_date=date(2026, 5, 29)),
        invoice("CATCH-UP", due_date=date(2026, 2, 6), debtor_id="C-MARTIN"),
        invoice("STRATEGIC", due_date=date(2026, 2, 11), debtor_id="C-KEY"),
        invoice("COVERED", due_date=DUE_REMINDER_1_DUE, debtor_id="C-CREDIT", residual="80.00"),
    )
    debtor_segments = segments(segment("C-DUPONT", "standard"), segment("C-MARTIN", "chronic"),
                               segment("C-KEY", "strategic"), segment("C-CREDIT", "reliable"))

    decisions = plan(portfolio, debtor_segments=debtor_segments, credit=credits(credit_note("C-CREDIT", "80.00")))

    outcome_of = {invoice_id: today(decisions, invoice_id).outcome for invoice_id in portfolio["invoice_id"]}
    assert outcome_of == {
        "SEND": Outcome.send, "DISPUTED": Outcome.held, "DRAFT": Outcome.held, "CENTS": Outcome.held,
        "NOT-DUE": Outcome.held, "CATCH-UP": Outcome.send, "STRATEGIC": Outcome.phone_task, "COVERED": Outcome.held,
    }
    assert {d.segment for d in decisions if d.invoice_id == "CATCH-UP"} == {"chronic"}


def test_a_debtor_missing_from_the_segments_is_planned_on_the_standard_ladder():
    decision = today(plan(receivables(invoice_due_for_reminder_1()), debtor_segments=segments()), "I1")

    assert (decision.outcome, decision.step, decision.segment) == (Outcome.send, Step.reminder_1, "standard")


def test_amicable_steps_are_the_ones_before_the_formal_notice():
    # The gates of rules 4 and 5 rely on this order.
    assert [s.rank for s in AMICABLE_STEPS] == [0, 1, 2, 3]
    assert Step.formal_notice.rank == 4 and Step.legal_handoff.rank == 5


# -- prescription (Code de commerce L110-4, Code de la consommation L218-2) ---------------------------

from dunning.legal_fr import load_legal_tables  # noqa: E402

LEGAL = load_legal_tables()


def plan_with_law(invoices, *, as_of: date, ledger=()) -> list[Decision]:
    return plan_collection(invoices, everyone_in(invoices, "standard"), no_credits(), [], list(ledger), as_of,
                           POLICY, CALENDAR, LEGAL)


def test_a_prescribed_invoice_is_never_dunned_again():
    # Between merchants: due 2021-03-15, prescribed at the end of 2026-03-15.
    five_years_old = receivables(invoice("I1", due_date=date(2021, 3, 15)))
    [decision] = plan_with_law(five_years_old, as_of=date(2026, 3, 16))
    assert decision.outcome is Outcome.held and decision.reason.startswith("prescribed on 2026-03-15")


@pytest.mark.parametrize("disputed", [False, True])
def test_an_invoice_near_prescription_goes_to_the_legal_queue_whatever_its_step(disputed):
    # Due 2021-05-29: prescribed on 2026-05-29, 72 days after 2026-03-18.
    nearly_prescribed = receivables(invoice("I1", due_date=date(2021, 5, 29), disputed=disputed))
    [decision] = plan_with_law(nearly_prescribed, as_of=AS_OF)
    assert (decision.outcome, decision.step) == (Outcome.legal_handoff, Step.legal_handoff)
    assert "prescription approaching" in decision.reason and "2026-05-29" in decision.reason


def test_a_consumer_claim_prescribes_after_two_years():
    consumer = receivables(invoice("I1", due_date=date(2024, 5, 29), is_consumer=True))
    [decision] = plan_with_law(consumer, as_of=AS_OF)
    assert decision.outcome is Outcome.legal_handoff and "2026-05-29" in decision.reason
    merchant = receivables(invoice("I1", due_date=date(2024, 5, 29)))
    assert all(d.outcome is not Outcome.legal_handoff for d in plan_with_law(merchant, as_of=AS_OF))


def test_an_invoice_already_handed_off_is_not_handed_off_twice():
    nearly_prescribed = receivables(invoice("I1", due_date=date(2021, 5, 29)))
    handed = [ledger_entry("I1", Step.legal_handoff, LedgerStatus.queued, date(2026, 3, 1), Channel.legal)]
    [decision] = [d for d in plan_with_law(nearly_prescribed, as_of=AS_OF, ledger=handed)
                  if d.outcome is not Outcome.superseded]
    assert decision.outcome is Outcome.held


# -- what was agreed: disputes, promises, plans, holds (issue 4) ----------------------------------------

from decimal import Decimal  # noqa: E402

from dunning.arrangements import (  # noqa: E402
    Arrangements, Dispute, DisputeReason, HoldKind, Installment, PaymentPlan, Promise,
)


def plan_agreed(invoices, agreed: Arrangements, *, holds=(), ledger=(), as_of: date = AS_OF) -> list[Decision]:
    return plan_collection(invoices, everyone_in(invoices, "standard"), no_credits(), list(holds), list(ledger),
                           as_of, POLICY, CALENDAR, None, agreed)


def test_an_open_dispute_holds_its_invoice_and_names_the_reason():
    disputed = receivables(invoice_due_for_reminder_1())
    agreed = Arrangements(disputes={"I1": Dispute(1, "I1", DisputeReason.delivery, date(2026, 3, 10), "colis abîmé")})
    decision = today(plan_agreed(disputed, agreed), "I1")
    assert_held(decision, "disputed (delivery) since 2026-03-10", "colis abîmé")


def test_closing_a_dispute_resumes_at_the_step_due_by_then_under_catch_up():
    # Due 13 March; disputed until 1 April: by then reminder_2 (+15, Monday 30 March) is due.
    resumed = plan_agreed(receivables(invoice_due_for_reminder_1()), Arrangements(), as_of=date(2026, 4, 1))
    assert today(resumed, "I1").step is Step.reminder_2
    assert {d.step for d in resumed if d.outcome is Outcome.superseded} == {Step.pre_due, Step.reminder_1}


def test_a_promise_pauses_reminders_until_its_date_plus_grace():
    promised = Promise(1, "C-DUPONT", frozenset({"I1"}), Decimal("1200.00"), date(2026, 3, 20))
    invoices = receivables(invoice_due_for_reminder_1())
    waiting = today(plan_agreed(invoices, Arrangements(promises=(promised,))), "I1")
    assert_held(waiting, "promise to pay 1200.00 EUR on 2026-03-20", "wait until 2026-03-23")
    after_grace = today(plan_agreed(invoices, Arrangements(promises=(promised,)), as_of=date(2026, 3, 24)), "I1")
    assert after_grace.outcome is Outcome.send


def test_a_broken_promise_moves_the_debtor_one_segment_stricter_and_the_message_says_so():
    # Standard: reminder_2 at +15 (30 March). Chronic: reminder_2 at +10 (23 March).
    invoices = receivables(invoice_due_for_reminder_1())
    reminded = [sent("I1", Step.reminder_1, date(2026, 3, 16))]
    kept_word = today(plan_agreed(invoices, Arrangements(), ledger=reminded, as_of=date(2026, 3, 24)), "I1")
    assert kept_word.outcome is Outcome.held
    broken = Arrangements(broken_promises={"C-DUPONT": date(2026, 3, 20)})
    decision = today(plan_agreed(invoices, broken, ledger=reminded, as_of=date(2026, 3, 24)), "I1")
    assert (decision.outcome, decision.step, decision.broken_promise_on) == (Outcome.send, Step.reminder_2,
                                                                           date(2026, 3, 20))
    assert "chronic ladder" in decision.reason and "promise to pay of 2026-03-20 was not kept" in decision.reason


def test_invoices_in_an_active_payment_plan_are_held():
    plan = PaymentPlan(7, "C-DUPONT", "EUR", frozenset({"I1"}),
                       (Installment(1, date(2026, 4, 30), Decimal("600.00")),
                        Installment(2, date(2026, 5, 31), Decimal("600.00"))))
    decision = today(plan_agreed(receivables(invoice_due_for_reminder_1()), Arrangements(plans=(plan,))), "I1")
    assert_held(decision, "payment plan 7")


def test_a_collective_procedure_blocks_messages_and_the_legal_handoff():
    from dunning.legal_fr import load_legal_tables

    nearly_prescribed = receivables(invoice("I1", due_date=date(2021, 5, 29)))
    procedure = Hold(reason="redressement judiciaire", debtor_id="C-DUPONT", kind=HoldKind.collective_procedure,
                     claim_deadline=date(2026, 5, 15))
    [decision] = plan_collection(nearly_prescribed, everyone_in(nearly_prescribed, "standard"), no_credits(),
                                 [procedure], [], AS_OF, POLICY, CALENDAR, load_legal_tables())
    assert_held(decision, "collective procedure", "mandataire judiciaire by 2026-05-15")


def test_an_expired_hold_no_longer_holds():
    hold = Hold(reason="client en vacances", until=date(2026, 3, 17), debtor_id="C-DUPONT")
    decision = today(plan_agreed(receivables(invoice_due_for_reminder_1()), Arrangements(), holds=[hold]), "I1")
    assert decision.outcome is Outcome.send
