"""Debtor segmentation (dunning.rules.segmentation): first matching rule, the evidence in words, a risk score."""

from __future__ import annotations

from datetime import date

import pytest

from builders import (
    credit_note,
    credits,
    days_before,
    history,
    invoice,
    no_credits,
    no_history,
    paid_invoice,
    paid_on_time_history,
    receivables,
    shipped_policy,
)
from dunning.config import Segment
from dunning.rules.segmentation import SEGMENT_COLUMNS, segment_debtors

AS_OF = date(2026, 3, 18)
POLICY = shipped_policy()
RULES = POLICY.segments


def segment_all(invoices, paid=None, credit=None, rules=RULES) -> dict[str, dict]:
    frame = segment_debtors(invoices, credit if credit is not None else no_credits(),
                            paid if paid is not None else no_history(), AS_OF, rules, POLICY.tolerance, "EUR")
    assert list(frame.columns) == SEGMENT_COLUMNS
    assert frame["debtor_id"].is_unique
    return {row["debtor_id"]: row for row in frame.to_dict("records")}


def segment_one(invoices, paid=None, credit=None, debtor_id: str = "C-DUPONT") -> dict:
    return segment_all(invoices, paid, credit)[debtor_id]


def not_yet_due(debtor_id: str = "C-DUPONT", **fields) -> dict:
    return invoice(f"I-{debtor_id}-NOT-DUE", debtor_id=debtor_id, due_date=days_before(AS_OF, -10), **fields)


def late_payments(debtor_id: str, days_late: list[int], paid_by: date = AS_OF) -> list[dict]:
    """Paid invoices of the history with the given lateness each, all paid inside the window."""
    return [paid_invoice(debtor_id, f"H-{debtor_id}-{n}", due_date=days_before(paid_by, late + 10 + 15 * n),
                         days_late=late) for n, late in enumerate(days_late)]


# -- each rule -------------------------------------------------------------------------------------

def test_a_strategic_debtor_is_strategic_whatever_else_is_true():
    key_account_that_pays_terribly = receivables(
        invoice("I-OLD", due_date=days_before(AS_OF, 150), residual="50000.00", credit_limit="1000.00",
                strategic=True),
    )
    chronic_history = history(*late_payments("C-DUPONT", [40, 40, 40, 40]))

    row = segment_one(key_account_that_pays_terribly, chronic_history)

    assert row["segment"] == Segment.strategic.value
    assert "strategic" in row["rule"]


def test_an_invoice_more_than_90_days_overdue_makes_the_debtor_high_risk():
    debtor_with_invoice_91_days_overdue = receivables(
        invoice("I-91", number="F-2025-0042", due_date=days_before(AS_OF, 91)),
        invoice("I-10", number="F-2026-0100", due_date=days_before(AS_OF, 10)),
    )

    row = segment_one(debtor_with_invoice_91_days_overdue, history(*late_payments("C-DUPONT", [0] * 10)))

    assert row["segment"] == Segment.high_risk.value
    assert "F-2025-0042" in row["rule"]
    assert "91 days" in row["rule"]


def test_an_invoice_exactly_90_days_overdue_is_not_yet_high_risk():
    debtor_with_invoice_90_days_overdue = receivables(invoice("I-90", due_date=days_before(AS_OF, 90)))

    assert segment_one(debtor_with_invoice_90_days_overdue)["segment"] == Segment.standard.value


def test_a_disputed_invoice_more_than_90_days_overdue_still_counts_as_risk():
    debtor_disputing_an_old_invoice = receivables(
        invoice("I-OLD", number="F-2025-0007", due_date=days_before(AS_OF, 120), disputed=True,
                disputed_reason="livraison incomplète"),
    )

    assert segment_one(debtor_disputing_an_old_invoice)["segment"] == Segment.high_risk.value


