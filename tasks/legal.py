"""Handing unresolved invoices to the legal queue (rule 5)."""

from __future__ import annotations

from datetime import date

import pandas as pd
from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE

from dunning.legal import CaseRequest, cases_to_open
from dunning.planner import Decision

from .context import store, trace_for


@task(name="enqueue_legal_handoff", cache_policy=NO_CACHE)
def enqueue_legal_handoff(plan: list[Decision], invoices: pd.DataFrame, as_of: date,
                          run_id: int) -> tuple[list[str], list[str]]:
    """One case per debtor and currency; returns the case ids opened and extended."""
    state, trace, logger = store(), trace_for(run_id), get_run_logger()
    opened, extended = [], []
    for request in cases_to_open(plan, invoices):
        case_id, is_new = state.enqueue_legal_case(trace, as_of, request)
        (opened if is_new else extended).append(str(case_id))
        logger.info("Legal case %s %s for debtor %s: invoice(s) %s, principal %s %s; recommended procedure: %s.",
                    case_id, "opened" if is_new else "extended", request.debtor_id,
                    ", ".join(d.invoice_number for d in request.decisions), request.principal, request.currency,
                    request.procedure)
    return opened, extended


@task(name="close_paid_cases", cache_policy=NO_CACHE)
def close_paid_cases(invoices: pd.DataFrame, as_of: date, tolerance, run_id: int) -> list[int]:
    """A case whose invoices are all paid is resolved as paid: nobody chases a settled debt in court."""
    still_open = {row["invoice_id"] for row in invoices.to_dict("records")
                  if row["status"] == "posted" and row["residual"] > tolerance}
    closed = store().close_paid_cases(trace_for(run_id), as_of, still_open)
    for case_id in closed:
        get_run_logger().info("Legal case %s resolved as paid: none of its invoices is open any more.", case_id)
    return closed
