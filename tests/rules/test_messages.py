"""What a message asks the debtor to pay (dunning.rules.messages.MessageContext.amount_to_pay)."""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from decimal import Decimal

from letters import b2b_letter
from dunning.rules.messages import InstallmentDue


def test_a_formal_notice_asks_for_the_total_its_letter_states():
    notice = b2b_letter().context
    assert notice.amount_to_pay == notice.notice.total != notice.total_due


def test_a_reminder_asks_for_the_open_amount_net_of_credits():
    reminder = replace(b2b_letter().context, step="reminder_1", response_deadline=None, penalties=None)
    assert reminder.amount_to_pay == reminder.total_due


def test_an_installment_reminder_asks_for_that_installment_only():
    installment = InstallmentDue(plan_id=3, seq=1, count=2, due_date=date(2026, 3, 1), amount=Decimal("100.00"))
    reminder = replace(b2b_letter().context, step="installment_pre_due", response_deadline=None, penalties=None,
                       installment=installment)
    assert reminder.amount_to_pay == Decimal("100.00")


def test_a_penalty_statement_asks_for_the_penalties_and_indemnities():
    statement = replace(b2b_letter().context, step="paid_late_statement", response_deadline=None)
    assert statement.amount_to_pay == statement.total_with_penalties > statement.total_due
