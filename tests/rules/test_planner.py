"""The collection planner (dunning.rules.planner): rules 6-8, 10, 12 and 13 of DESIGN.md, key accounts,
prescription, what was agreed, and a night whose rate tables are behind. The ladder's own rules
(1-5, 9, 11) are in test_ladder.py.
"""

from __future__ import annotations

from datetime import date, datetime, timezone
from decimal import Decimal

import pytest

from builders import (
    credit_note,
    credits,
    everyone_in,
    invoice,
    ledger_entry,
    no_credits,
    receivables,
    segment,
    segments,
    sent,
    skipped,
)
from dunning.config import AMICABLE_STEPS, Step
from dunning.rules.delivery_events import AddressFlag
from dunning.rules.planner import Channel, Decision, Hold, LedgerStatus, Outcome, plan_collection, step_dates
from planning import (
    AS_OF, CALENDAR, DUE_REMINDER_1_DUE, POLICY, assert_held, invoice_due_for_reminder_1, plan, sends,
    standard_history_up_to_reminder_3, superseded_steps, today, with_limits, with_policy,
)

# Standard, due Mon 2 Feb 2026: reminder_3 Wed 4 Mar, formal_notice Thu 19 Mar.
DUE_FEB_2 = date(2026, 2, 2)
FORMAL_NOTICE_DAY = date(2026, 3, 19)


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
    reminded_on_2_march = [skipped("DUPONT-R2", Step.pre_due, date(2026, 3, 2)),
                           sent("DUPONT-R2", Step.reminder_1, date(2026, 3, 2))]

    decisions = plan(portfolio, policy=with_limits(group_invoices_per_step=True), ledger=reminded_on_2_march)

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


# -- rule 12: one registered letter per debtor and day -------------------------------------------------

def debtor_with_invoices_at_formal_notice(*invoice_ids: str, currency: str = "EUR", email: str | None = "compta@dupont-sa.fr"):
    """Invoices due Mon 2 Feb 2026, each with reminder_3 sent on 4 March: on 19 March the formal notice is due."""
    rows = [invoice(i, due_date=DUE_FEB_2, currency=currency, email=email) for i in invoice_ids]
    history = [e for i in invoice_ids for e in standard_history_up_to_reminder_3(i, DUE_FEB_2, date(2026, 3, 4))]
    return rows, history


@pytest.mark.parametrize("grouped", [False, True], ids=["per-invoice-config", "grouped-config"])
@pytest.mark.parametrize(("email", "channel"), [("compta@dupont-sa.fr", Channel.email_and_letter),
                                                 (None, Channel.letter)], ids=["with-email", "without-email"])
def test_rule_12_a_debtors_formal_notices_of_one_day_are_one_letter(grouped, email, channel):
    rows, history = debtor_with_invoices_at_formal_notice("FN1", "FN2", "FN3", email=email)

    decisions = plan(receivables(*rows), as_of=FORMAL_NOTICE_DAY, ledger=history,
                     policy=with_limits(group_invoices_per_step=grouped))

    notices = sends(decisions)
    assert [(d.invoice_id, d.step) for d in notices] == [(i, Step.formal_notice) for i in ("FN1", "FN2", "FN3")]
    assert len({d.group_key for d in notices}) == 1
    assert {d.channel for d in notices} == {channel}


def test_rule_12_formal_notices_in_two_currencies_are_two_letters():
    euro, history = debtor_with_invoices_at_formal_notice("EUR1", "EUR2")
    dollar, dollar_history = debtor_with_invoices_at_formal_notice("USD1", currency="USD")

    notices = sends(plan(receivables(*euro, *dollar), as_of=FORMAL_NOTICE_DAY, ledger=history + dollar_history))

    keys = {d.currency: d.group_key for d in notices}
    assert len(notices) == 3 and len(set(keys.values())) == 2


def test_rule_12_the_letter_counts_as_one_message_for_the_daily_limit():
    # Three formal notices (one letter) and five reminder_1 of one debtor: 6 messages, 5 go, the newest waits.
    notices, history = debtor_with_invoices_at_formal_notice("FN1", "FN2", "FN3")
    reminders = debtor_with_seven_invoices_at_reminder_1()[2:]      # due 4 to 10 March

    decisions = plan(receivables(*notices, *reminders), as_of=FORMAL_NOTICE_DAY, ledger=history)

    assert len([d for d in sends(decisions) if d.step is Step.formal_notice]) == 3
    assert sorted(d.due_date for d in sends(decisions) if d.step is Step.reminder_1) == SEVEN_DUE_DATES[:4]
    [deferred] = [d for d in decisions if d.outcome is Outcome.deferred]
    assert deferred.due_date == SEVEN_DUE_DATES[4]