def test_open_balance_above_the_credit_limit_makes_the_debtor_high_risk():
    debtor_over_their_credit_limit = receivables(
        invoice("I1", due_date=days_before(AS_OF, 5), residual="7000.00", credit_limit="10000.00"),
        invoice("I2", due_date=days_before(AS_OF, -20), residual="5000.00", credit_limit="10000.00"),
    )

    row = segment_one(debtor_over_their_credit_limit)

    assert row["segment"] == Segment.high_risk.value
    assert "12000.00" in row["rule"] and "10000.00" in row["rule"]


def test_unapplied_credit_brings_the_open_balance_back_under_the_credit_limit():
    debtor_over_the_limit_until_their_credit_note_counts = receivables(
        invoice("I1", due_date=days_before(AS_OF, 5), residual="12000.00", credit_limit="10000.00"),
    )
    their_credit_note = credits(credit_note("C-DUPONT", "3000.00"))

    row = segment_one(debtor_over_the_limit_until_their_credit_note_counts, credit=their_credit_note)

    assert row["segment"] == Segment.standard.value


def test_invoices_in_another_currency_do_not_count_against_a_eur_credit_limit():
    debtor_with_a_large_usd_invoice = receivables(
        invoice("I1", due_date=days_before(AS_OF, 5), residual="500.00", credit_limit="1000.00"),
        invoice("I2", due_date=days_before(AS_OF, 5), residual="90000.00", currency="USD", credit_limit="1000.00"),
    )

    assert segment_one(debtor_with_a_large_usd_invoice)["segment"] == Segment.standard.value


def test_half_of_the_paid_invoices_more_than_15_days_late_is_chronic():
    debtor_paying_half_their_invoices_late = receivables(not_yet_due())
    half_late = history(*late_payments("C-DUPONT", [16, 30, 0, 2]))

    row = segment_one(debtor_paying_half_their_invoices_late, half_late)

    assert row["segment"] == Segment.chronic.value
    assert "2 of 4" in row["rule"] and "15 days late" in row["rule"]


def test_paid_exactly_15_days_late_is_not_late_for_the_chronic_rule():
    debtor_paying_on_the_last_tolerated_day = receivables(not_yet_due())
    on_the_edge = history(*late_payments("C-DUPONT", [15, 15, 0, 0]))

    assert segment_one(debtor_paying_on_the_last_tolerated_day, on_the_edge)["segment"] == Segment.standard.value


def test_mean_lateness_above_20_days_is_chronic():
    # One invoice in four is late (under half), but 90 days late: 22.5 days on average.
    debtor_with_one_very_late_payment = receivables(not_yet_due())
    one_very_late = history(*late_payments("C-DUPONT", [90, 0, 0, 0]))

    row = segment_one(debtor_with_one_very_late_payment, one_very_late)

    assert row["segment"] == Segment.chronic.value
    assert "22.5 days late on average" in row["rule"]


def test_early_payments_do_not_offset_late_ones_in_the_mean():
    # 84 days late once and three payments 30 days early: the mean counts the early ones as 0 -> 21.
    debtor_paying_early_and_once_very_late = receivables(not_yet_due())
    mixed = history(*late_payments("C-DUPONT", [84, -30, -30, -30]))

    row = segment_one(debtor_paying_early_and_once_very_late, mixed)

    assert row["segment"] == Segment.chronic.value
    assert "21.0 days" in row["rule"]


def test_fewer_than_three_paid_invoices_is_never_chronic():
    debtor_with_two_late_payments = receivables(not_yet_due())

    row = segment_one(debtor_with_two_late_payments, history(*late_payments("C-DUPONT", [60, 60])))

    assert row["segment"] == Segment.standard.value


def test_a_debtor_paying_on_time_with_nothing_long_overdue_is_reliable():
    debtor_paying_on_time = receivables(invoice("I1", due_date=days_before(AS_OF, 30)))
    ten_paid_one_slightly_late = history(*late_payments("C-DUPONT", [6, 0, 0, 0, 0, 0, 0, 0, 0, 0]))

    row = segment_one(debtor_paying_on_time, ten_paid_one_slightly_late)

    assert row["segment"] == Segment.reliable.value
    assert "10 invoices paid" in row["rule"]


