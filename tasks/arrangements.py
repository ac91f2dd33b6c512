"""What was agreed with debtors, brought up to date before planning: disputes, promises, plans, holds."""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from decimal import Decimal

import pandas as pd
from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE

from dunning.config import Policy
from dunning.rules.arrangements import (
    Arrangements, Installment, PaymentPlan, PlanStatus, PromiseStatus, promise_outcome, review_plan,
)
from dunning.rules.calendar import BusinessCalendar
from dunning.rules.frames import records
from dunning.rules.installments import installment_key, installment_reminders
from dunning.rules.planner import Channel, Decision, Hold, Outcome
from dunning.sources.accounting import AccountingSource
from dunning.sources.receivables import PAYMENT_COLUMNS, quarantine_note, split_payments
from dunning.state.delivery import DeliveryStore
from dunning.state.levers import LeverStore
from dunning.state.store import PlannedMessage, state_engine

from .context import trace_for


def _paid_since(payments: pd.DataFrame, invoice_ids: frozenset[str], since: date | None) -> Decimal:
    """What was paid towards these invoices since `since` (payments: typed, from _lettered_payments)."""
    total = Decimal("0.00")
    for row in records(payments):
        if row["invoice_id"] in invoice_ids and (since is None or row["paid_on"] >= since):
            total += row["amount"]
    return total


def _lettered_payments(invoice_ids: list[str], as_of: date) -> pd.DataFrame:
    """The payments of watched invoices that can be read; each other one is a warning naming its id.

    A payment left out counts as not paid: a promise or a plan may look broken until the accounting
    system is corrected, which the warning asks for; it never looks kept on a payment nobody can read.
    """
    if not invoice_ids:
        return pd.DataFrame(columns=PAYMENT_COLUMNS)
    lettered = split_payments(AccountingSource.from_url().invoice_payments(invoice_ids, as_of), invoice_ids)
    for row in records(lettered.quarantined):
        get_run_logger().warning("Payment left out of promises and payment plans: %s.", quarantine_note(row))
    return lettered.invoices


@task(name="review_arrangements", cache_policy=NO_CACHE)
def review_arrangements(invoices: pd.DataFrame, as_of: date, dry_run: bool,
                        run_id: int) -> tuple[Arrangements, list[Hold], dict[str, tuple[int, int]]]:
    """Sync the accounting system's dispute flags, settle promises and plans, and gather what binds tonight."""
    levers, trace, logger = LeverStore(state_engine()), trace_for(run_id), get_run_logger()
    if not dry_run:
        flagged = {r["invoice_id"]: (r["number"], r["debtor_id"], r["disputed_reason"])
                   for r in records(invoices) if r["disputed"]}
        opened, closed = levers.sync_accounting_disputes(trace, flagged, as_of)
        if opened or closed:
            logger.info("Disputes from the accounting system: %d opened (%s), %d closed (%s).", len(opened),
                        ", ".join(opened) or "-", len(closed), ", ".join(closed) or "-")

    promises, plans = levers.open_promises(), levers.active_plans()
    watched = sorted({i for p in promises for i in p.invoice_ids} | {i for p in plans for i in p.invoice_ids})
    payments = _lettered_payments(watched, as_of)

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


@task(name="plan_installment_reminders", cache_policy=NO_CACHE)
def plan_installment_reminders(invoices: pd.DataFrame, today: date, policy: Policy
                               ) -> tuple[list[PlannedMessage], dict[str, tuple[PaymentPlan, Installment]]]:
    """Today's reminders for the installments of active plans, written to the ledger before sending."""
    levers, logger = LeverStore(state_engine()), get_run_logger()
    plans = levers.active_plans()
    run_id = levers.latest_live_run()
    if not plans or run_id is None:
        return [], {}
    watched = sorted({i for p in plans for i in p.invoice_ids})
    payments = _lettered_payments(watched, today)
    calendar = BusinessCalendar(policy.calendar.subdivision)
    keys = [installment_key(p.id, i.seq) for p in plans for i in p.installments]
    done = levers.steps_done(keys)
    rows = {r["debtor_id"]: r for r in records(invoices)}
    # An address that hard-bounced or was dropped gets letters here too, until it is corrected.
    bounced = {f.debtor_id for f in DeliveryStore(state_engine()).active_address_flags()
               if f.debtor_id in rows and f.matches(rows[f.debtor_id]["email"])}
    reminders = []
    for plan in plans:
        review = review_plan(plan, _paid_since(payments, plan.invoice_ids, plan.created_on), today)
        if review.status is PlanStatus.active and plan.debtor_id in rows:
            reminders += installment_reminders(plan, review, today, policy.installments.pre_due_days, calendar, done)
    decisions = [Decision(invoice_id=r.key, invoice_number=r.key, debtor_id=r.plan.debtor_id,
                          currency=r.plan.currency, residual=r.installment.amount, due_date=r.installment.due_date,
                          outcome=Outcome.send, reason=r.reason, step=r.step,
                          channel=(Channel.email if rows[r.plan.debtor_id]["email"] and r.plan.debtor_id not in bounced
                                   else Channel.letter),
                          step_date=today, group_key=f"{r.key}|{r.step.value}") for r in reminders]
    languages = {debtor: row["language"] for debtor, row in rows.items()}
    messages = [replace(m, run_id=run_id, as_of=today)   # claimed under the run they are recorded with
                for m in levers.record_plan(trace_for(run_id), today, decisions, False, languages)]
    for r in reminders:
        logger.info("Payment plan %s: %s for installment %s (%s).", r.plan.id, r.step.value, r.installment.seq,
                    r.reason)
    return messages, {r.key: (r.plan, r.installment) for r in reminders}
