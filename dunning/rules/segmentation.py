"""Debtor segmentation by payment behaviour: first matching rule wins, with the rule in words."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

import pandas as pd

from dunning.config import Segment, SegmentRules
from dunning.rules.aging import chaseable
from dunning.rules.frames import records
from dunning.rules.money import ZERO

__all__ = ["SEGMENT_COLUMNS", "segment_debtors", "risk_score"]

SEGMENT_COLUMNS = ["debtor_id", "segment", "rule", "score"]


@dataclass(frozen=True)
class _Evidence:
    strategic: bool
    max_days_overdue: int
    oldest_number: str | None
    open_total: Decimal          # company currency, net of unapplied credit
    credit_limit: Decimal | None
    paid: int                    # invoices fully paid within the history window
    late_chronic: int            # paid more than chronic.late_days late
    late_reliable: int           # paid more than reliable.late_days late
    mean_lateness: Decimal       # days, early payments counting as 0


def risk_score(evidence: _Evidence, rules: SegmentRules) -> int:
    """0 (no risk) to 100. Weights: age of the oldest overdue item 40, share of late payments 25,
    mean lateness 15, use of the credit limit 20. Each part is capped so one cannot dominate."""
    age = min(max(evidence.max_days_overdue, 0), 120) / 120 * 40
    late_share = (evidence.late_chronic / evidence.paid if evidence.paid else 0) * 25
    lateness = min(float(evidence.mean_lateness), 60) / 60 * 15
    exposure = 0.0
    if evidence.credit_limit and evidence.credit_limit > 0 and evidence.open_total > 0:
        exposure = min(float(evidence.open_total / evidence.credit_limit), 1.5) / 1.5 * 20
    return round(age + late_share + lateness + exposure)


def _classify(e: _Evidence, rules: SegmentRules, window: int) -> tuple[Segment, str]:
    if e.strategic:
        return Segment.strategic, "key account (marked strategic in the accounting system)"
    if e.max_days_overdue > rules.high_risk_overdue_days:
        return Segment.high_risk, (
            f"invoice {e.oldest_number} is {e.max_days_overdue} days overdue "
            f"(more than {rules.high_risk_overdue_days})"
        )
    if e.credit_limit is not None and e.open_total > e.credit_limit:
        return Segment.high_risk, f"open balance {e.open_total} is above the credit limit {e.credit_limit}"
    chronic = rules.chronic
    if e.paid >= chronic.min_paid_invoices:
        if Decimal(e.late_chronic) >= chronic.late_share * e.paid:
            return Segment.chronic, (
                f"{e.late_chronic} of {e.paid} invoices paid in the last {window} days were "
                f"more than {chronic.late_days} days late"
            )
        if e.mean_lateness > chronic.mean_late_days:
            return Segment.chronic, (
                f"invoices paid in the last {window} days were {e.mean_lateness} days late on average "
                f"(more than {chronic.mean_late_days})"
            )
    reliable = rules.reliable
    if (
        e.paid >= reliable.min_paid_invoices
        and Decimal(e.late_reliable) <= reliable.max_late_share * e.paid
        and e.max_days_overdue <= reliable.max_overdue_days
    ):
        return Segment.reliable, (
            f"{e.paid} invoices paid in the last {window} days, {e.late_reliable} more than "
            f"{reliable.late_days} days late, nothing open more than {reliable.max_overdue_days} days overdue"
        )
    return Segment.standard, f"no other rule matched ({e.paid} invoices paid in the last {window} days)"


def segment_debtors(
    invoices: pd.DataFrame,
    credits: pd.DataFrame,
    history: pd.DataFrame,
    as_of: date,
    rules: SegmentRules,
    tolerance: Decimal,
    company_currency: str,
    disputes: dict[str, tuple[int, int]] | None = None,
) -> pd.DataFrame:
    """One row per debtor with open invoices: segment, the rule that matched in words, score.

    Open disputes (count, age in days of the oldest) add to the score and are named in the rule:
    a debtor who contests often is a risk even when the ladder must wait for each dispute.
    """
    disputes = disputes or {}
    open_items = chaseable(invoices, tolerance)
    credit_by_debtor: dict[str, Decimal] = {}
    for credit in records(credits):
        if credit["currency"] == company_currency:
            credit_by_debtor[credit["debtor_id"]] = credit_by_debtor.get(credit["debtor_id"], ZERO) + credit["amount"]

    # The same window as sql/payment_history.sql, (as_of - history_days, as_of], so a caller passing
    # a longer history cannot make year-old payments count as evidence.
    since = as_of - timedelta(days=rules.history_days)
    paid_by_debtor: dict[str, list[int]] = {}
    for item in records(history):
        if not since < item["last_paid_on"] <= as_of:
            continue
        if item["paid_amount"] >= item["amount_total"] - tolerance:
            lateness = max((item["last_paid_on"] - item["due_date"]).days, 0)
            paid_by_debtor.setdefault(item["debtor_id"], []).append(lateness)

    # One pass over the rows, each debtor's evidence gathered as it goes: filtering the whole frame
    # once per debtor would be quadratic.
    first_row: dict[str, dict] = {}
    for row in records(invoices[["debtor_id", "strategic", "credit_limit"]]):
        if not pd.isna(row["debtor_id"]):
            first_row.setdefault(row["debtor_id"], row)
    oldest_by_debtor: dict[str, tuple[int, str]] = {}
    open_by_debtor: dict[str, Decimal] = {}
    for item in records(open_items[["debtor_id", "due_date", "number", "residual", "currency"]]):
        debtor_id = item["debtor_id"]
        overdue = ((as_of - item["due_date"]).days, item["number"])
        oldest_by_debtor[debtor_id] = max(overdue, oldest_by_debtor.get(debtor_id, overdue))
        if item["currency"] == company_currency:
            open_by_debtor[debtor_id] = open_by_debtor.get(debtor_id, ZERO) + item["residual"]

    rows = []
    for debtor_id in sorted(first_row):
        first = first_row[debtor_id]
        max_days, oldest = oldest_by_debtor.get(debtor_id, (0, None))
        open_total = open_by_debtor.get(debtor_id, ZERO) - credit_by_debtor.get(debtor_id, ZERO)
        latenesses = paid_by_debtor.get(debtor_id, [])
        evidence = _Evidence(
            strategic=bool(first["strategic"]),
            max_days_overdue=max(max_days, 0),
            oldest_number=oldest,
            open_total=open_total,
            credit_limit=first["credit_limit"],
            paid=len(latenesses),
            late_chronic=sum(1 for d in latenesses if d > rules.chronic.late_days),
            late_reliable=sum(1 for d in latenesses if d > rules.reliable.late_days),
            mean_lateness=(Decimal(sum(latenesses)) / len(latenesses)).quantize(Decimal("0.1"))
            if latenesses else Decimal("0.0"),
        )
        segment, rule = _classify(evidence, rules, rules.history_days)
        score = risk_score(evidence, rules)
        count, oldest = disputes.get(debtor_id, (0, 0))
        if count:
            rule += f"; {count} open dispute(s), the oldest {oldest} days old"
            score = min(100, score + min(count, 3) * 5)
        rows.append({"debtor_id": debtor_id, "segment": segment.value, "rule": rule, "score": score})
    return pd.DataFrame(rows, columns=SEGMENT_COLUMNS, dtype=object)