def test_more_than_ten_percent_paid_over_5_days_late_is_not_reliable():
    debtor_paying_two_in_ten_a_bit_late = receivables(not_yet_due())
    two_in_ten_late = history(*late_payments("C-DUPONT", [6, 6, 0, 0, 0, 0, 0, 0, 0, 0]))

    assert segment_one(debtor_paying_two_in_ten_a_bit_late, two_in_ten_late)["segment"] == Segment.standard.value


def test_an_invoice_more_than_30_days_overdue_is_not_reliable():
    good_payer_with_one_invoice_31_days_overdue = receivables(invoice("I1", due_date=days_before(AS_OF, 31)))
    on_time = history(*late_payments("C-DUPONT", [0] * 5))

    row = segment_one(good_payer_with_one_invoice_31_days_overdue, on_time)

    assert row["segment"] == Segment.standard.value


def test_a_debtor_without_history_is_standard():
    new_debtor = receivables(invoice("I1", due_date=days_before(AS_OF, 10)))

    row = segment_one(new_debtor)

    assert row["segment"] == Segment.standard.value
    assert "0 invoices paid" in row["rule"]


# -- order and evidence ------------------------------------------------------------------------------

def test_high_risk_comes_before_chronic():
    chronic_payer_with_a_long_overdue_invoice = receivables(invoice("I-OLD", due_date=days_before(AS_OF, 100)))
    chronic_history = history(*late_payments("C-DUPONT", [40, 40, 40]))

    assert segment_one(chronic_payer_with_a_long_overdue_invoice, chronic_history)["segment"] == \
        Segment.high_risk.value


def test_chronic_comes_before_reliable():
    # 1 in 10 late satisfies "reliable", but that one was 250 days late: 25 days on average is chronic.
    mostly_punctual_debtor_with_one_disaster = receivables(not_yet_due())
    one_disaster = history(*late_payments("C-DUPONT", [250, 0, 0, 0, 0, 0, 0, 0, 0, 0], paid_by=AS_OF))

    assert segment_one(mostly_punctual_debtor_with_one_disaster, one_disaster)["segment"] == Segment.chronic.value


def test_payments_older_than_the_history_window_are_not_evidence():
    # Three invoices paid 40 days late, more than a year ago: they say nothing about today.
    debtor_late_only_long_ago = receivables(not_yet_due())
    paid_400_days_ago = history(*late_payments("C-DUPONT", [40, 40, 40], paid_by=days_before(AS_OF, 400)))

    row = segment_one(debtor_late_only_long_ago, paid_400_days_ago)

    assert row["segment"] == Segment.standard.value
    assert "0 invoices paid in the last 365 days" in row["rule"]


def test_payments_inside_the_history_window_are_evidence():
    debtor_late_within_the_year = receivables(not_yet_due())
    paid_300_days_ago = history(*late_payments("C-DUPONT", [40, 40, 40], paid_by=days_before(AS_OF, 300)))

    assert segment_one(debtor_late_within_the_year, paid_300_days_ago)["segment"] == Segment.chronic.value


def test_payments_after_the_as_of_date_are_not_evidence_for_a_backfill():
    debtor_late_only_after_the_backfill_date = receivables(not_yet_due())
    paid_next_month = history(*late_payments("C-DUPONT", [40, 40, 40], paid_by=days_before(AS_OF, -60)))

    assert segment_one(debtor_late_only_after_the_backfill_date, paid_next_month)["segment"] == \
        Segment.standard.value


def test_a_partially_paid_invoice_is_not_a_paid_invoice():
    # Three late invoices, but one of them was only half paid: two paid invoices are not enough to judge.
    debtor_with_a_half_paid_invoice = receivables(not_yet_due())
    rows = late_payments("C-DUPONT", [40, 40, 40])
    rows[2] = {**rows[2], "paid_amount": rows[2]["amount_total"] / 2}

    row = segment_one(debtor_with_a_half_paid_invoice, history(*rows))

    assert row["segment"] == Segment.standard.value
    assert "2 invoices paid" in row["rule"]