def test_rule_12_formal_notices_sent_earlier_today_count_as_one_message():
    # Two formal notices went out this morning as one letter: 4 of the 5 reminders may still go today.
    notices, history = debtor_with_invoices_at_formal_notice("FN1", "FN2")
    history += [sent(i, Step.formal_notice, FORMAL_NOTICE_DAY) for i in ("FN1", "FN2")]
    reminders = debtor_with_seven_invoices_at_reminder_1()[2:]

    decisions = plan(receivables(*notices, *reminders), as_of=FORMAL_NOTICE_DAY, ledger=history)

    assert sorted(d.due_date for d in sends(decisions)) == SEVEN_DUE_DATES[:4]
    assert [d.due_date for d in decisions if d.outcome is Outcome.deferred] == [SEVEN_DUE_DATES[4]]


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


def test_strategic_first_contact_long_overdue_is_reminder_1_not_the_phone_call():
    decisions = plan(receivables(invoice("I1", due_date=date(2025, 9, 1), strategic=True)), segment_name="strategic")

    decision = today(decisions, "I1")
    assert (decision.outcome, decision.step, decision.channel) == (Outcome.send, Step.reminder_1, Channel.email)
    assert not [d for d in decisions if d.outcome is Outcome.legal_handoff]


# -- every invoice, every reason ------------------------------------------------------------------------

def test_a_mixed_portfolio_gets_one_explained_decision_per_invoice_for_today():
    portfolio = receivables(
        invoice_due_for_reminder_1("SEND"),
        invoice_due_for_reminder_1("DISPUTED", disputed=True),
        invoice_due_for_reminder_1("DRAFT", status="draft"),
        invoice_due_for_reminder_1("CENTS", residual="0.50", amount_total="100.00"),
        invoice("NOT-DUE", due_date=date(2026, 5, 29)),
        invoice("FIRST-CONTACT", due_date=date(2026, 2, 6), debtor_id="C-MARTIN"),
        invoice("STRATEGIC", due_date=date(2026, 2, 11), debtor_id="C-KEY"),
        invoice("COVERED", due_date=DUE_REMINDER_1_DUE, debtor_id="C-CREDIT", residual="80.00"),
    )
    debtor_segments = segments(segment("C-DUPONT", "standard"), segment("C-MARTIN", "chronic"),
                               segment("C-KEY", "strategic"), segment("C-CREDIT", "reliable"))

    # The key account was reminded twice; its reminder_3 (+35, Wed 18 March) is the call.
    reminded_twice = [sent("STRATEGIC", Step.pre_due, date(2026, 2, 6)), sent("STRATEGIC", Step.reminder_1, date(2026, 2, 16)),
                      sent("STRATEGIC", Step.reminder_2, date(2026, 3, 3))]

    decisions = plan(portfolio, debtor_segments=debtor_segments, credit=credits(credit_note("C-CREDIT", "80.00")),
                     ledger=reminded_twice)

    outcome_of = {invoice_id: today(decisions, invoice_id).outcome for invoice_id in portfolio["invoice_id"]}
    assert outcome_of == {
        "SEND": Outcome.send, "DISPUTED": Outcome.held, "DRAFT": Outcome.held, "CENTS": Outcome.held,
        "NOT-DUE": Outcome.held, "FIRST-CONTACT": Outcome.send, "STRATEGIC": Outcome.phone_task, "COVERED": Outcome.held,
    }
    assert {d.segment for d in decisions if d.invoice_id == "FIRST-CONTACT"} == {"chronic"}
    assert today(decisions, "FIRST-CONTACT").step is Step.reminder_1


def test_a_debtor_missing_from_the_segments_is_planned_on_the_standard_ladder():
    decision = today(plan(receivables(invoice_due_for_reminder_1()), debtor_segments=segments()), "I1")

    assert (decision.outcome, decision.step, decision.segment) == (Outcome.send, Step.reminder_1, "standard")


def test_amicable_steps_are_the_ones_before_the_formal_notice():
    # The gates of rules 4 and 5 rely on this order.
    assert [s.rank for s in AMICABLE_STEPS] == [0, 1, 2, 3]
    assert Step.formal_notice.rank == 4 and Step.legal_handoff.rank == 5


# -- prescription (Code de commerce L110-4, Code de la consommation L218-2) ---------------------------

from dunning.sources.config_files import load_legal_tables  # noqa: E402

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


