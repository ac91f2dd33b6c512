"""Validation, aged balance and segmentation, recorded for the run and published as artifacts."""

from __future__ import annotations

from datetime import date

import pandas as pd
from prefect import get_run_logger, task
from prefect.artifacts import create_table_artifact
from prefect.cache_policies import NO_CACHE

from dunning.config import Policy
from dunning.documents.reports import aging_totals, with_segments
from dunning.rules.aging import BUCKETS, compute_aging
from dunning.rules.frames import records
from dunning.rules.segmentation import segment_debtors
from dunning.sources.receivables import (
    ValidatedReceivables, normalize_credits, quarantine_note, split_history, split_payments,
    validate_receivables,
)

from .context import cycle_collector_paused, log_rows, store, trace_for


@task(name="quarantine_invalid_rows", cache_policy=NO_CACHE)
def quarantine_invalid_rows(raw_invoices: pd.DataFrame, raw_credits: pd.DataFrame, raw_history: pd.DataFrame,
                            raw_history_payments: pd.DataFrame, as_of: date, company_currency: str,
                            run_id: int) -> tuple[ValidatedReceivables, pd.DataFrame, pd.DataFrame]:
    """Typed invoices (with everything quarantined), credits and payment history."""
    with cycle_collector_paused():
        invoices = validate_receivables(raw_invoices, as_of)
        credits = normalize_credits(raw_credits, company_currency)
        history = split_history(raw_history)
        # Only the payments' quarantine is kept: the history's evidence is raw_history, summed per invoice.
        payments = split_payments(raw_history_payments,
                                  set(raw_history_payments["known_invoice_id"].dropna().astype(str)))
    quarantined = pd.concat([invoices.quarantined, credits.quarantined, history.quarantined, payments.quarantined],
                            ignore_index=True)
    store().record_quarantine(trace_for(run_id), quarantined)
    logger = get_run_logger()
    log_rows(logger, [quarantine_note(row) for row in records(quarantined)], "Quarantined")
    logger.info("%d invoices valid, %d rows quarantined.", len(invoices.invoices), len(quarantined))
    return ValidatedReceivables(invoices.invoices, quarantined), credits.invoices, history.invoices


@task(name="validate_open_receivables", cache_policy=NO_CACHE)
def validate_open_receivables(raw_invoices: pd.DataFrame, as_of: date) -> pd.DataFrame:
    """The valid open invoices only: the dispatch run needs balances, not a second quarantine."""
    with cycle_collector_paused():
        return validate_receivables(raw_invoices, as_of).invoices


@task(name="compute_aged_balance", cache_policy=NO_CACHE)
def compute_aged_balance(invoices: pd.DataFrame, credits: pd.DataFrame, as_of: date, policy: Policy) -> pd.DataFrame:
    with cycle_collector_paused():
        return compute_aging(invoices, credits, as_of, policy.tolerance)


@task(name="segment_debtors", cache_policy=NO_CACHE)
def segment_debtors_task(invoices: pd.DataFrame, credits: pd.DataFrame, history: pd.DataFrame,
                         disputes: dict[str, tuple[int, int]], as_of: date, policy: Policy, company_currency: str,
                         run_id: int) -> pd.DataFrame:
    with cycle_collector_paused():
        segments = segment_debtors(invoices, credits, history, as_of, policy.segments,
                                   policy.tolerance, company_currency, disputes=disputes)
    store().record_segments(trace_for(run_id), segments)
    counts = segments["segment"].value_counts().to_dict()
    get_run_logger().info("Segmented %d debtors: %s.", len(segments),
                          ", ".join(f"{n} {s}" for s, n in sorted(counts.items())))
    return segments


@task(name="publish_aging_artifact", cache_policy=NO_CACHE)
def publish_aging_artifact(aging: pd.DataFrame, segments: pd.DataFrame, as_of: date, run_id: int) -> None:
    """Store the run's aged balance; totals per bucket and segment go on the flow run's Artifacts tab."""
    store().record_aging(trace_for(run_id), with_segments(aging, segments))
    totals = aging_totals(aging, segments)
    rows = [{key: (str(value) if key in (*BUCKETS, "unapplied_credit", "total_open") else value)
             for key, value in row.items()} for row in records(totals)]
    create_table_artifact(
        key=f"aged-balance-{as_of.isoformat()}",
        table=rows,
        description=f"Aged balance (balance âgée) as of {as_of}: totals per segment and currency.",
    )