def test_an_invoice_paid_within_the_tolerance_counts_as_paid():
    debtor_who_left_50_cents = receivables(not_yet_due())
    rows = late_payments("C-DUPONT", [40, 40, 40])
    rows[2] = {**rows[2], "paid_amount": rows[2]["amount_total"] - POLICY.tolerance}

    assert segment_one(debtor_who_left_50_cents, history(*rows))["segment"] == Segment.chronic.value


def test_history_of_other_debtors_is_not_mixed_in():
    two_debtors = receivables(not_yet_due("C-DUPONT"), not_yet_due("C-MARTIN"))
    only_martin_pays_late = history(*late_payments("C-MARTIN", [40, 40, 40]),
                                    *paid_on_time_history("C-DUPONT", 5, paid_on_or_before=AS_OF))

    found = segment_all(two_debtors, only_martin_pays_late)

    assert found["C-MARTIN"]["segment"] == Segment.chronic.value
    assert found["C-DUPONT"]["segment"] == Segment.reliable.value


def test_interleaved_rows_of_three_debtors_each_give_their_own_evidence():
    # Rows of one debtor apart from each other, as an accounting query ordered by number returns them.
    rows = receivables(
        invoice("I-A-OLD", debtor_id="C-A", due_date=days_before(AS_OF, 120)),
        not_yet_due("C-B"),
        invoice("I-C-OLD", debtor_id="C-C", due_date=days_before(AS_OF, 95)),
        invoice("I-A-NEW", debtor_id="C-A", due_date=days_before(AS_OF, 10)),
        invoice("I-C-NEW", debtor_id="C-C", due_date=days_before(AS_OF, 100)),
    )

    found = segment_all(rows)

    assert list(found) == ["C-A", "C-B", "C-C"]
    assert found["C-A"]["rule"].startswith("invoice F-I-A-OLD is 120 days overdue")
    assert found["C-C"]["rule"].startswith("invoice F-I-C-NEW is 100 days overdue")
    assert found["C-B"]["segment"] == Segment.standard.value


# -- the risk score ---------------------------------------------------------------------------------

def test_the_score_is_higher_for_a_worse_debtor_and_stays_within_0_and_100():
    debtors = receivables(
        not_yet_due("C-PUNCTUAL"),
        invoice("I-MID", debtor_id="C-SLOW", due_date=days_before(AS_OF, 20)),
        invoice("I-BAD", debtor_id="C-WORST", due_date=days_before(AS_OF, 400), residual="90000.00",
                credit_limit="1000.00"),
    )
    paid = history(
        *late_payments("C-PUNCTUAL", [0] * 10),
        *late_payments("C-SLOW", [30, 30, 0, 0]),
        *late_payments("C-WORST", [200, 200, 200, 200]),
    )

    found = segment_all(debtors, paid)
    scores = {debtor_id: row["score"] for debtor_id, row in found.items()}

    assert all(isinstance(score, int) and 0 <= score <= 100 for score in scores.values()), scores
    assert scores["C-PUNCTUAL"] < scores["C-SLOW"] < scores["C-WORST"]
    assert scores["C-PUNCTUAL"] == 0
    assert scores["C-WORST"] == 100


@pytest.mark.parametrize("days_overdue", [10, 45, 80])
def test_older_overdue_means_a_higher_score(days_overdue):
    younger = receivables(invoice("I1", due_date=days_before(AS_OF, days_overdue)))
    older = receivables(invoice("I1", due_date=days_before(AS_OF, days_overdue + 10)))

    assert segment_one(older)["score"] > segment_one(younger)["score"]


def test_only_debtors_with_invoices_are_segmented():
    one_debtor = receivables(not_yet_due("C-DUPONT"))
    stranger_history = history(*late_payments("C-ELSEWHERE", [0, 0, 0]))

    assert set(segment_all(one_debtor, stranger_history)) == {"C-DUPONT"}