from dunning.rules.arrangements import (
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


def test_closing_a_dispute_resumes_one_step_above_the_last_reminder_sent():
    # Due 13 March, reminder_1 sent on 16 March; disputed until 14 April: by then reminder_3 (+30, Monday
    # 13 April) is due, but the ladder resumes at reminder_2.
    reminded = [skipped("I1", Step.pre_due, date(2026, 3, 16)), sent("I1", Step.reminder_1, date(2026, 3, 16))]
    resumed = plan_agreed(receivables(invoice_due_for_reminder_1()), Arrangements(), ledger=reminded,
                          as_of=date(2026, 4, 14))
    assert today(resumed, "I1").step is Step.reminder_2
    assert not [d for d in resumed if d.outcome is Outcome.superseded]


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
    from dunning.sources.config_files import load_legal_tables

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


# -- rule 13: no court for small sums ----------------------------------------------------------------------

# Standard, due Fri 16 Jan 2026: formal_notice sent on Sun 8 March, legal_handoff (17 March) due on AS_OF.
DUE_JAN_16 = date(2026, 1, 16)
NOTICE_SENT_ON_8_MARCH = [*standard_history_up_to_reminder_3("I1", DUE_JAN_16, date(2026, 2, 16)),
                          sent("I1", Step.formal_notice, date(2026, 3, 8))]
OPERATOR_DECIDES = "waits for an operator's decision (write-off, payment plan, or handoff anyway)"


@pytest.mark.parametrize(("residual", "outcome"), [("98.76", Outcome.awaiting_approval),
                                                    ("249.99", Outcome.awaiting_approval),
                                                    ("250.00", Outcome.legal_handoff)])
def test_rule_13_an_invoice_below_the_small_claim_threshold_is_not_handed_to_legal(residual, outcome):
    decision = today(plan(receivables(invoice("I1", due_date=DUE_JAN_16, residual=residual)),
                          ledger=NOTICE_SENT_ON_8_MARCH), "I1")

    assert (decision.outcome, decision.step, decision.channel) == (outcome, Step.legal_handoff, Channel.legal)
    if outcome is Outcome.awaiting_approval:
        assert decision.reason.startswith(f"small claim: open principal {residual} EUR is below legal.min_principal "
                                          f"250.00 EUR: {OPERATOR_DECIDES}")
        assert "formal notice sent on 2026-03-08" in decision.reason
    else:
        assert "small claim" not in decision.reason


@pytest.mark.parametrize(("threshold", "outcome"), [(0, Outcome.legal_handoff), (100, Outcome.awaiting_approval)])
def test_rule_13_the_threshold_comes_from_the_policy(threshold, outcome):
    decision = today(plan(receivables(invoice("I1", due_date=DUE_JAN_16, residual="98.76")),
                          ledger=NOTICE_SENT_ON_8_MARCH, policy=with_policy(legal={"min_principal": threshold})), "I1")

    assert decision.outcome is outcome
    if outcome is Outcome.awaiting_approval:
        assert "below legal.min_principal 100.00 EUR" in decision.reason


@pytest.mark.parametrize(("currency", "company_currency", "outcome"), [
    ("USD", "EUR", Outcome.awaiting_approval), ("EUR", "USD", Outcome.awaiting_approval),
    ("USD", "USD", Outcome.legal_handoff)])
def test_rule_13_an_invoice_in_another_currency_waits_for_an_operator(currency, company_currency, outcome):
    large = receivables(invoice("I1", due_date=DUE_JAN_16, residual="9000.00", currency=currency))

    decision = today(plan(large, ledger=NOTICE_SENT_ON_8_MARCH, company_currency=company_currency), "I1")

    assert (decision.outcome, decision.step) == (outcome, Step.legal_handoff)
    if outcome is Outcome.awaiting_approval:
        assert decision.reason.startswith(f"no small-claim threshold applies to {currency}: legal.min_principal is "
                                          f"in {company_currency} and no exchange rate is kept")
        assert OPERATOR_DECIDES in decision.reason


def test_rule_13_a_small_claim_near_prescription_waits_for_an_operator_and_says_both():
    nearly_prescribed = receivables(invoice("I1", due_date=date(2021, 5, 29), residual="98.76"))

    [decision] = plan(nearly_prescribed, legal=LEGAL)

    assert (decision.outcome, decision.step) == (Outcome.awaiting_approval, Step.legal_handoff)
    assert decision.reason.startswith("small claim: open principal 98.76 EUR is below legal.min_principal 250.00 EUR")
    assert "prescription approaching: the claim is prescribed on 2026-05-29" in decision.reason


def test_rule_13_a_small_claim_awaiting_an_operator_is_not_decided_again():
    awaiting = [*NOTICE_SENT_ON_8_MARCH,
                ledger_entry("I1", Step.legal_handoff, LedgerStatus.awaiting_approval, AS_OF, Channel.legal)]

    decisions = plan(receivables(invoice("I1", due_date=DUE_JAN_16, residual="98.76")), as_of=date(2026, 3, 25),
                     ledger=awaiting)

    assert_held(today(decisions, "I1"), "the legal handoff awaits an operator's decision since 2026-03-18")
    assert [d.outcome for d in decisions] == [Outcome.held]


# -- a night whose rate tables are behind (DESIGN.md, French rules) ------------------------------------------

RATES_MISSING = "2026-H2 rates missing in config/legal_fr.yaml: ECB main refinancing rate of 1 July 2026."
RATES_HELD = "held until the rate tables are updated: 2026-H2 rates missing in config/legal_fr.yaml"


def test_rates_missing_hold_the_steps_that_state_penalties_to_a_business_not_to_a_consumer():
    # Standard, due Fri 6 Feb 2026, reminder_1 sent on 9 Feb: reminder_2 (with penalties for a business) is due.
    business, consumer = invoice("B2B", due_date=date(2026, 2, 6)), invoice("B2C", due_date=date(2026, 2, 6),
                                                                           debtor_id="C-MME-MARTIN", is_consumer=True)
    reminded = [sent(i, Step.reminder_1, date(2026, 2, 9)) for i in ("B2B", "B2C")]

    decisions = plan(receivables(business, consumer), ledger=reminded, rates_missing=RATES_MISSING)

    held = today(decisions, "B2B")
    assert_held(held, RATES_HELD, "reminder_2 states late-payment penalties to a business")
    assert held.step is Step.reminder_2
    assert not superseded_steps(decisions, "B2B"), "a held step supersedes nothing: the next run sends it"
    assert (today(decisions, "B2C").outcome, today(decisions, "B2C").step) == (Outcome.send, Step.reminder_2)


@pytest.mark.parametrize(("due", "step"), [(date(2026, 3, 23), Step.pre_due), (DUE_REMINDER_1_DUE, Step.reminder_1)])
def test_rates_missing_do_not_hold_the_steps_without_penalties(due, step):
    decision = today(plan(receivables(invoice("I1", due_date=due)), rates_missing=RATES_MISSING), "I1")

    assert (decision.outcome, decision.step) == (Outcome.send, step)


def test_rates_missing_hold_the_formal_notice_not_the_legal_handoff():
    at_formal_notice = standard_history_up_to_reminder_3("FN", DUE_FEB_2, date(2026, 3, 4))
    at_legal_handoff = [*standard_history_up_to_reminder_3("LEGAL", DUE_JAN_16, date(2026, 2, 16)),
                        sent("LEGAL", Step.formal_notice, date(2026, 3, 8))]
    invoices = receivables(invoice("FN", due_date=DUE_FEB_2), invoice("LEGAL", due_date=DUE_JAN_16))

    decisions = plan(invoices, as_of=FORMAL_NOTICE_DAY, ledger=at_formal_notice + at_legal_handoff,
                     rates_missing=RATES_MISSING)

    assert_held(today(decisions, "FN"), RATES_HELD, "formal_notice")
    assert today(decisions, "LEGAL").outcome is Outcome.legal_handoff


def test_rates_missing_hold_a_key_accounts_approval_request_not_its_phone_call():
    # Strategic: KEY-CALL at reminder_3 (phone task, +35, 18 March), KEY-NOTICE at formal_notice (approval, 18 March).
    call = invoice("KEY-CALL", due_date=date(2026, 2, 11), debtor_id="C-KEY")
    notice = invoice("KEY-NOTICE", due_date=date(2026, 1, 27), debtor_id="C-KEY")
    history = [sent("KEY-CALL", Step.reminder_2, date(2026, 3, 3)),
               sent("KEY-NOTICE", Step.reminder_2, date(2026, 2, 16)),
               ledger_entry("KEY-NOTICE", Step.reminder_3, LedgerStatus.queued, date(2026, 3, 3), Channel.phone)]

    decisions = plan(receivables(call, notice), segment_name="strategic", ledger=history, rates_missing=RATES_MISSING)

    assert today(decisions, "KEY-CALL").outcome is Outcome.phone_task
    assert_held(today(decisions, "KEY-NOTICE"), RATES_HELD)
