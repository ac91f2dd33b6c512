"""The aged balance (balance âgée) as of a date: one row per debtor and currency."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pandas as pd

from dunning.rules.frames import records
from dunning.rules.money import ZERO

__all__ = ["BUCKETS", "AGING_COLUMNS", "bucket_for", "chaseable", "compute_aging"]

BUCKETS = ("not_due", "d1_30", "d31_60", "d61_90", "d90_plus")
AGING_COLUMNS = ["debtor_id", "debtor_name", "currency", *BUCKETS, "unapplied_credit", "total_open"]


def bucket_for(days_overdue: int) -> str:
    if days_overdue <= 0:
        return "not_due"
    if days_overdue <= 30:
        return "d1_30"
    if days_overdue <= 60:
        return "d31_60"
    if days_overdue <= 90:
        return "d61_90"
    return "d90_plus"


def chaseable(invoices: pd.DataFrame, tolerance: Decimal) -> pd.DataFrame:
    """Posted invoices whose residual is above the tolerance: what the aged balance counts."""
    mask = (invoices["status"] == "posted") & invoices["residual"].map(lambda r: r > tolerance)
    return invoices[mask.astype(bool)]


def compute_aging(invoices: pd.DataFrame, credits: pd.DataFrame, as_of: date, tolerance: Decimal) -> pd.DataFrame:
    """Sum residuals per debtor, currency and bucket; unapplied credit is its own negative column.

    `invoices` are validated receivables, `credits` normalized unapplied credits (positive amounts).
    """
    rows: dict[tuple[str, str], dict] = {}

    def row_for(debtor_id: str, debtor_name: str, currency: str) -> dict:
        key = (debtor_id, currency)
        if key not in rows:
            rows[key] = {"debtor_id": debtor_id, "debtor_name": debtor_name, "currency": currency,
                         **{column: ZERO for column in (*BUCKETS, "unapplied_credit")}}
        return rows[key]

    for invoice in records(chaseable(invoices, tolerance)):
        row = row_for(invoice["debtor_id"], invoice["debtor_name"], invoice["currency"])
        row[bucket_for((as_of - invoice["due_date"]).days)] += invoice["residual"]
    for credit in records(credits):
        row = row_for(credit["debtor_id"], credit["debtor_name"], credit["currency"])
        row["unapplied_credit"] -= credit["amount"]

    for row in rows.values():
        row["total_open"] = sum((row[column] for column in (*BUCKETS, "unapplied_credit")), ZERO)
    ordered = sorted(rows.values(), key=lambda r: (r["debtor_id"], r["currency"]))
    return pd.DataFrame(ordered, columns=AGING_COLUMNS, dtype=object)
