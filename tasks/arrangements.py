"""What was agreed with debtors, brought up to date before planning: disputes, promises, plans, holds."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pandas as pd
from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE

from dunning.accounting import AccountingSource
from dunning.arrangements import Arrangements, PlanStatus, PromiseStatus, promise_outcome, review_plan
from dunning.money import to_money
from dunning.planner import Hold
from dunning.receivables import to_date
from dunning.state.levers import LeverStore
from dunning.state.store import state_engine

from .context import trace_for


def _paid_since(payments: pd.DataFrame, invoice_ids: frozenset[str], since: date | None) -> Decimal:
    total = Decimal("0.00")
    for row in payments.to_dict("records"):
        if row["invoice_id"] in invoice_ids and (since is None or to_date(row["paid_on"]) >= since):
            total += to_money(row["amount"])
    return total


@task(name="review_arrangements", cache_policy=NO_CACHE)
def review_arrangements(invoices: pd.DataFrame, as_of: date, dry_run: bool,
                        run_id: int) -> tuple[Arrangements, list[Hold], dict[str, tuple[int, int]]]:
    """Sync the accounting system's dispute flags, settle promises and plans, and gather what binds tonight."""
    levers, trace, logger = LeverStore(state_engine()), trace_for(run_id), get_run_logger()
    if not dry_run:
        flagged = {r["invoice_id"]: (r["number"], r["debtor_id"], r["disputed_reason"])
                   for r in invoices.to_dict("records") if r["disputed"]}
        opened, closed = levers.sync_accounting_disputes(trace, flagged, as_of)
        if opened or closed:
            logger.info("Disputes from the accounting system: %d opened (%s), %d closed (%s).", len(opened),
                        ", ".join(opened) or "-", len(closed), ", ".join(closed) or "-")

    promises, plans = levers.open_promises(), levers.active_plans()
    watched = sorted({i for p in promises for i in p.invoice_ids} | {i for p in plans for i in p.invoice_ids})
    payments = AccountingSource.from_url().invoice_payments(watched, as_of) if watched else pd.DataFrame(
        columns=["invoice_id", "paid_on", "amount"])

    still_open = []
    for promise in promises:
        paid = _paid_since(payments, promise.invoice_ids, promise.made_on)
        status = promise_outcome(promise, paid, as_of)
        if status is PromiseStatus.open or dry_run:
            still_open.append(promise)
            continue
        note = (f"{paid} paid since {promise.made_on} against {promise.amount} promised for {promise.promised_on}"
                + (" (grace over)" if status is PromiseStatus.broken else ""))
        levers.settle_promise(trace, promise.id, status, note, as_of)
        logger.info("Promise %s of debtor %s %s: %s.", promise.id, promise.debtor_id, status.value, note)

    active = []
    for plan in plans:
        review = review_plan(plan, _paid_since(payments, plan.invoice_ids, plan.created_on), as_of)
        if review.status is PlanStatus.active or dry_run:
            active.append(plan)
            continue
        note = (f"installment {review.missed.seq} of {review.missed.amount} due {review.missed.due_date} not paid "
                f"within {plan.grace_days} days: collection resumes on the remaining balance"
                if review.status is PlanStatus.broken else f"{review.paid} paid: every installment honoured")
        levers.end_plan(trace, plan.id, review.status, note, as_of)
        logger.info("Payment plan %s of debtor %s %s: %s.", plan.id, plan.debtor_id, review.status.value, note)

    holds = [Hold(reason=h["reason"], until=h["until"], debtor_id=h["debtor_id"], invoice_id=h["invoice_id"],
                  kind=h["kind"], claim_deadline=h["claim_deadline"]) for h in levers.active_holds_with_kind(as_of)]
    arrangements = Arrangements(disputes=levers.open_disputes(), promises=tuple(still_open), plans=tuple(active),
                                broken_promises=levers.broken_promises_to_apply(as_of))
    return arrangements, holds, levers.dispute_stats(as_of)
